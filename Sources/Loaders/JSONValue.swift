import Foundation

/// A parsed JSON document of unknown shape (tokenizer.json, GGUF-free metadata, dataset rows).
/// Configs with a known shape decode into structs instead; this is for the heterogeneous rest.
public enum JSONValue: Sendable, Equatable {
    case null
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    public subscript(key: String) -> JSONValue? {
        if case .object(let o) = self { return o[key] }
        return nil
    }

    public var string: String? { if case .string(let s) = self { return s }; return nil }
    public var bool: Bool? { if case .bool(let b) = self { return b }; return nil }
    public var array: [JSONValue]? { if case .array(let a) = self { return a }; return nil }
    public var object: [String: JSONValue]? { if case .object(let o) = self { return o }; return nil }
    public var isNull: Bool { if case .null = self { return true }; return false }
    public var int: Int? {
        switch self {
        case .int(let i): return i
        case .double(let d) where d == d.rounded() && abs(d) < 9.0e15: return Int(d)
        default: return nil
        }
    }
    public var double: Double? {
        switch self {
        case .int(let i): return Double(i)
        case .double(let d): return d
        default: return nil
        }
    }

    /// Parses `data`; a parse failure becomes a `LoadError` naming `file`.
    public static func parse(_ data: Data, file: String) throws -> JSONValue {
        do {
            return try data.withUnsafeBytes { try JSONParser.parse($0) }
        } catch {
            throw LoadError(.invalidJSON, file: file, item: "", "not valid JSON (\(error))")
        }
    }

    public static func parse(file: String) throws -> JSONValue {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: file)) } catch {
            throw LoadError(.io, file: file, item: "", "cannot read: \(error.localizedDescription)")
        }
        return try parse(data, file: file)
    }

    /// A short, stable description of a Foundation decoding error (its default text is long and nested).
    static func describe(_ error: Error) -> String {
        if let e = error as? DecodingError {
            switch e {
            case .dataCorrupted(let c): return c.debugDescription + Self.path(c.codingPath)
            case .keyNotFound(let k, let c): return "missing key '\(k.stringValue)'" + Self.path(c.codingPath)
            case .typeMismatch(let t, let c): return "expected \(t)" + Self.path(c.codingPath)
            case .valueNotFound(let t, let c): return "missing \(t)" + Self.path(c.codingPath)
            @unknown default: return "\(e)"
            }
        }
        return "\(error)"
    }

    private static func path(_ p: [CodingKey]) -> String {
        p.isEmpty ? "" : " at " + p.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
    }
}

extension JSONValue: Decodable {
    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() {
            self = .null
        } else if let b = try? c.decode(Bool.self) {
            self = .bool(b)
        } else if let i = try? c.decode(Int.self) {
            self = .int(i)
        } else if let d = try? c.decode(Double.self) {
            self = .double(d)
        } else if let s = try? c.decode(String.self) {
            self = .string(s)
        } else if let a = try? c.decode([JSONValue].self) {
            self = .array(a)
        } else {
            self = .object(try c.decode([String: JSONValue].self))
        }
    }
}
