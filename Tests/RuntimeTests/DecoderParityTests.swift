import Foundation
import Loaders
import Testing
@testable import Runtime

/// Logits of the tiny random decoders against transformers + peft (scripts/make_runtime_fixtures.py),
/// within 1e-4 relative: base, with the adapter applied on the fly, merged, packed batches, cached prefix.
@Suite struct DecoderParityTests {
    static let models = ["tiny-llama3", "tiny-qwen2", "tiny-llama-linear"]
    let backend = CPUBackend(threads: 2)

    func reference(_ name: String) throws -> JSONValue { try JSONValue.parse(file: fixture("models/\(name)-reference.json")) }

    func load(_ name: String) throws -> ModelLoader.LoadedDecoder {
        try ModelLoader.loadDecoder(path: fixture("models/\(name)"), backend: backend)
    }

    @Test(arguments: models) func baseLogitsEveryPosition(_ name: String) throws {
        let ref = try reference(name)
        let m = try load(name).model
        let sequences = (ref["sequences"]?.array ?? []).map(ints)
        for (i, s) in sequences.enumerated() {
            let logits = m.forward(PackedBatch([s]), output: .allLogits)
            expectClose(logits.values, doubles(ref["base"]?.array?[i]["logits"]), "\(name) base sequence \(i)")
        }
        // All sequences packed in one batch give the same logits as each alone.
        let packed = m.forward(PackedBatch(sequences), output: .allLogits).values
        let all = sequences.indices.flatMap { doubles(ref["base"]?.array?[$0]["logits"]) }
        expectClose(packed, all, "\(name) packed")
    }

    @Test(arguments: models) func answerLogitsAtTheLastPosition(_ name: String) throws {
        let ref = try reference(name)
        let m = try load(name).model
        let sequences = (ref["sequences"]?.array ?? []).map(ints)
        let ids = ints(ref["answer_token_ids"])
        let logits = m.forward(PackedBatch(sequences), output: .lastPositionLogits(ids: ids)).values
        let want = sequences.indices.flatMap { doubles(ref["base"]?.array?[$0]["answer_logits"]) }
        expectClose(logits, want, "\(name) answer logits")
        // A cached prefix (the first 4 tokens of each sequence sharing them) gives the same scores.
        let last = sequences[sequences.count - 1]
        let cache = m.makePrefixCache(tokens: Array(last.prefix(4)))
        let cached = m.forward(PackedBatch([Array(last.dropFirst(4))]), prefix: cache, output: .lastPositionLogits(ids: ids)).values
        expectClose(cached, doubles(ref["base"]?.array?[sequences.count - 1]["answer_logits"]), "\(name) cached prefix")
    }

    @Test(arguments: models) func adapterAppliedAndMerged(_ name: String) throws {
        let ref = try reference(name)
        let loaded = try load(name)
        let adapter = try LoRAAdapter.load(directory: fixture("models/\(name)-adapter"), baseShapes: loaded.parameterShapes)
        let m = loaded.model
        try m.attach(adapter)
        let sequences = (ref["sequences"]?.array ?? []).map(ints)
        for (i, s) in sequences.enumerated() {
            let logits = m.forward(PackedBatch([s]), output: .allLogits)
            expectClose(logits.values, doubles(ref["adapter_applied"]?.array?[i]["logits"]), "\(name) adapter sequence \(i)")
        }
        let ids = ints(ref["answer_token_ids"])
        let answers = m.forward(PackedBatch(sequences), output: .lastPositionLogits(ids: ids)).values
        expectClose(answers, sequences.indices.flatMap { doubles(ref["adapter_applied"]?.array?[$0]["answer_logits"]) }, "\(name) adapter answers")
        if let merged = ref["merged"]?["logits"]?.array {
            m.mergeAdapters()
            #expect(m.allLinears.allSatisfy { $0.patches.isEmpty })
            for (i, s) in sequences.enumerated() {
                expectClose(m.forward(PackedBatch([s]), output: .allLogits).values, doubles(merged[i]), "\(name) merged sequence \(i)")
            }
        }
    }

    /// The same weights as llama.cpp's converter writes them: llama3 scaling lives in `rope_freqs.weight`,
    /// linear scaling in `llama.rope.scaling.*`. Plain rope would move tiny-llama3's logits by up to ~3.
    @Test(arguments: [("tiny_llama3.gguf", "tiny-llama3"), ("tiny_llama_linear.gguf", "tiny-llama-linear")])
    func ggufWithRopeScalingMatchesTransformers(_ file: String, _ name: String) throws {
        let ref = try reference(name)
        let loaded = try ModelLoader.loadDecoder(path: fixture("gguf/\(file)"), backend: backend)
        let m = loaded.model
        let sequences = (ref["sequences"]?.array ?? []).map(ints)
        for (i, s) in sequences.enumerated() {
            let logits = m.forward(PackedBatch([s]), output: .allLogits)
            expectClose(logits.values, doubles(ref["base"]?.array?[i]["logits"]), "\(file) base sequence \(i)")
        }
        let adapter = try LoRAAdapter.load(directory: fixture("models/\(name)-adapter"), baseShapes: loaded.parameterShapes)
        try m.attach(adapter)
        let ids = ints(ref["answer_token_ids"])
        let answers = m.forward(PackedBatch(sequences), output: .lastPositionLogits(ids: ids)).values
        expectClose(answers, sequences.indices.flatMap { doubles(ref["adapter_applied"]?.array?[$0]["answer_logits"]) },
                    "\(file) adapter answers")
    }

    @Test func adapterForAnotherBaseIsRefused() throws {
        let llama = try load("tiny-llama3")
        // fixtures/adapters/llama-qv-head was made for a hidden size of 32; tiny-llama3's is 64.
        do {
            _ = try LoRAAdapter.load(directory: fixture("adapters/llama-qv-head"), baseShapes: llama.parameterShapes)
            Issue.record("an adapter for another base loaded")
        } catch let e as LoadError {
            #expect(e.kind == .shapeMismatch && e.message.contains("[256, 64]"), "\(e)")
        }
    }
}

@Suite struct CommonPrefixTests {
    func example(_ tokens: [Int]) -> PreparedExample { PreparedExample(id: "\(tokens)", label: 0, tokens: tokens, answerTokens: [1]) }

    @Test func longestSharedTokensLeavingOneToRun() {
        #expect(PromptPreparation.commonPrefix(of: [example([1, 2, 3, 4]), example([1, 2, 3, 9, 9]), example([1, 2, 3, 4, 5])]) == [1, 2, 3])
        #expect(PromptPreparation.commonPrefix(of: [example([1, 2, 3]), example([1, 2, 3, 4])]) == [1, 2])
        #expect(PromptPreparation.commonPrefix(of: [example([5, 6])]) == [5])
        #expect(PromptPreparation.commonPrefix(of: [example([1, 2]), example([3, 4])]) == [])
        #expect(PromptPreparation.commonPrefix(of: []) == [])
    }
}
