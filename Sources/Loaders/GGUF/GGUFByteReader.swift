/// Limits that keep a lying header from making the reader allocate far more than the file holds.
/// Real files stay well below them: the largest vocabularies have ~260k tokens and ~500k merges,
/// chat templates are tens of KB, and the biggest models have a few thousand tensors.
enum GGUFLimits {
    static let maxStringBytes = 16 << 20
    static let maxArrayCount = 1 << 24
    /// Array elements across the whole header; each becomes a `GGUFValue` of ~24 bytes in memory.
    static let maxTotalArrayElements = 1 << 23
    static let maxArrayDepth = 8
    static let maxTensorCount = 1 << 20
    static let maxKVCount = 1 << 20
    static let maxDims = 4  // GGML_MAX_DIMS
    static let maxNameBytes = 64 << 10
}

/// A cursor over the header bytes. Every read is bounds-checked and throws a `LoadError` that names the
/// file and the item being read, so the parser itself never indexes memory directly.
struct GGUFByteReader {
    let bytes: UnsafeRawBufferPointer
    let file: String
    private(set) var position = 0
    /// Array elements read so far (see `GGUFLimits.maxTotalArrayElements`).
    private var arrayElements = 0

    init(bytes: UnsafeRawBufferPointer, file: String) {
        self.bytes = bytes
        self.file = file
    }

    var remaining: Int { bytes.count - position }

    private mutating func take(_ n: Int, item: String, what: String) throws -> Int {
        guard n >= 0, n <= remaining else {
            throw LoadError(
                .truncated, file: file, item: item,
                "\(what) needs \(n) bytes at offset \(position) but only \(remaining) remain")
        }
        let at = position
        position += n
        return at
    }

    mutating func load<T: FixedWidthInteger>(_: T.Type, item: String, what: String) throws -> T {
        let at = try take(MemoryLayout<T>.size, item: item, what: what)
        return T(littleEndian: bytes.loadUnaligned(fromByteOffset: at, as: T.self))
    }

    mutating func u32(item: String, what: String) throws -> UInt32 { try load(UInt32.self, item: item, what: what) }
    mutating func u64(item: String, what: String) throws -> UInt64 { try load(UInt64.self, item: item, what: what) }

    /// A count stored as u64, checked against `cap` and against the bytes left (each counted thing takes at
    /// least `minBytesEach` bytes), so that allocation sized by it stays proportional to the file.
    mutating func count(item: String, what: String, cap: Int, minBytesEach: Int) throws -> Int {
        let raw = try u64(item: item, what: what)
        guard raw <= UInt64(cap) else {
            throw LoadError(.invalidHeader, file: file, item: item, "\(what) \(raw) exceeds the limit of \(cap)")
        }
        let n = Int(raw)
        guard minBytesEach == 0 || n <= remaining / minBytesEach else {
            throw LoadError(
                .truncated, file: file, item: item,
                "\(what) \(n) cannot fit in the \(remaining) bytes left at offset \(position)")
        }
        return n
    }

    /// A GGUF string: u64 byte length then UTF-8 bytes (not NUL-terminated). Invalid UTF-8 is repaired
    /// with U+FFFD rather than rejected, as llama.cpp does not validate it either.
    mutating func string(item: String, what: String, cap: Int = GGUFLimits.maxStringBytes) throws -> String {
        let n = try count(item: item, what: "\(what) length", cap: cap, minBytesEach: 1)
        let at = try take(n, item: item, what: what)
        return String(decoding: UnsafeRawBufferPointer(rebasing: bytes[at..<(at + n)]), as: UTF8.self)
    }

    mutating func valueType(item: String) throws -> GGUFValueType {
        let raw = try u32(item: item, what: "value type")
        guard let t = GGUFValueType(rawValue: raw) else {
            throw LoadError(.invalidHeader, file: file, item: item, "unknown metadata value type \(raw)")
        }
        return t
    }

    mutating func value(_ type: GGUFValueType, item: String, depth: Int = 0) throws -> GGUFValue {
        switch type {
        case .uint8: return .uint8(try load(UInt8.self, item: item, what: "uint8 value"))
        case .int8: return .int8(try load(Int8.self, item: item, what: "int8 value"))
        case .uint16: return .uint16(try load(UInt16.self, item: item, what: "uint16 value"))
        case .int16: return .int16(try load(Int16.self, item: item, what: "int16 value"))
        case .uint32: return .uint32(try load(UInt32.self, item: item, what: "uint32 value"))
        case .int32: return .int32(try load(Int32.self, item: item, what: "int32 value"))
        case .uint64: return .uint64(try load(UInt64.self, item: item, what: "uint64 value"))
        case .int64: return .int64(try load(Int64.self, item: item, what: "int64 value"))
        case .float32: return .float32(Float(bitPattern: try load(UInt32.self, item: item, what: "float32 value")))
        case .float64: return .float64(Double(bitPattern: try load(UInt64.self, item: item, what: "float64 value")))
        case .bool:
            let b = try load(UInt8.self, item: item, what: "bool value")
            guard b <= 1 else {
                throw LoadError(.invalidValue, file: file, item: item, "bool value is \(b), not 0 or 1")
            }
            return .bool(b == 1)
        case .string: return .string(try string(item: item, what: "string value"))
        case .array:
            guard depth < GGUFLimits.maxArrayDepth else {
                throw LoadError(
                    .invalidHeader, file: file, item: item,
                    "arrays nested deeper than \(GGUFLimits.maxArrayDepth) levels")
            }
            let elementType = try valueType(item: item)
            let n = try count(
                item: item, what: "array length", cap: GGUFLimits.maxArrayCount,
                minBytesEach: elementType.minimumEncodedSize)
            arrayElements += n
            guard arrayElements <= GGUFLimits.maxTotalArrayElements else {
                throw LoadError(
                    .invalidHeader, file: file, item: item,
                    "metadata arrays hold more than \(GGUFLimits.maxTotalArrayElements) elements in all")
            }
            var out: [GGUFValue] = []
            out.reserveCapacity(n)
            for _ in 0..<n { out.append(try value(elementType, item: item, depth: depth + 1)) }
            return .array(elementType, out)
        }
    }
}
