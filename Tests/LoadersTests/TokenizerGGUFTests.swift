import Foundation
import Testing
import TestModels
@testable import Loaders

/// The GGUF path must give the same ids as the tokenizer.json path for SmolLM2.
@Suite struct TokenizerGGUFTests {
    /// GGUFTokenizerData as the GGUF describes SmolLM2, rebuilt from the committed tokenizer.json (so the test
    /// runs without the 98 MB model file).
    static func smolData() throws -> GGUFTokenizerData {
        let path = TokenizerFixtures.path("smollm2/tokenizer.json.zst")
        let json = try JSONValue.parse(try Zstd.readMaybeCompressed(path: path), file: path)
        let vocab = try #require(json["model"]?["vocab"]?.object)
        var tokens = [String](repeating: "", count: vocab.count)
        for (t, id) in vocab { tokens[try #require(id.int)] = t }
        var types = [Int32](repeating: 1, count: tokens.count)
        for a in json["added_tokens"]?.array ?? [] { types[try #require(a["id"]?.int)] = 3 }
        let merges = try #require(json["model"]?["merges"]?.array).map { m -> String in
            if let s = m.string { return s }
            return (m.array ?? []).compactMap(\.string).joined(separator: " ")
        }
        return GGUFTokenizerData(
            model: "gpt2", pre: "smollm", tokens: tokens, tokenTypes: types, merges: merges,
            bosTokenID: 1, eosTokenID: 2, unknownTokenID: 0, paddingTokenID: 2, addBOS: false,
            addSpacePrefix: false)
    }

    static let ggufPath = RealModels.smolLM2

    private func check(_ t: TokenizerPipeline, every stride: Int) throws {
        let golden = try TokenizerFixtures.golden("smollm2/golden.tsv.zst").enumerated()
            .filter { $0.offset % stride == 0 || $0.offset < 200 }.map(\.element)
        let (matched, total, report) = TokenizerFixtures.parity(t, golden, addSpecialTokens: true)
        #expect(matched == total, "\(total - matched) of \(total) differ\n\(report.joined(separator: "\n"))")
    }

    @Test func smolFromHandBuiltGGUFData() throws {
        let t = try TokenizerLoader.fromGGUF(try Self.smolData(), file: "smollm2 (hand-built)")
        #expect(t.vocabularySize == 49152)
        #expect(t.specialTokens.bos == 1 && t.specialTokens.eos == 2)
        // The reference notes: " A" is 330, and "Answer:" + " A" keeps the space on the letter.
        #expect(t.encode(" A") == [330])
        #expect(t.encode("<|im_start|>user") == [1] + t.encode("user"))
        try check(t, every: 5)
    }

    @Test(.enabled(if: RealModels.smolLM2Enabled, Comment(rawValue: RealModels.smolLM2Note)))
    func smolFromRealGGUF() throws {
        let data = try GGUFFile(path: Self.ggufPath).tokenizerData()
        #expect(data.pre == "smollm")
        let t = try TokenizerLoader.fromGGUF(data, file: Self.ggufPath)
        #expect(t.encode("Answer: A") == Self.answerColon + [330])
        try check(t, every: 1)
    }

    static let answerColon: [Int] = {
        let t = try! TokenizerFixtures.loadTokenizer("smollm2")
        return t.encode("Answer:")
    }()
}
