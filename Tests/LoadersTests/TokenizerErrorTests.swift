import Foundation
import Testing
@testable import Loaders

/// Broken tokenizer files must fail with a LoadError naming the file and the JSON item.
@Suite struct TokenizerErrorTests {
    private func load(_ json: String, file: String = "bad.json") throws -> TokenizerPipeline {
        try TokenizerLoader.load(json: try JSONValue.parse(Data(json.utf8), file: file), file: file)
    }

    private func error(_ body: () throws -> Any) -> LoadError? {
        do { _ = try body(); return nil } catch let e as LoadError { return e } catch { return nil }
    }

    private let bpeModel = #""model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": ["a b"]}"#

    @Test func invalidJSONFile() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tok-bad-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("tokenizer.json").path
        try Data("{\"model\": ".utf8).write(to: URL(fileURLWithPath: path))
        let e = error { try TokenizerLoader.load(directory: dir.path) }
        #expect(e?.kind == .invalidJSON)
        #expect(e?.file == path)
        let missing = error { try TokenizerLoader.load(directory: dir.appendingPathComponent("none").path) }
        #expect(missing?.kind == .io)
    }

    @Test func unknownModelType() {
        let e = error { try self.load(#"{"model": {"type": "Unigram", "vocab": []}}"#) }
        #expect(e?.kind == .unsupported)
        #expect(e?.item == "model.type")
        #expect(e?.file == "bad.json")
        #expect(e?.message.contains("Unigram") == true)
    }

    @Test func unknownNormalizerAndPreTokenizer() {
        let n = error {
            try self.load(
                #"{"normalizer": {"type": "Sequence", "normalizers": [{"type": "Lowercase"}, {"type": "Foo"}]}, "#
                    + bpeModel + "}")
        }
        #expect(n?.kind == .unsupported)
        #expect(n?.item == "normalizer.normalizers[1].type")
        #expect(n?.message.contains("\"Foo\"") == true)
        let p = error { try self.load(#"{"pre_tokenizer": {"type": "Bar"}, "# + bpeModel + "}") }
        #expect(p?.item == "pre_tokenizer.type")
        let d = error { try self.load(#"{"decoder": {"nope": 1}, "# + bpeModel + "}") }
        #expect(d?.kind == .missingKey)
        #expect(d?.item == "decoder.type")
    }

    @Test func mergeWithMissingToken() {
        let e = error {
            try self.load(#"{"model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": ["a b", "ab c"]}}"#)
        }
        #expect(e?.kind == .invalidValue)
        #expect(e?.item == "model.merges[1]")
        #expect(e?.message.contains("\"c\" is not in the vocabulary") == true)
        let merged = error {
            try self.load(#"{"model": {"type": "BPE", "vocab": {"a": 0, "b": 1}, "merges": [["a", "b"]]}}"#)
        }
        #expect(merged?.item == "model.merges[0]")
        #expect(merged?.message.contains("\"ab\"") == true)
        let shape = error { try self.load(#"{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": ["a"]}}"#) }
        #expect(shape?.item == "model.merges[0]")
    }

    @Test func templateWithUndefinedSpecialToken() {
        let e = error {
            try self.load(
                #"{"post_processor": {"type": "TemplateProcessing", "#
                    + #""single": [{"SpecialToken": {"id": "<x>", "type_id": 0}}], "pair": [], "special_tokens": {}}, "#
                    + bpeModel + "}")
        }
        #expect(e?.item == "post_processor.single[0]")
    }

    @Test func ggufErrors() {
        let unknownPre = error {
            try TokenizerLoader.fromGGUF(
                GGUFTokenizerData(model: "gpt2", pre: "qwen9", tokens: ["a"], merges: []),
                file: "m.gguf")
        }
        #expect(unknownPre?.kind == .unsupported)
        #expect(unknownPre?.item == "tokenizer.ggml.pre")
        #expect(unknownPre?.message.contains("smollm") == true)
        let model = error {
            try TokenizerLoader.fromGGUF(GGUFTokenizerData(model: "rwkv", tokens: ["a"]), file: "m.gguf")
        }
        #expect(model?.item == "tokenizer.ggml.model")
        let merge = error {
            try TokenizerLoader.fromGGUF(
                GGUFTokenizerData(model: "gpt2", pre: "smollm", tokens: ["a", "b"], merges: ["a b"]),
                file: "m.gguf")
        }
        #expect(merge?.item == "tokenizer.ggml.merges[0]")
        #expect(merge?.file == "m.gguf")
    }
}
