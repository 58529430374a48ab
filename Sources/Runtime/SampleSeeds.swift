/// Which weight sample each packed sequence runs under, for Monte Carlo predictions: sequence s (one
/// example under one weight sample) gets its own draw of every sampled patch, made by the patch's
/// `PatchSampler` from `seeds[s]`. The same seed therefore gives the same sample whatever the batch
/// composition or thread count.
public struct SampleSeeds: Sendable {
    /// The input rows of each sequence in the matrix the layer sees.
    public let rows: [Range<Int>]
    public let seeds: [UInt64]

    public init(rows: [Range<Int>], seeds: [UInt64]) {
        precondition(rows.count == seeds.count)
        self.rows = rows
        self.seeds = seeds
    }

    /// The same sequences seen one row each (the last layer runs only at each scored position).
    public var oneRowEach: SampleSeeds { SampleSeeds(rows: seeds.indices.map { $0..<($0 + 1) }, seeds: seeds) }
}
