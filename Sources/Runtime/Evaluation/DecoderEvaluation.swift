import Foundation

/// Scores prepared multiple-choice examples in chunks, turning answer logits into probabilities (softmax
/// over the example's K answers, in Double) and handing each finished chunk to `record` before the next
/// starts, so results reach disk incrementally.
public struct DecoderEvaluation {
    public let scorer: ChoiceScorer
    public var chunkSize: Int

    public init(scorer: ChoiceScorer, chunkSize: Int = 128) {
        self.scorer = scorer
        self.chunkSize = chunkSize
    }

    public struct Summary: Sendable {
        public var examples = 0
        public var promptTokens = 0
        /// Tokens actually run after the cached header.
        public var computedTokens = 0
        public var nonFinite = 0
        public var seconds = 0.0
        public init() {}
    }

    /// How `run` orders and chunks `examples`.
    public func chunks(_ examples: [PreparedExample]) -> ScoringChunks {
        .byLength(examples.map(\.tokens.count), size: chunkSize)
    }

    public func run(
        _ examples: [PreparedExample], record: ([ExamplePrediction]) throws -> Void,
        progress: (Int) -> Void
    ) throws -> Summary {
        var summary = Summary()
        let start = Date()
        // Sorted by length first, so every chunk (and every packed batch inside it) is homogeneous.
        let chunks = chunks(examples)
        var done = 0
        for c in 0..<chunks.count {
            let members = chunks.chunk(c).map { examples[$0] }
            let requests = members.map { ChoiceScorer.Request(tokens: $0.tokens, answerTokens: $0.answerTokens) }
            let logits = scorer.score(requests) { progress(done + $0) }
            var chunk: [ExamplePrediction] = []
            for (e, l) in zip(members, logits) {
                let probs = Self.softmax(l)
                if probs == nil { summary.nonFinite += 1 }
                chunk.append(ExamplePrediction(id: e.id, label: e.label, probs: probs))
                summary.promptTokens += e.tokens.count
            }
            summary.computedTokens += requests.reduce(0) { $0 + scorer.ownTokens($1).count }
            try record(chunk)
            done += members.count
            progress(done)
        }
        summary.examples = done
        summary.seconds = Date().timeIntervalSince(start)
        return summary
    }

    /// Softmax in Double; nil when any logit is NaN or infinite.
    public static func softmax(_ logits: [Float]) -> [Double]? {
        logits.allSatisfy(\.isFinite) ? LogitGradients.softmax(logits) : nil
    }
}
