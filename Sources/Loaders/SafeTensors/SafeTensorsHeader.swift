import Foundation

/// One tensor's entry in a safetensors header, validated against the file it came from.
public struct SafeTensorInfo: Sendable, Equatable {
    public let name: String
    public let dtype: DType
    public let shape: [Int]
    /// Byte range relative to the start of the data section.
    public let dataRange: Range<Int>

    public var elementCount: Int { shape.reduce(1, *) }
}

/// Parses and validates the JSON header of a safetensors file. Nothing in the header is trusted: every
/// number is range-checked before it is used, so a lying file gives a `LoadError`, never a bad read.
enum SafeTensorsHeader {
    /// The reference implementation caps the header at 100 MB; a larger claim is a corrupt length field.
    static let maxHeaderBytes = 100_000_000

    static func parse(
        _ json: UnsafeRawBufferPointer, dataSize: Int, file: String
    ) throws
        -> (tensors: [SafeTensorInfo], metadata: [String: String])
    {
        guard let first = json.first(where: { $0 != 0x20 }), first == UInt8(ascii: "{") else {
            throw LoadError(.invalidHeader, file: file, item: "header", "the header is not a JSON object")
        }
        let root = try JSONValue.parse(Data(json), file: file)
        guard let entries = root.object else {
            throw LoadError(.invalidHeader, file: file, item: "header", "the header is not a JSON object")
        }
        var metadata: [String: String] = [:]
        var tensors: [SafeTensorInfo] = []
        tensors.reserveCapacity(entries.count)
        for (name, value) in entries {
            if name == "__metadata__" {
                metadata = try parseMetadata(value, file: file)
                continue
            }
            tensors.append(try parseTensor(name: name, value, dataSize: dataSize, file: file))
        }
        try checkNoOverlap(tensors, file: file)
        tensors.sort { $0.name < $1.name }
        return (tensors, metadata)
    }

    private static func parseMetadata(_ value: JSONValue, file: String) throws -> [String: String] {
        guard let o = value.object else {
            throw LoadError(.invalidHeader, file: file, item: "__metadata__", "must be an object of strings")
        }
        var out: [String: String] = [:]
        for (k, v) in o {
            guard let s = v.string else {
                throw LoadError(
                    .invalidHeader, file: file, item: "__metadata__.\(k)", "metadata values must be strings")
            }
            out[k] = s
        }
        return out
    }

    private static func parseTensor(
        name: String, _ value: JSONValue, dataSize: Int, file: String
    ) throws
        -> SafeTensorInfo
    {
        guard let o = value.object else {
            throw LoadError(.invalidHeader, file: file, item: name, "tensor entry is not an object")
        }
        guard let dtypeName = o["dtype"]?.string else {
            throw LoadError(.missingKey, file: file, item: name, "no 'dtype'")
        }
        guard let dtype = DType(rawValue: dtypeName) else {
            let known = DType.allCases.map(\.rawValue).joined(separator: ", ")
            throw LoadError(
                .unsupportedDType, file: file, item: name, "unknown dtype '\(dtypeName)' (supported: \(known))")
        }
        guard let shapeValues = o["shape"]?.array else {
            throw LoadError(.missingKey, file: file, item: name, "no 'shape' array")
        }
        var shape: [Int] = []
        var count = 1
        for v in shapeValues {
            guard let d = v.int, d >= 0 else {
                throw LoadError(.invalidHeader, file: file, item: name, "shape entries must be non-negative integers")
            }
            let (p, overflow) = count.multipliedReportingOverflow(by: d)
            guard !overflow else {
                throw LoadError(
                    .invalidHeader, file: file, item: name, "shape \(shapeValues.compactMap(\.int)) overflows")
            }
            count = p
            shape.append(d)
        }
        guard let offsets = o["data_offsets"]?.array, offsets.count == 2,
            let begin = offsets[0].int, let end = offsets[1].int
        else {
            throw LoadError(.missingKey, file: file, item: name, "'data_offsets' must be [begin, end]")
        }
        guard begin >= 0, begin <= end else {
            throw LoadError(.invalidHeader, file: file, item: name, "data_offsets [\(begin), \(end)] are not ordered")
        }
        guard end <= dataSize else {
            throw LoadError(
                .outOfBounds, file: file, item: name,
                "data_offsets end \(end) is past the data section (\(dataSize) bytes)")
        }
        let (bytes, overflow) = count.multipliedReportingOverflow(by: dtype.byteSize)
        guard !overflow, bytes == end - begin else {
            throw LoadError(
                .shapeMismatch, file: file, item: name,
                "shape \(shape) of \(dtype.rawValue) needs \(overflow ? "too many" : String(bytes)) bytes "
                    + "but data_offsets span \(end - begin)"
            )
        }
        return SafeTensorInfo(name: name, dtype: dtype, shape: shape, dataRange: begin..<end)
    }

    private static func checkNoOverlap(_ tensors: [SafeTensorInfo], file: String) throws {
        let byStart = tensors.filter { !$0.dataRange.isEmpty }.sorted {
            $0.dataRange.lowerBound < $1.dataRange.lowerBound
        }
        for (a, b) in zip(byStart, byStart.dropFirst()) where b.dataRange.lowerBound < a.dataRange.upperBound {
            throw LoadError(
                .overlap, file: file, item: b.name,
                "bytes \(b.dataRange) overlap tensor '\(a.name)' at \(a.dataRange)")
        }
    }
}
