/// Several token sequences laid end to end with no padding: every linear layer runs once over all their
/// tokens (one large matrix product), and attention keeps each sequence to itself.
public struct PackedBatch: Sendable {
    public let tokens: [Int]
    /// Each sequence's range in `tokens`.
    public let sequences: [Range<Int>]

    public init(_ sequences: [[Int]]) {
        var tokens: [Int] = []
        var ranges: [Range<Int>] = []
        for s in sequences {
            ranges.append(tokens.count..<(tokens.count + s.count))
            tokens += s
        }
        self.tokens = tokens
        self.sequences = ranges
    }

    public var tokenCount: Int { tokens.count }
}

/// Keys and values of a prompt header shared by every example, computed once per model and adapter, so
/// each example only runs its own tokens (attending to these) through the network.
public final class PrefixCache: @unchecked Sendable {
    public let tokens: [Int]
    /// Per layer: keys and values after RoPE, `tokens.count × kvDim` each.
    public let keys: [Tensor]
    public let values: [Tensor]
    public var length: Int { tokens.count }

    init(tokens: [Int], keys: [Tensor], values: [Tensor]) {
        self.tokens = tokens
        self.keys = keys
        self.values = values
    }
}

/// What a forward pass returns.
public enum DecoderOutput: Sendable {
    /// Logits of the given vocabulary ids at the last position of each sequence; the last layer runs only
    /// there. Row-major sequences × ids.count.
    case lastPositionLogits(ids: [Int])
    /// Full-vocabulary logits at every position (parity tests, small models).
    case allLogits
}
