/// What the patch samplers of a Monte Carlo pass draw from, one entry per packed sequence.
public struct SequenceNoise: Sendable {
    /// Each sequence's seed: its own weight sample, or under Flipout its tokens' sign vectors.
    public let seeds: [UInt64]
    /// Flipout, bayesian-peft's noise: the seed of the forward call each sequence belongs to. Sequences of
    /// one call share one draw E of each patch's A perturbation (upstream draws E once per forward call) and
    /// each token t decorrelates it with its own signs, adding ((x_t ⊙ r_t) Eᵀ) ⊙ s_t. nil: each sequence
    /// draws its own weights, a real posterior sample.
    public let flipoutCalls: [UInt64]?

    public init(seeds: [UInt64], flipoutCalls: [UInt64]? = nil) {
        precondition(flipoutCalls == nil || flipoutCalls!.count == seeds.count)
        self.seeds = seeds
        self.flipoutCalls = flipoutCalls
    }
}

/// Which weight sample each packed sequence runs under, for Monte Carlo predictions: sequence s (one
/// example under one weight sample) gets its own draw of every sampled patch, made by the patch's
/// `PatchSampler` from `seeds[s]`. The same seed therefore gives the same sample whatever the batch
/// composition or thread count.
public struct SampleSeeds: Sendable {
    /// The input rows of each sequence in the matrix the layer sees.
    public let rows: [Range<Int>]
    public let seeds: [UInt64]
    /// See `SequenceNoise.flipoutCalls`.
    public let flipoutCalls: [UInt64]?
    /// The token position in its sequence of each sequence's first row here (Flipout's signs are drawn per
    /// token position, so a one-row view keeps the position of the token it kept).
    public let firstPositions: [Int]
    /// Under Flipout, the sequences ordered by call, so that every layer draws each call's E once (a batch
    /// interleaves the calls: its sample index varies fastest); computed once per pass, not per layer.
    public let byCall: [Int]

    public init(rows: [Range<Int>], seeds: [UInt64], flipoutCalls: [UInt64]? = nil, firstPositions: [Int]? = nil) {
        precondition(rows.count == seeds.count && (flipoutCalls == nil || flipoutCalls!.count == seeds.count))
        self.rows = rows
        self.seeds = seeds
        self.flipoutCalls = flipoutCalls
        self.firstPositions = firstPositions ?? Array(repeating: 0, count: rows.count)
        byCall = flipoutCalls.map { c in c.indices.sorted { (c[$0], $0) < (c[$1], $1) } } ?? []
    }

    public init(rows: [Range<Int>], _ noise: SequenceNoise) {
        self.init(rows: rows, seeds: noise.seeds, flipoutCalls: noise.flipoutCalls)
    }

    /// Which token of each sequence a one-row view keeps.
    public enum KeptToken { case first, last }

    /// The same sequences seen one row each: the last layer runs only at each scored position (a decoder's
    /// last token, an encoder's first).
    public func oneRowEach(_ kept: KeptToken) -> SampleSeeds {
        SampleSeeds(
            rows: seeds.indices.map { $0..<($0 + 1) }, seeds: seeds, flipoutCalls: flipoutCalls,
            firstPositions: zip(rows, firstPositions).map { kept == .first ? $1 : $1 + max(0, $0.count - 1) })
    }
}
