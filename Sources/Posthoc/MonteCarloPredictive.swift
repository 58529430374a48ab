import Foundation
import Runtime

/// The Monte Carlo predictive of a model whose LoRA patches carry a posterior: for each example, N weight
/// samples (each its own packed sequence, so the N samples of a batch run as one larger batch), softmax over
/// the K answer logits, probabilities averaged. Sample k of example i always uses the same seed, so results
/// do not depend on batching or on which examples run together.
public struct MonteCarloPredictive<Model: ChoiceModel> {
    public let model: Model
    public var samples: Int
    public var seed: UInt64
    /// Examples per packed batch: each contributes `samples` sequences.
    public var examplesPerBatch: Int
    /// bayesian-peft's Flipout noise instead of a weight sample per (example, sample): sample k of the
    /// examples whose stable indices share ⌊i / examplesPerCall⌋ runs under one draw of E, as one forward
    /// call of bayesian-peft's batch does (see `SequenceNoise.flipoutCalls`). nil: real weight samples.
    public var flipoutExamplesPerCall: Int?

    /// `sequencesPerBatch`: sequences per forward pass, as for deterministic scoring (`--batch-size`); a
    /// batch holds sequencesPerBatch / samples examples, at least one.
    public init(
        model: Model, samples: Int, seed: UInt64, sequencesPerBatch: Int, flipoutExamplesPerCall: Int? = nil
    ) {
        precondition(flipoutExamplesPerCall.map { $0 > 0 } ?? true)
        self.model = model
        self.samples = max(1, samples)
        self.seed = seed
        self.examplesPerBatch = max(1, sequencesPerBatch / self.samples)
        self.flipoutExamplesPerCall = flipoutExamplesPerCall
    }

    /// Seed of sample k of the example with stable index i.
    public func seed(example i: Int, sample k: Int) -> UInt64 {
        var z = seed &+ UInt64(bitPattern: Int64(i)) &* 0x9E37_79B9_7F4A_7C15 &+ UInt64(k) &* 0xD1B5_4A32_D192_ED03
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Under Flipout, the seed of the forward call that sample k of stable index i belongs to: the seed of
    /// sample k of a pseudo-example numbered past every real one, so call seeds never equal example seeds.
    public func callSeed(example i: Int, sample k: Int) -> UInt64? {
        flipoutExamplesPerCall.map { seed(example: -1 - i / $0, sample: k) }
    }

    /// How the examples are packed: positions into `examples`, similar lengths together, `examplesPerBatch`
    /// a batch (each runs `samples` sequences).
    public func batches(_ examples: [Model.Example]) -> [[Int]] {
        let lengths = examples.map { model.length(of: $0) }
        let order = examples.indices.sorted { (lengths[$0], $0) < (lengths[$1], $1) }
        return stride(from: 0, to: order.count, by: examplesPerBatch).map {
            Array(order[$0..<min(order.count, $0 + examplesPerBatch)])
        }
    }

    /// Averaged probabilities per example; `indices[j]` is example j's stable index (its seeds). nil for
    /// an example whose logits were not finite under some sample.
    public func probabilities(
        _ examples: [Model.Example], indices: [Int], progress: (Int) -> Void = { _ in }
    ) -> [[Double]?] {
        precondition(indices.count == examples.count)
        var out = [[Double]?](repeating: nil, count: examples.count)
        var done = 0
        for members in batches(examples) {
            var batch: [Model.Example] = [], seeds: [UInt64] = []
            var calls: [UInt64]? = flipoutExamplesPerCall == nil ? nil : []
            for m in members {
                for k in 0..<samples {
                    batch.append(examples[m])
                    seeds.append(seed(example: indices[m], sample: k))
                    calls?.append(callSeed(example: indices[m], sample: k)!)
                }
            }
            let noise = SequenceNoise(seeds: seeds, flipoutCalls: calls)
            let logits = model.choiceLogits(batch, noise: noise)
            for (j, m) in members.enumerated() {
                var mean: [Double] = []
                var finite = true
                for s in 0..<samples {
                    guard let p = DecoderEvaluation.softmax(logits[j * samples + s]) else { finite = false; break }
                    if mean.isEmpty { mean = [Double](repeating: 0, count: p.count) }
                    for c in p.indices { mean[c] += p[c] / Double(samples) }
                }
                out[m] = finite ? mean : nil
            }
            done += members.count
            progress(done)
        }
        return out
    }
}

extension MonteCarloPredictive where Model.Example: LabelledExample {
    /// The Monte Carlo counterpart of `DecoderEvaluation.run`: the examples in chunks, each chunk's
    /// predictions handed to `record` as soon as they are known (a prediction log survives an interruption),
    /// progress in examples. `index[id]` is each example's position in its split, which keys its seeds, so
    /// resuming or re-batching changes no sample.
    /// Chunks of 64 in the examples' own order (each sorted by length inside, by `batches`).
    public static func chunks(count: Int) -> ScoringChunks { .inOrder(count: count, size: 64) }

    public func evaluate(
        _ examples: [Model.Example], index: [String: Int],
        record: ([ExamplePrediction]) throws -> Void, progress: (Int) -> Void
    ) throws -> DecoderEvaluation.Summary {
        var summary = DecoderEvaluation.Summary()
        let started = Date()
        let chunks = Self.chunks(count: examples.count)
        for c in 0..<chunks.count {
            let start = c * chunks.size
            let part = chunks.chunk(c).map { examples[$0] }
            let probs = probabilities(part, indices: part.map { index[$0.id]! }) { progress(start + $0) }
            try record(zip(part, probs).map { ExamplePrediction(id: $0.id, label: $0.label, probs: $1) })
            summary.nonFinite += probs.filter { $0 == nil }.count
            summary.promptTokens += part.reduce(0) { $0 + $1.tokens.count * samples }
        }
        summary.examples = examples.count
        summary.computedTokens = summary.promptTokens
        summary.seconds = Date().timeIntervalSince(started)
        return summary
    }
}
