import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Times the multiple-choice scoring loop (after loading) and counts the work it executed, for
/// `bayeval bench scoring`.
public enum ScoringBenchmark {
    public struct Run: Sendable, Codable {
        public let seconds: Double
        public let promptTokens: Int
        public let computedTokens: Int
        public let gflop: Double
    }

    public static func run(_ examples: [PreparedExample], scorer: ChoiceScorer) throws -> Run {
        var computed = 0
        var flops = 0.0
        // The FLOP count follows the scorer's own batching: same order, same header split.
        let lengths = examples.map {
            scorer.ownTokens(ChoiceScorer.Request(tokens: $0.tokens, answerTokens: $0.answerTokens)).count
        }
        computed = lengths.reduce(0, +)
        let prefix = scorer.prefix?.length ?? 0
        for (l, e) in zip(lengths, examples) {
            flops += scorer.model.executedFlops(
                sequenceLengths: [l], prefixLength: l < e.tokens.count ? prefix : 0,
                lastOnly: true, answerCount: e.answerTokens.count)
        }
        let start = DispatchTime.now()
        _ = try DecoderEvaluation(scorer: scorer).run(examples, record: { _ in }, progress: { _ in })
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9
        return Run(
            seconds: seconds, promptTokens: examples.reduce(0) { $0 + $1.tokens.count },
            computedTokens: computed, gflop: flops / 1e9)
    }

    /// Peak resident memory of this process so far, in bytes.
    public static var peakResidentBytes: Int {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return Int(usage.ru_maxrss) * 1024
    }
}
