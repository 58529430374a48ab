import Foundation
import Loaders
import Testing
@testable import Runtime
import RuntimeCPU

/// Weight samples drawn by a patch's `PatchSampler`: a sampled forward pass must equal a deterministic pass
/// of the adapter with the drawn perturbations added to A and B, on inner layers and on the head's answer
/// rows alike.
@Suite struct PatchSamplerTests {
    let backend = CPUBackend(threads: 2)

    /// A "posterior" whose draw depends only on the seed: E_A, E_B filled from it, so a test can rebuild
    /// the sampled weights.
    struct SeededShift: PatchSampler {
        let perturbsA: Bool
        let perturbsB: Bool
        var key: UInt64 = 0
        static func values(_ count: Int, seed: UInt64) -> [Float] {
            var rng = SplitMix64(seed: seed)
            return (0..<count).map { _ in Float(Int(rng.next() % 2001) - 1000) * 1e-4 }
        }
        func draw(
            seed: UInt64, rank: Int, inFeatures: Int, outFeatures: Int,
            a: UnsafeMutablePointer<Float>, b: UnsafeMutablePointer<Float>, backend: any ComputeBackend
        ) {
            if perturbsA { for (i, v) in Self.values(rank * inFeatures, seed: seed).enumerated() { a[i] = v } }
            if perturbsB { for (i, v) in Self.values(outFeatures * rank, seed: seed ^ 1).enumerated() { b[i] = v } }
        }
    }

    /// The backend's counter-based draws are StandardNormal's sequential SplitMix64 stream, value for value
    /// (odd counts included), so scripts that repeat the sequential stream see the same noise.
    @Test(arguments: [1, 2, 7, 64]) func counterBasedNormalsEqualTheSequentialStream(_ count: Int) {
        let seed: UInt64 = 0xDEAD_BEEF
        var rng = SplitMix64(seed: seed)
        var sequential: [Float] = []
        while sequential.count < count {
            let (z0, z1) = StandardNormal.pair(&rng)
            sequential += [z0, z1]
        }
        let x = Tensor(shape: [count])
        backend.standardNormal(seed: seed, count: count, into: x.pointer)
        #expect(x.values == Array(sequential.prefix(count)))
    }

    func model() throws -> (LlamaModel, LoRAAdapter) {
        let loaded = try ModelLoader.loadDecoder(path: fixture("models/tiny-llama3"), backend: backend)
        let adapter = try LoRAAdapter.load(
            directory: fixture("models/tiny-llama3-adapter"), baseShapes: loaded.parameterShapes)
        return (loaded.model, adapter)
    }

    @Test(arguments: [(true, false), (false, true), (true, true)])
    func sampledPassEqualsThePerturbedAdapter(_ onA: Bool, _ onB: Bool) throws {
        let (m, adapter) = try model()
        try m.attach(adapter)
        let sampler = SeededShift(perturbsA: onA, perturbsB: onB)
        // Sample the q/k/v block's q_proj patch of layer 1 and the head.
        let targets = ["model.layers.1.self_attn.q_proj", "lm_head"]
        for module in targets {
            let (linear, offset, _) = try #require(m.linear(forModule: module))
            linear.setSampler(patch: try #require(linear.patches.firstIndex { $0.outputOffset == offset }), sampler)
        }
        let tokens = [7, 99, 13, 201, 45, 3, 88]
        let ids = [10, 20, 30, 40]
        let seed: UInt64 = 12345
        let sampled = m.forward(
            PackedBatch([tokens]), output: .lastPositionLogits(ids: ids), noise: SequenceNoise(seeds: [seed])
        ).values

        // The same weights, deterministically: A + E_A and B + E_B in the adapter itself.
        let (plain, _) = try model()
        let layers = adapter.layers.map { l -> LoRALayerWeights in
            guard targets.contains(l.module) else { return l }
            var l = l
            if onA { l.a = zip(l.a, SeededShift.values(l.a.count, seed: seed)).map(+) }
            if onB { l.b = zip(l.b, SeededShift.values(l.b.count, seed: seed ^ 1)).map(+) }
            return l
        }
        try plain.attach(
            LoRAAdapter.inMemory(config: adapter.config, layers: layers, savedParameters: adapter.savedParameters))
        let want = plain.forward(PackedBatch([tokens]), output: .lastPositionLogits(ids: ids)).values
        expectClose(sampled, want.map(Double.init), tolerance: 1e-5, "A \(onA) B \(onB)")
        let mean = m.forward(PackedBatch([tokens]), output: .lastPositionLogits(ids: ids)).values
        #expect(zip(mean, sampled).contains { abs($0 - $1) > 1e-4 }, "the sample changed nothing")
    }

    /// An encoder's sampled pass: each packed sequence under its own seed equals that sequence alone
    /// through the adapter with its perturbations added, on a fused q/k/v block, on the last layer's rows
    /// past the reduced attention (one row per sequence) and on the pooler's patch.
    @Test func encoderSampledPassEqualsThePerturbedAdapterPerSequence() throws {
        func encoder() throws -> (BertModel, LoRAAdapter) {
            let loaded = try ModelLoader.loadEncoder(path: fixture("models/tiny-bert"), backend: backend)
            let adapter = try LoRAAdapter.load(
                directory: fixture("models/tiny-bert-adapter"), baseShapes: loaded.parameterShapes)
            return (loaded.model, adapter)
        }
        let (m, adapter) = try encoder()
        try m.attach(adapter)
        let sampler = SeededShift(perturbsA: true, perturbsB: true)
        let targets = [
            "bert.encoder.layer.0.attention.self.value", "bert.encoder.layer.1.attention.output.dense",
            "bert.encoder.layer.1.output.dense", "bert.pooler.dense",
        ]
        for module in targets {
            let (linear, offset, _) = try #require(m.linear(forModule: module), "\(module)")
            linear.setSampler(patch: try #require(linear.patches.firstIndex { $0.outputOffset == offset }), sampler)
        }
        let sequences = [[2, 17, 5, 40, 9, 3], [2, 8, 3]]
        let seeds: [UInt64] = [101, 202]
        let sampled = m.classify(sequences, noise: SequenceNoise(seeds: seeds))
        let k = sampled.columns
        for (s, tokens) in sequences.enumerated() {
            let (plain, _) = try encoder()
            let layers = adapter.layers.map { l -> LoRALayerWeights in
                guard targets.contains(l.module) else { return l }
                var l = l
                l.a = zip(l.a, SeededShift.values(l.a.count, seed: seeds[s])).map(+)
                l.b = zip(l.b, SeededShift.values(l.b.count, seed: seeds[s] ^ 1)).map(+)
                return l
            }
            try plain.attach(
                LoRAAdapter.inMemory(config: adapter.config, layers: layers, savedParameters: adapter.savedParameters))
            let want = plain.classify([tokens]).values
            let got = Array(sampled.values[(s * k)..<((s + 1) * k)])
            expectClose(got, want.map(Double.init), tolerance: 1e-5, "sequence \(s)")
            let mean = m.classify([tokens]).values
            #expect(zip(mean, got).contains { abs($0 - $1) > 1e-4 }, "the sample changed nothing")
        }
    }
}
