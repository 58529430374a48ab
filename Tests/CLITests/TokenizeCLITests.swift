import Foundation
import Testing
import TestModels

@Suite struct TokenizeCLITests {
    let minilm = fixture("tokenizers/minilm/tokenizer.json")

    @Test func idsPerTextWithAndWithoutSpecialTokens() throws {
        // Reference ids from Hugging Face tokenizers on all-MiniLM-L6-v2's tokenizer.json.
        let r = try bayeval(["tokenize", "--model", minilm, "Hello world", "second one"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout == "[101, 7592, 2088, 102]\n[101, 2117, 2028, 102]\n")
        let n = try bayeval(["tokenize", "--model", minilm, "--no-special", "Hello world"])
        #expect(n.stdout == "[7592, 2088]\n")
    }

    @Test func jsonlPairsAndNewlinesInTexts() throws {
        let input = #"{"text": "Hello world", "pair": "second one"}"# + "\n" + #"{"text": "two\nlines"}"# + "\n"
        let r = try bayeval(["tokenize", "--model", minilm, "--jsonl", "--json"], stdin: input)
        #expect(r.status == 0, "\(r.stderr)")
        let lines = r.stdout.split(separator: "\n").map(String.init)
        #expect(lines.count == 2)
        let first = try jsonObject(lines[0])
        #expect(first["ids"] as? [Int] == [101, 7592, 2088, 102, 2117, 2028, 102])
        #expect(first["typeIDs"] as? [Int] == [0, 0, 0, 0, 1, 1, 1])
        #expect(try jsonObject(lines[1])["tokens"] as? [String] == ["[CLS]", "two", "lines", "[SEP]"])
    }

    @Test(.enabled(if: RealModels.smolLM2Enabled, Comment(rawValue: RealModels.smolLM2Note)))
    func smolLM2FromTheGGUF() throws {
        let gguf = RealModels.smolLM2
        // " A" after "Answer:" is one token (330), as REFERENCE.md records for SmolLM2.
        let r = try bayeval(["tokenize", "--model", gguf, "Answer: A"])
        #expect(r.stdout == "[21350, 42, 330]\n")
    }

    @Test func badInput() throws {
        let noText = try bayeval(["tokenize", "--model", minilm])
        #expect(noText.status != 0 && noText.stderr.contains("--jsonl"))
        let badLine = try bayeval(
            ["tokenize", "--model", minilm, "--jsonl"], stdin: "{\"text\": \"ok\"}\n{\"pair\": \"x\"}\n")
        #expect(badLine.status != 0 && badLine.stderr.contains("line 2"))
        let notJSON = try bayeval(["tokenize", "--model", minilm, "--jsonl"], stdin: "plain text\n")
        #expect(notJSON.status != 0 && notJSON.stderr.contains("<stdin>"))
        let missing = try bayeval(["tokenize", "--model", "/nonexistent/tokenizer.json", "x"])
        #expect(missing.status != 0 && missing.stderr.contains("/nonexistent/tokenizer.json"))
    }
}
