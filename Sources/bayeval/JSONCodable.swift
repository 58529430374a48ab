import Foundation

/// A small JSON tree for free-form JSON lines (the training log).
indirect enum JSONCodable: Encodable {
    case number(Double), string(String), bool(Bool), array([JSONCodable]), object([String: JSONCodable])

    func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .number(let d): try c.encode(d)
        case .string(let s): try c.encode(s)
        case .bool(let b): try c.encode(b)
        case .array(let a): try c.encode(a)
        case .object(let o): try c.encode(o)
        }
    }
}
