import Foundation
import Loaders
import Testing
@testable import Runtime
import RuntimeCPU

/// bayesian-peft's Flipout noise (`tfb --upstream`) against its BLoB forward run through transformers + peft
/// with bayeval's own draws (fixtures/posthoc/flipout-tiny-llama3.json, scripts/make_flipout_fixtures.py):
/// every LoRA module of the tiny Llama-3 adapter perturbed, the LM head included, four sequences packed in
/// one pass, three of them sharing one forward call's E with the fourth's call between them.
@Suite struct FlipoutTests {
    struct Reference: Decodable {
        struct Case: Decodable {
            let tokens: [Int]
            let seed: UInt64
            let call_seed: UInt64
            let logits: [Double]
        }
        let modules: [String]
        let answer_ids: [Int]
        let cases: [Case]
    }

    static func fnv1a(_ name: String) -> UInt64 {
        name.utf8.reduce(0xCBF2_9CE4_8422_2325) { ($0 ^ UInt64($1)) &* 0x100_0000_01B3 }
    }

    @Test func packedFlipoutPassMatchesBayesianPEFTsForward() throws {
        let reference = try JSONDecoder().decode(
            Reference.self, from: Data(contentsOf: URL(fileURLWithPath: fixture("posthoc/flipout-tiny-llama3.json"))))
        let backend = CPUBackend(threads: 2)
        let loaded = try ModelLoader.loadDecoder(path: fixture("models/tiny-llama3"), backend: backend)
        let adapter = try LoRAAdapter.load(
            directory: fixture("models/tiny-llama3-adapter"), baseShapes: loaded.parameterShapes)
        let model = loaded.model
        try model.attach(adapter)
        #expect(Set(adapter.layers.map(\.module)) == Set(reference.modules))
        for layer in adapter.layers {
            let (linear, patch) = try #require(model.patch(forModule: layer.module))
            let std = (0..<layer.rank).map { Float(0.05 * Double(1 + $0) / Double(layer.rank)) }
            linear.setSampler(patch: patch, DiagonalGaussianOnA(standardDeviations: std, key: Self.fnv1a(layer.module)))
        }
        let batch = PackedBatch(reference.cases.map(\.tokens))
        let noise = SequenceNoise(seeds: reference.cases.map(\.seed), flipoutCalls: reference.cases.map(\.call_seed))
        let ids = reference.answer_ids
        let sampled = model.forward(batch, output: .lastPositionLogits(ids: ids), noise: noise).values
        let mean = model.forward(batch, output: .lastPositionLogits(ids: ids)).values
        // float32 on both sides; the noise moves the logits by 0.05 to 0.5.
        expectClose(sampled, reference.cases.flatMap(\.logits), tolerance: 1e-5, "Flipout logits")
        #expect(zip(mean, sampled).map { abs($0 - $1) }.max()! > 0.01, "the noise changed nothing")
    }
}
