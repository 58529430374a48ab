import Foundation
import Runtime

/// The Monte Carlo predictive of a model whose LoRA patches carry a posterior: for each example, N weight
/// samples (each its own packed sequence, so the N samples of a batch run as one larger batch), softmax over
/// the K answer logits, probabilities averaged. Sample k of example i always uses the same seed, so results
/// do not depend on batching or on which examples run together.
public struct MonteCarloPredictive {
    public let model: LlamaModel
    public var samples: Int
    public var seed: UInt64
    /// Examples per packed batch: each contributes `samples` sequences.
    public var examplesPerBatch: Int

    /// `sequencesPerBatch`: sequences per forward pass, as for deterministic scoring (`--batch-size`); a
    /// batch holds sequencesPerBatch / samples examples, at least one.
    public init(model: LlamaModel, samples: Int, seed: UInt64, sequencesPerBatch: Int) {
        self.model = model
        self.samples = max(1, samples)
        self.seed = seed
        self.examplesPerBatch = max(1, sequencesPerBatch / self.samples)
    }

    /// Seed of sample k of the example with stable index i.
    public func seed(example i: Int, sample k: Int) -> UInt64 {
        var z = seed &+ UInt64(i) &* 0x9E37_79B9_7F4A_7C15 &+ UInt64(k) &* 0xD1B5_4A32_D192_ED03
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Averaged probabilities per example; `indices[j]` is example j's stable index (its seeds).
    public func probabilities(_ examples: [PreparedExample], indices: [Int], progress: (Int) -> Void = { _ in }) -> [[Double]?] {
        precondition(indices.count == examples.count)
        var out = [[Double]?](repeating: nil, count: examples.count)
        let order = examples.indices.sorted { examples[$0].tokens.count < examples[$1].tokens.count }
        var done = 0
        for start in stride(from: 0, to: order.count, by: examplesPerBatch) {
            let members = Array(order[start..<min(order.count, start + examplesPerBatch)])
            var sequences: [[Int]] = [], seeds: [UInt64] = []
            var union: [Int] = [], column: [Int: Int] = [:]
            for m in members {
                for k in 0..<samples {
                    sequences.append(examples[m].tokens)
                    seeds.append(seed(example: indices[m], sample: k))
                }
                for id in examples[m].answerTokens where column[id] == nil { column[id] = union.count; union.append(id) }
            }
            let logits = model.forward(PackedBatch(sequences), output: .lastPositionLogits(ids: union), seeds: seeds)
            for (j, m) in members.enumerated() {
                let k = examples[m].answerTokens.count
                var mean = [Double](repeating: 0, count: k)
                var finite = true
                for s in 0..<samples {
                    let row = j * samples + s
                    let l = examples[m].answerTokens.map { logits[row * union.count + column[$0]!] }
                    guard let p = DecoderEvaluation.softmax(l) else { finite = false; break }
                    for c in 0..<k { mean[c] += p[c] / Double(samples) }
                }
                out[m] = finite ? mean : nil
            }
            done += members.count
            progress(done)
        }
        return out
    }
}
