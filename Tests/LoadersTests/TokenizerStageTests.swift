import Foundation
import Testing
@testable import Loaders

/// Small checks per stage; the expected values come from Hugging Face `tokenizers` 0.23.
@Suite struct TokenizerStageTests {
    @Test func byteLevelAlphabet() {
        let table = ByteLevelAlphabet.byteToScalar
        #expect(Set(table.map(\.value)).count == 256)
        #expect(table[32] == "Ġ")
        #expect(table[10] == "Ċ")
        #expect(table[0] == "\u{100}")
        #expect(table[Int(UInt8(ascii: "a"))] == "a")
        #expect(table[0xAD] == "\u{143}")  // the soft hyphen is the last byte remapped
        let text = "héllo 世界 😀\n"
        let spelled = ByteLevelAlphabet.encode(Substring(text))
        #expect(spelled == "hÃ©llo\u{120}ä¸ĸçķĮ\u{120}ðŁĺĢĊ")
        var back: [UInt8] = []
        ByteLevelAlphabet.decode(spelled, into: &back)
        #expect(String(decoding: back, as: UTF8.self) == text)
    }

    private func pieces(_ s: String, _ scan: ([Unicode.Scalar]) -> [Range<Int>]) -> [String] {
        let u = Array(s.unicodeScalars)
        return scan(u).map { PreTokenizer.substring(u, $0) }
    }

