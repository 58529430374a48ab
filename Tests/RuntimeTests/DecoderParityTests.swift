import Foundation
import Loaders
import Testing
@testable import Runtime
import RuntimeCPU

/// Logits of the tiny random decoders against transformers + peft (scripts/make_runtime_fixtures.py),
/// within 1e-4 relative: base, with the adapter applied on the fly, merged, packed batches, cached prefix.
@Suite struct DecoderParityTests {
    static let models = ["tiny-llama3", "tiny-qwen2", "tiny-llama-linear"]
    let backend = CPUBackend(threads: 2)

    func reference(_ name: String) throws -> JSONValue {
        try JSONValue.parse(file: fixture("models/\(name)-reference.json"))
    }

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
        let cached = m.forward(
            PackedBatch([Array(last.dropFirst(4))]), prefix: cache, output: .lastPositionLogits(ids: ids)
        ).values
        expectClose(cached, doubles(ref["base"]?.array?[sequences.count - 1]["answer_logits"]), "\(name) cached prefix")
    }

    @Test(arguments: models) func adapterAppliedAndMerged(_ name: String) throws {
        let ref = try reference(name)
        let loaded = try load(name)
        let adapter = try LoRAAdapter.load(
            directory: fixture("models/\(name)-adapter"), baseShapes: loaded.parameterShapes)
        let m = loaded.model
        try m.attach(adapter)
        let sequences = (ref["sequences"]?.array ?? []).map(ints)
        for (i, s) in sequences.enumerated() {
            let logits = m.forward(PackedBatch([s]), output: .allLogits)
            expectClose(
                logits.values, doubles(ref["adapter_applied"]?.array?[i]["logits"]), "\(name) adapter sequence \(i)")
        }
        let ids = ints(ref["answer_token_ids"])
        let answers = m.forward(PackedBatch(sequences), output: .lastPositionLogits(ids: ids)).values
        expectClose(
            answers, sequences.indices.flatMap { doubles(ref["adapter_applied"]?.array?[$0]["answer_logits"]) },
            "\(name) adapter answers")
        if let merged = ref["merged"]?["logits"]?.array {
            m.mergeAdapters()
            #expect(m.allLinears.allSatisfy { $0.patches.isEmpty })
            for (i, s) in sequences.enumerated() {
                expectClose(
                    m.forward(PackedBatch([s]), output: .allLogits).values, doubles(merged[i]),
                    "\(name) merged sequence \(i)")
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
        let adapter = try LoRAAdapter.load(
            directory: fixture("models/\(name)-adapter"), baseShapes: loaded.parameterShapes)
        try m.attach(adapter)
        let ids = ints(ref["answer_token_ids"])
        let answers = m.forward(PackedBatch(sequences), output: .lastPositionLogits(ids: ids)).values
        expectClose(
            answers, sequences.indices.flatMap { doubles(ref["adapter_applied"]?.array?[$0]["answer_logits"]) },
            "\(file) adapter answers")
    }

    /// A decoder adapter's saved head (`modules_to_save`) replaces the base head while attached, as peft loads
    /// it. Logits are linear in the head, so a saved head of 2·W gives exactly twice transformers' logits.
    @Test func savedHeadReplacesTheBaseHead() throws {
        let ref = try reference("tiny-llama3")
        let m = try load("tiny-llama3").model
        let head = m.lmHead.weight
        let config = AdapterConfig(
            rank: 1, alpha: 1, targets: [], modulesToSave: ["lm_head"], taskType: "CAUSAL_LM", baseModel: nil)
        let saved = SavedParameter(name: "lm_head.weight", shape: head.shape, values: head.values.map { 2 * $0 })
        try m.attach(LoRAAdapter.inMemory(config: config, layers: [], savedParameters: [saved]))
        let sequences = (ref["sequences"]?.array ?? []).map(ints)
        let doubled = m.forward(PackedBatch([sequences[1]]), output: .allLogits).values
        expectClose(doubled, doubles(ref["base"]?.array?[1]["logits"]).map { 2 * $0 }, "saved head 2·W")
        m.detachAdapters()
        expectClose(
            m.forward(PackedBatch([sequences[1]]), output: .allLogits).values,
            doubles(ref["base"]?.array?[1]["logits"]),
            "after detaching")
    }

    /// A saved module bayeval cannot apply (a sequence-classification `score` head) is refused by name, and
    /// the model is left as it was: no patch from the same adapter is half-applied.
    @Test func unsupportedSavedModuleIsRefused() throws {
        let m = try load("tiny-llama3").model
        let h = m.config.hiddenSize
        let config = AdapterConfig(
            rank: 1, alpha: 1, targets: ["q_proj"], modulesToSave: ["score"], taskType: nil, baseModel: nil)
        let q = LoRALayerWeights(
            module: "model.layers.0.self_attn.q_proj", rank: 1, inFeatures: h, outFeatures: m.queryWidth,
            scaling: 1, a: [Float](repeating: 0.1, count: h), b: [Float](repeating: 0.1, count: m.queryWidth))
        let score = SavedParameter(name: "score.weight", shape: [2, h], values: [Float](repeating: 0, count: 2 * h))
        do {
            try m.attach(LoRAAdapter.inMemory(config: config, layers: [q], savedParameters: [score]))
            Issue.record("an adapter saving 'score' was attached")
        } catch let e as LoadError {
            #expect(e.kind == .unsupported && e.item == "score.weight", "\(e)")
        }
        #expect(m.allLinears.allSatisfy { $0.patches.isEmpty })
    }

    /// Merging a LoRA on a tied head must not write the merged head into the embedding table (which the
    /// input lookup also reads): the merged model gives the unmerged logits.
    @Test func mergingATiedHeadLeavesTheEmbeddingsAlone() throws {
        let m = try load("tiny-llama-linear").model
        #expect(m.lmHead.weight === m.embedding)
        let h = m.config.hiddenSize, v = m.config.vocabularySize
        var rng = SplitMix64(seed: 4)
        func noise(_ n: Int) -> [Float] { (0..<n).map { _ in Float(rng.next() >> 40) / Float(1 << 24) - 0.5 } }
        let config = AdapterConfig(rank: 2, alpha: 2, targets: ["lm_head"], taskType: "CAUSAL_LM", baseModel: nil)
        let head = LoRALayerWeights(
            module: "lm_head", rank: 2, inFeatures: h, outFeatures: v, scaling: 1,
            a: noise(2 * h), b: noise(2 * v))
        try m.attach(LoRAAdapter.inMemory(config: config, layers: [head], savedParameters: []))
        let tokens = [5, 17, 99, 3, 250, 41]
        let unmerged = m.forward(PackedBatch([tokens]), output: .allLogits).values
        let table = m.embedding.values
        m.mergeAdapters()
        #expect(m.embedding.values == table, "the merge changed the embedding table")
        expectClose(
            m.forward(PackedBatch([tokens]), output: .allLogits).values, unmerged.map(Double.init), "merged tied head")
        // Merged stays merged: detaching afterwards keeps the merged head and leaves no stale patch behind.
        m.detachAdapters()
        #expect(m.allLinears.allSatisfy { $0.patches.isEmpty } && m.embedding.values == table)
        expectClose(
            m.forward(PackedBatch([tokens]), output: .allLogits).values, unmerged.map(Double.init),
            "detached after merge")
    }

    /// Config fields the runtime does not implement are refused by name rather than decoded and ignored.
    @Test(arguments: [
        ("\"hidden_act\": \"silu\"", "\"hidden_act\": \"gelu\"", "hidden_act"),
        ("\"mlp_bias\": false", "\"mlp_bias\": true", "mlp_bias"),
    ])
    func unimplementedConfigFieldsAreRefused(_ from: String, _ to: String, _ field: String) throws {
        let fm = FileManager.default
        let dir = fm.temporaryDirectory.appendingPathComponent("bayeval-config-\(field)-\(UUID().uuidString)")
        try fm.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? fm.removeItem(at: dir) }
        let source = URL(fileURLWithPath: fixture("models/tiny-llama3"))
        let config = try String(contentsOf: source.appendingPathComponent("config.json"), encoding: .utf8)
        #expect(config.contains(from))
        try config.replacingOccurrences(of: from, with: to)
            .write(to: dir.appendingPathComponent("config.json"), atomically: true, encoding: .utf8)
        try fm.copyItem(
            at: source.appendingPathComponent("model.safetensors"), to: dir.appendingPathComponent("model.safetensors"))
        do {
            _ = try ModelLoader.loadDecoder(path: dir.path, backend: backend)
            Issue.record("a model with \(to) loaded")
        } catch let e as LoadError {
            #expect(e.kind == .unsupported && e.item == field, "\(e)")
        }
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
    func example(_ tokens: [Int]) -> PreparedExample {
        PreparedExample(id: "\(tokens)", label: 0, tokens: tokens, answerTokens: [1])
    }

    @Test func longestSharedTokensLeavingOneToRun() {
        #expect(
            PromptPreparation.commonPrefix(of: [
                example([1, 2, 3, 4]), example([1, 2, 3, 9, 9]), example([1, 2, 3, 4, 5]),
            ]) == [1, 2, 3])
        #expect(PromptPreparation.commonPrefix(of: [example([1, 2, 3]), example([1, 2, 3, 4])]) == [1, 2])
        #expect(PromptPreparation.commonPrefix(of: [example([5, 6])]) == [5])
        #expect(PromptPreparation.commonPrefix(of: [example([1, 2]), example([3, 4])]) == [])
        #expect(PromptPreparation.commonPrefix(of: []) == [])
    }
}
