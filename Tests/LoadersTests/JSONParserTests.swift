import Foundation
import Testing
@testable import Loaders

@Suite struct JSONParserTests {
    func parse(_ s: String) throws -> JSONValue { try JSONValue.parse(Data(s.utf8), file: "t.json") }

    @Test func valuesOfEveryKind() throws {
        let v = try parse(
            #" {"a": [1, -2, 3.5, 1e3, -0.25E-2, true, false, null], "s": "x\"y\\z\/\n\t\u00e9\ud83d\ude00", "o": {}} "#
        )
        #expect(
            v["a"]
                == .array([
                    .int(1), .int(-2), .double(3.5), .double(1000), .double(-0.0025), .bool(true), .bool(false), .null,
                ]))
        #expect(v["s"]?.string == "x\"y\\z/\n\té😀")
        #expect(v["o"] == .object([:]))
        #expect(try parse("9223372036854775807").int == Int.max)
        #expect(try parse("18446744073709551616").double == 18446744073709551616)
        #expect(try parse(#""ünïcödé 中文""#).string == "ünïcödé 中文")
    }

    @Test func agreesWithFoundationOnARealFile() throws {
        let path = fixture("configs/llama31-rope-parameters.json")
        let ours = try JSONValue.parse(file: path)
        let theirs =
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as! [String: Any]
        #expect(ours.object?.count == theirs.count)
        #expect(ours["rope_parameters"]?["rope_theta"]?.double == 500000)
        #expect(ours["vocab_size"]?.int == 128256)
    }

    @Test func rejectsInvalidJSON() {
        for bad in [
            "", "{", "[1,]", "{\"a\" 1}", "{\"a\":1,}", "tru", "01", "1.", "-", "\"abc", "\"\\x\"", "\"\u{01}\"",
            "{} x", "[1 2]", "{1: 2}", "\"\\ud800", "1e",
        ] {
            #expect(throws: LoadError.self, "\(bad)") { _ = try parse(bad) }
        }
    }

    @Test func deepNestingIsAnErrorNotACrash() {
        let deep = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        expectLoadError(.invalidJSON, file: "t.json") { _ = try parse(deep) }
    }

    @Test func invalidUTF8IsAnError() {
        var d = Data("\"ab".utf8); d.append(0xFF); d.append(contentsOf: Array("\"".utf8))
        expectLoadError(.invalidJSON) { _ = try JSONValue.parse(d, file: "t.json") }
    }
}
