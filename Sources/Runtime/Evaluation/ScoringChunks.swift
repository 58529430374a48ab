/// The order a run scores its examples in and the chunks it scores (and records) them in. An example's
/// probabilities depend, in the last bits, on which examples share its batch (padding and packing shift
/// the floating-point sums), and batches never cross a chunk: so a run over a set of whole chunks (a
/// `--shard`, or the rest of an interrupted run) scores every example exactly as the whole run does.
///
/// Ties in length keep their positions, so the chunks of a subset that is itself a run of whole chunks
/// are those chunks.
public struct ScoringChunks: Sendable {
    /// Positions into the examples, in scoring order.
    public let order: [Int]
    public let size: Int

    /// Shortest first (homogeneous batches, little padding).
    public static func byLength(_ lengths: [Int], size: Int) -> ScoringChunks {
        ScoringChunks(order: lengths.indices.sorted { (lengths[$0], $0) < (lengths[$1], $1) }, size: max(1, size))
    }

    /// In the examples' own order (Monte Carlo chunks, which sort inside each chunk).
    public static func inOrder(count: Int, size: Int) -> ScoringChunks {
        ScoringChunks(order: Array(0..<count), size: max(1, size))
    }

    public var count: Int { (order.count + size - 1) / size }

    public func chunk(_ i: Int) -> ArraySlice<Int> { order[(i * size)..<min(order.count, (i + 1) * size)] }

    /// The positions of chunks `range`, ascending (the examples' own order).
    public func positions(_ range: Range<Int>) -> [Int] { range.flatMap { chunk($0) }.sorted() }
}
