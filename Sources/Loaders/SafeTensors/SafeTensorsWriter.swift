import Foundation

/// Builds a safetensors file: posteriors and trained adapters are saved in this format so that Python's
/// `safetensors` and `peft` read them. Tensors are laid out in name order with a deterministic header,
/// and the file is written to a temporary name first and renamed, so a crash never leaves half a file.
public struct SafeTensorsWriter {
    private struct Entry {
        let name: String
        let dtype: DType
        let shape: [Int]
        let bytes: Data
    }

    public var metadata: [String: String]
    private var entries: [String: Entry] = [:]

    public init(metadata: [String: String] = [:]) { self.metadata = metadata }

    /// Adds Float32 values, stored as `dtype` (F32, F16 or BF16; BF16 rounds to nearest even).
    public mutating func add(_ name: String, floats: [Float], shape: [Int], as dtype: DType = .f32) throws {
        guard shape.reduce(1, *) == floats.count else {
            throw WriteError(
                file: "(writer)", item: name,
                "shape \(shape) holds \(shape.reduce(1, *)) values but \(floats.count) were given")
        }
        var data = Data(count: floats.count * dtype.byteSize)
        try data.withUnsafeMutableBytes { raw in
            switch dtype {
            case .f32:
                floats.withUnsafeBytes { raw.copyMemory(from: $0) }
            case .f16:
                for (i, f) in floats.enumerated() {
                    raw.storeBytes(of: Float16(f), toByteOffset: 2 * i, as: Float16.self)
                }
            case .bf16:
                for (i, f) in floats.enumerated() {
                    raw.storeBytes(of: ElementConversion.floatToBF16(f), toByteOffset: 2 * i, as: UInt16.self)
                }
            default:
                throw WriteError(
                    file: "(writer)", item: name,
                    "floats can be stored as F32, F16 or BF16, not \(dtype.rawValue)")
            }
        }
        try add(name, dtype: dtype, shape: shape, bytes: data)
    }

    /// Adds raw little-endian bytes of any supported dtype.
    public mutating func add(_ name: String, dtype: DType, shape: [Int], bytes: Data) throws {
        guard name != "__metadata__", !name.isEmpty else {
            throw WriteError(file: "(writer)", item: name, "reserved or empty tensor name")
        }
        guard shape.allSatisfy({ $0 >= 0 }), shape.reduce(1, *) * dtype.byteSize == bytes.count else {
            throw WriteError(
                file: "(writer)", item: name,
                "shape \(shape) of \(dtype.rawValue) does not match \(bytes.count) bytes")
        }
        entries[name] = Entry(name: name, dtype: dtype, shape: shape, bytes: bytes)
    }

    /// The complete file contents.
    public func serialized() -> Data {
        let ordered = entries.values.sorted { $0.name < $1.name }
        var parts: [String] = []
        if !metadata.isEmpty {
            let kv = metadata.keys.sorted().map { "\(Self.quote($0)):\(Self.quote(metadata[$0]!))" }
            parts.append("\"__metadata__\":{\(kv.joined(separator: ","))}")
        }
        var offset = 0
        for e in ordered {
            let shape = e.shape.map(String.init).joined(separator: ",")
            parts.append(
                "\(Self.quote(e.name)):{\"dtype\":\"\(e.dtype.rawValue)\",\"shape\":[\(shape)],"
                    + "\"data_offsets\":[\(offset),\(offset + e.bytes.count)]}"
            )
            offset += e.bytes.count
        }
        var header = Data(("{" + parts.joined(separator: ",") + "}").utf8)
        // Pad with spaces so the data section starts 8-byte aligned, as the reference writer does.
        while (8 + header.count) % 8 != 0 { header.append(0x20) }
        var out = Data(capacity: 8 + header.count + offset)
        withUnsafeBytes(of: UInt64(header.count).littleEndian) { out.append(contentsOf: $0) }
        out.append(header)
        for e in ordered { out.append(e.bytes) }
        return out
    }

    public func write(to path: String) throws {
        let url = URL(fileURLWithPath: path)
        let tmp = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).partial")
        do {
            try serialized().write(to: tmp)
            if FileManager.default.fileExists(atPath: path) { try FileManager.default.removeItem(at: url) }
            try FileManager.default.moveItem(at: tmp, to: url)
        } catch {
            try? FileManager.default.removeItem(at: tmp)
            throw WriteError(file: path, item: "", "cannot write: \(error.localizedDescription)")
        }
    }

    /// JSON string literal with the escapes JSON requires.
    static func quote(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where u.value < 0x20: out += String(format: "\\u%04x", u.value)
            default: out.unicodeScalars.append(u)
            }
        }
        return out + "\""
    }
}
