import Foundation

/// Typed access to the fields of one JSON row; every failure is a `.malformedRow` naming line and field.
struct JSONRow {
    let value: JSONValue
    let context: RowContext
    var id: String?

    /// Parses one JSONL line (which must be an object). Uses JSONSerialization rather than decoding
    /// `JSONValue` with JSONDecoder: the latter tries each JSON type in turn per value and made loading
    /// OpenBookQA train take seconds even in release builds.
    init(_ line: TextLine, file: String) throws {
        context = RowContext(file: file, line: line.number)
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: Data(line.text.utf8), options: [.fragmentsAllowed])
        } catch {
            throw LoadError(
                .malformedRow, file: file, item: "line \(line.number)",
                "line \(line.number), field '(row)': not valid JSON (\(error.localizedDescription))")
        }
        value = Self.convert(object)
        guard value.object != nil else {
            throw context.malformed("(row)", "expected a JSON object")
        }
    }

    /// The dynamic type JSONSerialization gives JSON `true`/`false` (a boolean NSNumber subclass): the only
    /// way to tell a bool from the integers 0/1, since `NSNumber(1) as? Bool` succeeds.
    private static let booleanType = ObjectIdentifier(type(of: NSNumber(value: true)))

    static func convert(_ any: Any) -> JSONValue {
        if let s = any as? String { return .string(s) }
        if let n = any as? NSNumber {
            if ObjectIdentifier(type(of: n)) == booleanType { return .bool(n.boolValue) }
            let kind = String(cString: n.objCType)
            return kind == "d" || kind == "f" ? .double(n.doubleValue) : .int(n.intValue)
        }
        if let a = any as? [Any] { return .array(a.map(convert)) }
        if let o = any as? [String: Any] { return .object(o.mapValues(convert)) }
        return .null
    }

    func field(_ path: String) throws -> JSONValue {
        var v = value
        for key in path.split(separator: ".") {
            guard let next = v[String(key)], !next.isNull else {
                throw context.malformed(path, id: id, "missing")
            }
            v = next
        }
        return v
    }

    func string(_ path: String) throws -> String {
        guard let s = try field(path).string else { throw context.malformed(path, id: id, "expected a string") }
        return s
    }

    func int(_ path: String) throws -> Int {
        guard let i = try field(path).int else { throw context.malformed(path, id: id, "expected an integer") }
        return i
    }

    func array(_ path: String) throws -> [JSONValue] {
        guard let a = try field(path).array else { throw context.malformed(path, id: id, "expected an array") }
        return a
    }

    func strings(_ path: String) throws -> [String] {
        try array(path).enumerated().map { i, v in
            guard let s = v.string else { throw context.malformed("\(path)[\(i)]", id: id, "expected a string") }
            return s
        }
    }
}
