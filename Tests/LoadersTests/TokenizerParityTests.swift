import Foundation
import Testing
@testable import Loaders

/// Golden parity against Hugging Face `tokenizers` (scripts/make_tokenizer_fixtures.py): every text must give
/// exactly the reference ids (and type ids for pairs).
@Suite struct TokenizerParityTests {
    static let fixtures: [(String, String, Bool)] = [
        ("smollm2", "golden.tsv.zst", true),
        ("minilm", "golden.tsv.zst", true),
        ("gpt2-style", "golden.tsv.zst", true),
        ("roberta-style", "golden.tsv.zst", true),
        ("llama3-style", "golden.tsv.zst", true),
        ("llama2-style", "golden.tsv.zst", true),
        ("llama2-style", "golden_nospecial.tsv.zst", false),
    ]

    @Test(arguments: fixtures)
    func parity(_ fixture: (String, String, Bool)) throws {
        let (name, file, special) = fixture
        let tokenizer = try TokenizerFixtures.loadTokenizer(name)
        let golden = try TokenizerFixtures.golden("\(name)/\(file)")
        #expect(golden.count > 1000)
        let start = Date()
        let (matched, total, report) = TokenizerFixtures.parity(tokenizer, golden, addSpecialTokens: special)
        let seconds = Date().timeIntervalSince(start)
        let tokens = golden.reduce(0) { $0 + $1.ids.count }
        print(
            "tokenizer parity \(name)/\(file): \(matched)/\(total) texts, \(tokens) tokens in "
                + String(format: "%.2f s (%.0f tokens/s)", seconds, Double(tokens) / seconds))
        #expect(
            matched == total,
            "\(name)/\(file): \(total - matched) of \(total) texts differ\n\(report.joined(separator: "\n"))")
    }
}
