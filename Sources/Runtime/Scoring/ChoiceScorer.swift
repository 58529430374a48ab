import Foundation

/// Scores multiple-choice prompts: the logits of each prompt's K answer tokens at its last position.
/// Prompts that start with the shared header reuse its cached keys and values; prompts are sorted by
/// length and packed into batches of similar size, so no compute is spent on padding.
public final class ChoiceScorer: @unchecked Sendable {
    public struct Request: Sendable {
        public let tokens: [Int]
        public let answerTokens: [Int]
        public init(tokens: [Int], answerTokens: [Int]) {
            self.tokens = tokens
            self.answerTokens = answerTokens
        }
    }

    public let model: LlamaModel
    public let prefix: PrefixCache?
    public var tokenBudget: Int
    public var maxSequences: Int

    /// `sharedPrefix`: the tokens every prompt starts with (nil: none). A packed batch holds at most
    /// `maxSequences` prompts and `tokenBudget` tokens counted as if padded to its longest.
    public init(model: LlamaModel, sharedPrefix: [Int]?, tokenBudget: Int = 4096, maxSequences: Int = 16) {
        self.model = model
        self.prefix = sharedPrefix.flatMap { $0.isEmpty ? nil : model.makePrefixCache(tokens: $0) }
        self.tokenBudget = tokenBudget
        self.maxSequences = max(1, maxSequences)
    }

    /// Whether `r` continues the cached header (and has at least one token of its own to run).
    func extendsPrefix(_ r: Request) -> Bool {
        guard let p = prefix else { return false }
        return r.tokens.count > p.length && r.tokens.starts(with: p.tokens)
    }

    /// The prompt tokens actually run for `r` (after the cached header).
    public func ownTokens(_ r: Request) -> ArraySlice<Int> {
        extendsPrefix(r) ? r.tokens[prefix!.length...] : r.tokens[...]
    }

    /// Logits of each request's answer tokens, in request order. `progress` receives the number of
    /// requests finished so far.
    public func score(_ requests: [Request], progress: (Int) -> Void = { _ in }) -> [[Float]] {
        var results = [[Float]](repeating: [], count: requests.count)
        // Requests that do not extend the cached header run on their own, from position 0.
        let usesPrefix = requests.map(extendsPrefix)
        let order = requests.indices.sorted {
            (usesPrefix[$0] ? 0 : 1, requests[$0].tokens.count) < (usesPrefix[$1] ? 0 : 1, requests[$1].tokens.count)
        }
        var done = 0
        var start = 0
        while start < order.count {
            let withPrefix = usesPrefix[order[start]]
            var end = start
            var longest = 0
            // Grow the batch while the padded-equivalent size stays in budget (sorted, so the last is longest).
            while end < order.count, usesPrefix[order[end]] == withPrefix {
                let n = ownTokens(requests[order[end]]).count
                if end > start && (max(longest, n) * (end - start + 1) > tokenBudget || end - start >= maxSequences) {
                    break
                }
                longest = max(longest, n)
                end += 1
            }
            let members = Array(order[start..<end])
            let sequences = members.map { Array(ownTokens(requests[$0])) }
            let answers = AnswerColumns(members.lazy.map { requests[$0].answerTokens })
            let logits = model.forward(
                PackedBatch(sequences), prefix: withPrefix ? prefix : nil,
                output: .lastPositionLogits(ids: answers.ids))
            for (row, m) in members.enumerated() {
                results[m] = answers.logits(logits, row: row, answers: requests[m].answerTokens)
            }
            done += members.count
            progress(done)
            start = end
        }
        return results
    }
}
