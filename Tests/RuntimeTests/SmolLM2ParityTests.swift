import Foundation
import Loaders
import Testing
import TestModels
@testable import Runtime
import RuntimeCPU

/// The real model: per-example probabilities of SmolLM2-135M-Instruct (Q4_1 GGUF) on the first 100
/// ARC-Easy test questions, against transformers on the same prompts (scripts/make_runtime_fixtures.py),
/// within 1e-3; the prompt tokens must be identical too.
@Suite struct SmolLM2ParityTests {
    static let ggufPath = RealModels.smolLM2

    @Test(.enabled(if: RealModels.smolLM2Enabled, Comment(rawValue: RealModels.smolLM2Note)))
    func arcEasyFirst100MatchTransformers() throws {
        let ref = try JSONValue.parse(file: fixture("models/smollm2-arc-easy-100.json"))
        let examples = try #require(ref["examples"]?.array)
        let backend = CPUBackend(threads: 2)
        let model = try ModelLoader.loadDecoder(path: Self.ggufPath, backend: backend).model
        let tokenizer = try TokenizerLoader.load(modelPath: Self.ggufPath)
        var dataset = try DatasetLoader.load(
            task: .arcEasy, split: .test, dataDirectory: URL(fileURLWithPath: fixture("data")))
        dataset = dataset.select(first: examples.count)
        var prep = PromptPreparation(
            tokenizer: tokenizer, task: .arcEasy, options: .standard,
            contextLength: model.config.scoringContextLength, vocabularySize: model.config.vocabularySize)
        let prepared = try prep.prepare(dataset)
        for (p, e) in zip(prepared, examples) {
            #expect(p.id == e["id"]?.string)
            #expect(p.tokens == ints(e["prompt_ids"]), "prompt tokens of \(p.id)")
            #expect(p.answerTokens == ints(e["answer_ids"]), "answer tokens of \(p.id)")
        }
        let scorer = ChoiceScorer(model: model, sharedPrefix: PromptPreparation.commonPrefix(of: prepared))
        var predictions: [ExamplePrediction] = []
        _ = try DecoderEvaluation(scorer: scorer).run(prepared, record: { predictions += $0 }, progress: { _ in })
        let byID = Dictionary(uniqueKeysWithValues: predictions.map { ($0.id, $0) })
        var worst = 0.0
        for e in examples {
            let ours = try #require(byID[e["id"]?.string ?? ""]?.probs)
            for (a, b) in zip(ours, doubles(e["probs"])) { worst = max(worst, abs(a - b)) }
        }
        print("SmolLM2 ARC-Easy 100: max |Δp| vs transformers = \(worst)")
        #expect(worst <= 1e-3)
    }
}
