import Dispatch
import Foundation

/// A memory-mapped safetensors file with a validated header. Tensor data is never copied until asked for:
/// `view(_:)` gives the raw little-endian bytes, `floats(_:)` converts to Float32.
public final class SafeTensorsFile: @unchecked Sendable {
    public let path: String
    public let tensors: [SafeTensorInfo]
    public let metadata: [String: String]
    private let file: MappedFile
    private let dataStart: Int
    private let index: [String: Int]

    public convenience init(path: String) throws {
        try self.init(mapped: MappedFile(path: path))
    }

    public init(mapped: MappedFile) throws {
        self.file = mapped
        self.path = mapped.path
        let layout = try Self.validate(bytes: mapped.bytes, file: mapped.path)
        dataStart = layout.dataStart
        tensors = layout.tensors
        metadata = layout.metadata
        var index: [String: Int] = [:]
        for (i, t) in tensors.enumerated() { index[t.name] = i }
        self.index = index
    }

    /// Validates a whole safetensors image held in memory (the fuzz target's entry point, and the first
    /// step of every open): header length, header JSON and every tensor's range.
    public static func validate(
        bytes: UnsafeRawBufferPointer, file: String
    ) throws
        -> (tensors: [SafeTensorInfo], metadata: [String: String], dataStart: Int)
    {
        guard bytes.count >= 8 else {
            throw LoadError(
                .truncated, file: file, item: "header length",
                "the file has \(bytes.count) bytes; a safetensors file starts with an 8-byte header length")
        }
        let declared = UInt64(littleEndian: bytes.loadUnaligned(as: UInt64.self))
        guard declared <= UInt64(SafeTensorsHeader.maxHeaderBytes) else {
            throw LoadError(
                .invalidHeader, file: file, item: "header length",
                "declared header length \(declared) exceeds the \(SafeTensorsHeader.maxHeaderBytes)-byte limit")
        }
        let headerLength = Int(declared)
        guard headerLength <= bytes.count - 8 else {
            throw LoadError(
                .truncated, file: file, item: "header length",
                "declared header length \(headerLength) runs past the end of the file (\(bytes.count) bytes)")
        }
        let dataStart = 8 + headerLength
        let header = UnsafeRawBufferPointer(rebasing: bytes[8..<dataStart])
        let parsed = try SafeTensorsHeader.parse(header, dataSize: bytes.count - dataStart, file: file)
        return (parsed.tensors, parsed.metadata, dataStart)
    }

    public var names: [String] { tensors.map(\.name) }

    public func info(_ name: String) -> SafeTensorInfo? { index[name].map { tensors[$0] } }

    public func require(_ name: String) throws -> SafeTensorInfo {
        guard let i = info(name) else {
            throw LoadError(.missingKey, file: path, item: name, "no such tensor in the file")
        }
        return i
    }

    /// Zero-copy view of a tensor's stored bytes; valid while this object is alive.
    public func view(_ name: String) throws -> UnsafeRawBufferPointer {
        let i = try require(name)
        return UnsafeRawBufferPointer(
            rebasing: file.bytes[(dataStart + i.dataRange.lowerBound)..<(dataStart + i.dataRange.upperBound)])
    }

    /// The tensor converted to Float32, row-major.
    public func floats(_ name: String) throws -> [Float] {
        let i = try require(name)
        let src = try view(name)
        return [Float](unsafeUninitializedCapacity: i.elementCount) { dst, n in
            if let s = src.baseAddress, let d = dst.baseAddress {
                Self.convert(s, dtype: i.dtype, count: i.elementCount, into: d)
            }
            n = i.elementCount
        }
    }

    /// Converts into a caller-owned buffer of exactly the tensor's element count (reuse it across layers:
    /// first-touch page faults on fresh memory cost more than the conversion itself).
    public func copyFloats(_ name: String, into dst: UnsafeMutableBufferPointer<Float>) throws {
        let i = try require(name)
        guard dst.count == i.elementCount else {
            throw LoadError(
                .shapeMismatch, file: path, item: name,
                "destination holds \(dst.count) floats, tensor has \(i.elementCount)")
        }
        let src = try view(name)
        if let s = src.baseAddress, let d = dst.baseAddress {
            Self.convert(s, dtype: i.dtype, count: i.elementCount, into: d)
        }
    }

    /// Large tensors are split into chunks converted on all cores; small ones stay on the caller's thread.
    static func convert(_ src: UnsafeRawPointer, dtype: DType, count: Int, into dst: UnsafeMutablePointer<Float>) {
        let chunk = 1 << 20
        if count < 2 * chunk {
            ElementConversion.toFloat(src, dtype: dtype, count: count, into: dst)
            return
        }
        let chunks = (count + chunk - 1) / chunk
        nonisolated(unsafe) let d = dst
        nonisolated(unsafe) let s = src
        DispatchQueue.concurrentPerform(iterations: chunks) { c in
            let start = c * chunk
            let n = min(chunk, count - start)
            ElementConversion.toFloat(s + start * dtype.byteSize, dtype: dtype, count: n, into: d + start)
        }
    }

    /// Ask the kernel to read ahead: for whole-model loads from a cold cache.
    public func prefetch() { file.adviseSequential() }
}
