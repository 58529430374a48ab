import Foundation
import Runtime

/// The cost of one Monte Carlo weight sample against one deterministic pass over the same sequences: the
/// same examples are packed exactly as the Monte Carlo predictive packs them (N copies of each prompt per
/// batch), run once with a fresh noise draw per sequence and once with the noise off. Their ratio is the
/// overhead of sampling itself (drawing E and the extra x·Eᵀ products), what a sampler adds per sample.
public enum SamplingBenchmark {
    public struct Run: Sendable {
        public let deterministicSeconds: Double
        public let sampledSeconds: Double
        public var ratio: Double { sampledSeconds / deterministicSeconds }
    }

    public static func run<Model: ChoiceModel>(
        _ predictive: MonteCarloPredictive<Model>, examples: [Model.Example]
    ) -> Run {
        let model = predictive.model
        var deterministic = 0.0, sampled = 0.0
        for members in predictive.batches(examples) {
            let batch = members.flatMap { Array(repeating: examples[$0], count: predictive.samples) }
            let seeds = members.flatMap { m in (0..<predictive.samples).map { predictive.seed(example: m, sample: $0) }
            }
            var t = Date()
            _ = model.choiceLogits(batch, noise: nil)
            deterministic += Date().timeIntervalSince(t)
            t = Date()
            _ = model.choiceLogits(batch, noise: SequenceNoise(seeds: seeds))
            sampled += Date().timeIntervalSince(t)
        }
        return Run(deterministicSeconds: deterministic, sampledSeconds: sampled)
    }
}
