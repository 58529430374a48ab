/// The value types a GGUF metadata entry can have, with their on-disk ids (gguf spec, `gguf_type`).
public enum GGUFValueType: UInt32, Sendable, CaseIterable {
    case uint8 = 0, int8 = 1, uint16 = 2, int16 = 3, uint32 = 4, int32 = 5, float32 = 6, bool = 7
    case string = 8, array = 9, uint64 = 10, int64 = 11, float64 = 12

    /// Bytes one value occupies on disk; for strings and arrays the smallest possible encoding (an empty
    /// string is its 8-byte length, an empty array its 4-byte type + 8-byte count). Used to reject array
    /// counts that cannot fit in the bytes left before allocating anything.
    var minimumEncodedSize: Int {
        switch self {
        case .uint8, .int8, .bool: 1
        case .uint16, .int16: 2
        case .uint32, .int32, .float32: 4
        case .uint64, .int64, .float64, .string: 8
        case .array: 12
        }
    }
}

/// One GGUF metadata value. Arrays keep their element type so that an empty array still says what it holds.
public enum GGUFValue: Sendable, Equatable {
    case uint8(UInt8), int8(Int8), uint16(UInt16), int16(Int16)
    case uint32(UInt32), int32(Int32), uint64(UInt64), int64(Int64)
    case float32(Float), float64(Double)
    case bool(Bool)
    case string(String)
    case array(GGUFValueType, [GGUFValue])

    public var type: GGUFValueType {
        switch self {
        case .uint8: .uint8
        case .int8: .int8
        case .uint16: .uint16
        case .int16: .int16
        case .uint32: .uint32
        case .int32: .int32
        case .uint64: .uint64
        case .int64: .int64
        case .float32: .float32
        case .float64: .float64
        case .bool: .bool
        case .string: .string
        case .array: .array
        }
    }

    /// Any integer type whose value fits in `Int` (a UInt64 above Int.max gives nil).
    public var int: Int? {
        switch self {
        case .uint8(let v): Int(v)
        case .int8(let v): Int(v)
        case .uint16(let v): Int(v)
        case .int16(let v): Int(v)
        case .uint32(let v): Int(v)
        case .int32(let v): Int(v)
        case .uint64(let v): Int(exactly: v)
        case .int64(let v): Int(exactly: v)
        default: nil
        }
    }

    /// Floating-point values, and integers (converted), as Double: hyper-parameters such as
    /// `rope.freq_base` are float32 in some files and integers in others.
    public var double: Double? {
        switch self {
        case .float32(let v): Double(v)
        case .float64(let v): v
        default: int.map(Double.init)
        }
    }

    public var float: Float? { double.map(Float.init) }

    public var bool: Bool? { if case .bool(let b) = self { return b }; return nil }
    public var string: String? { if case .string(let s) = self { return s }; return nil }
    public var array: [GGUFValue]? { if case .array(_, let a) = self { return a }; return nil }
    /// The element type of an array value.
    public var elementType: GGUFValueType? { if case .array(let t, _) = self { return t }; return nil }

    /// An array of strings; nil when this is not an array or any element is not a string.
    public var strings: [String]? { mapArray { $0.string } }
    /// An array of integers (any integer element type that fits in Int).
    public var ints: [Int]? { mapArray { $0.int } }
    /// An array of numbers as Float.
    public var floats: [Float]? { mapArray { $0.float } }

    private func mapArray<T>(_ f: (GGUFValue) -> T?) -> [T]? {
        guard case .array(_, let a) = self else { return nil }
        var out: [T] = []
        out.reserveCapacity(a.count)
        for v in a {
            guard let x = f(v) else { return nil }
            out.append(x)
        }
        return out
    }
}