    @Test func gpt2Scanner() {
        #expect(
            pieces("Hello  world's 12345!!\n\n x\u{a0}y \u{3000}\tz 'Sam", RegexScanners.gpt2) == [
                "Hello", " ", " world", "'s", " 12345", "!!", "\n\n", " x", "\u{a0}", "y", " \u{3000}", "\t", "z",
                " '", "Sam",
            ])
        #expect(
            pieces("I'M  \r\n\r\n  ok?!\nnext 1234567 ça", RegexScanners.gpt2) == [
                "I", "'", "M", "  \r\n\r\n ", " ok", "?!", "\n", "next", " 1234567", " ça",
            ])
        #expect(pieces("", RegexScanners.gpt2).isEmpty)
        #expect(pieces("   ", RegexScanners.gpt2) == ["   "])
    }

    @Test func llama3Scanner() {
        #expect(
            pieces("Hello  world's 12345!!\n\n x\u{a0}y \u{3000}\tz 'Sam", RegexScanners.llama3) == [
                "Hello", " ", " world", "'s", " ", "123", "45", "!!\n\n", " x", "\u{a0}y", " \u{3000}", "\tz", " '",
                "Sam",
            ])
        #expect(
            pieces("I'M  \r\n\r\n  ok?!\nnext 1234567 ça", RegexScanners.llama3) == [
                "I", "'M", "  \r\n\r\n", " ", " ok", "?!\n", "next", " ", "123", "456", "7", " ça",
            ])
    }

    @Test func swiftRegexFallbackAgreesWithScanner() throws {
        // A pattern that is not recognised goes through Swift Regex; on plain text it must cut the same way.
        let r = try CompiledRegex(#"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"#)
        let s = Array("Hello  world's 123 — ok!\n\n end ".unicodeScalars)
        #expect(r.matches(in: s) == RegexScanners.gpt2(s))
    }

    @Test func splitBehaviors() {
        // "a,b,,c" split on ","
        let m = [1..<2, 3..<4, 4..<5]
        #expect(SplitBehavior.removed.apply(matches: m, count: 6) == [0..<1, 2..<3, 5..<6])
        #expect(SplitBehavior.isolated.apply(matches: m, count: 6) == [0..<1, 1..<2, 2..<3, 3..<4, 4..<5, 5..<6])
        #expect(SplitBehavior.contiguous.apply(matches: m, count: 6) == [0..<1, 1..<2, 2..<3, 3..<5, 5..<6])
        #expect(SplitBehavior.mergedWithPrevious.apply(matches: m, count: 6) == [0..<2, 2..<4, 4..<5, 5..<6])
        #expect(SplitBehavior.mergedWithNext.apply(matches: m, count: 6) == [0..<1, 1..<3, 3..<4, 4..<6])
    }

    @Test func bertNormalizer() {
        let n = Normalizer.bert(cleanText: true, handleChineseChars: true, stripAccents: true, lowercase: true)
        #expect(n.apply("Café\tNAÏVE\u{0}\u{200B}中文") == "cafe naive 中  文 ")
        let keep = Normalizer.bert(cleanText: true, handleChineseChars: false, stripAccents: false, lowercase: true)
        #expect(keep.apply("ÉCOLE") == "école")
    }

    private func wordPieceTokenizer(maxChars: Int = 100) throws -> TokenizerPipeline {
        let json = """
            {"added_tokens": [{"id": 0, "content": "[UNK]", "special": true}, \
            {"id": 5, "content": "[SEP]", "special": true}],
             "normalizer": {"type": "BertNormalizer", "lowercase": true, "strip_accents": null},
             "pre_tokenizer": {"type": "BertPreTokenizer"},
             "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": true},
             "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
                       "max_input_chars_per_word": \(maxChars),
                       "vocab": {"[UNK]": 0, "un": 1, "##aff": 2, "##able": 3, ",": 4, "[SEP]": 5, "a": 6}}}
            """
        return try TokenizerLoader.load(json: try JSONValue.parse(Data(json.utf8), file: "wp.json"), file: "wp.json")
    }

    @Test func wordPieceUnknownAndLength() throws {
        let t = try wordPieceTokenizer()
        #expect(t.encode("Unaffable, a") == [1, 2, 3, 4, 6])
        // "unaffx" has no "##x": the whole word is unknown, not a prefix of it.
        #expect(t.encode("unaffx a") == [0, 6])
        let short = try wordPieceTokenizer(maxChars: 8)
        #expect(short.encode("unaffable a") == [0, 6])  // 9 characters > 8
        #expect(t.decode([1, 2, 3, 4, 6]) == "unaffable, a")
    }

    @Test func addedTokenSplitting() throws {
        let t = try wordPieceTokenizer()
        // "[SEP]" is not normalized: matched in the raw text before lowercasing and punctuation splitting.
        #expect(t.encode("a[SEP]a") == [6, 5, 6])
        #expect(t.encode("a[sep]a") == [6, 0, 0, 0, 6])
        #expect(t.decode([6, 5, 6]) == "a a")
        #expect(t.decode([6, 5, 6], skipSpecialTokens: false) == "a [SEP] a")
    }

    @Test func addedTokenStripping() {
        let tokens = [
            AddedToken(content: "<m>", id: 9, special: true, lstrip: true),
            AddedToken(content: "<w>", id: 8, special: true, rstrip: true, singleWord: true),
        ]
        let m = AddedTokenMatcher(tokens, normalize: nil)
        func show(_ s: String) -> [String] {
            m.split(Array(s.unicodeScalars)).map {
                switch $0 {
                case .token(let id): return "#\(id)"
                case .text(let u): return PreTokenizer.substring(u, 0..<u.count)
                }
            }
        }
        #expect(show("a  <m> b") == ["a", "#9", " b"])
        #expect(show("x <w>  y") == ["x ", "#8", "y"])
        #expect(show("x<w> y") == ["x<w> y"])  // inside a word: not a single word
        #expect(show("") == [])
    }

    @Test func bpeFuseUnknownAndByteFallback() throws {
        func make(byteFallback: Bool, fuse: Bool) throws -> TokenizerPipeline {
            var vocab: [String: JSONValue] = ["<unk>": .int(0), "a": .int(1), "b": .int(2), "ab": .int(3)]
            if byteFallback { for b in 0..<256 { vocab[String(format: "<0x%02X>", b)] = .int(4 + b) } }
            let model: JSONValue = .object([
                "type": .string("BPE"), "unk_token": .string("<unk>"),
                "byte_fallback": .bool(byteFallback), "fuse_unk": .bool(fuse),
                "vocab": .object(vocab), "merges": .array([.array([.string("a"), .string("b")])]),
            ])
            return try TokenizerLoader.load(json: .object(["model": model]), file: "bpe.json")
        }
        #expect(try make(byteFallback: false, fuse: true).encode("abxyab") == [3, 0, 3])
        #expect(try make(byteFallback: false, fuse: false).encode("abxyab") == [3, 0, 0, 3])
        #expect(try make(byteFallback: true, fuse: true).encode("aé") == [1, 4 + 0xC3, 4 + 0xA9])
    }

    @Test func sentencePieceByScore() throws {
        // "▁ab" wins over "▁a" + "b" only through scores: "ab" (-1) before "▁a" (-2), then "▁ab" (-3).
        let tokens = ["<unk>", "<s>", "</s>", "▁", "a", "b", "ab", "▁a", "▁ab", "c"]
        let scores: [Float] = [0, 0, 0, -10, -10, -10, -1, -2, -3, -10]
        var types = [Int32](repeating: 1, count: tokens.count)
        types[0] = 2; types[1] = 3; types[2] = 3
        let data = GGUFTokenizerData(
            model: "llama", tokens: tokens + (0..<256).map { String(format: "<0x%02X>", $0) },
            scores: scores + [Float](repeating: 0, count: 256),
            tokenTypes: types + [Int32](repeating: 6, count: 256), bosTokenID: 1, eosTokenID: 2,
            unknownTokenID: 0)
        let t = try TokenizerLoader.fromGGUF(data, file: "spm.gguf")
        #expect(t.encode("ab abc") == [1, 8, 8, 9])
        // "é" is not a token: its two UTF-8 bytes.
        #expect(t.encode("é", addSpecialTokens: false) == [3, 10 + 0xC3, 10 + 0xA9])
        #expect(t.decode(t.encode("ab abc é")) == "ab abc é")
        #expect(t.specialTokens.bos == 1)
    }
}
