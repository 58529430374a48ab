import Foundation
import Loaders

/// `--shard i/n`: the i-th (from 0, as `$SLURM_ARRAY_TASK_ID` counts) of n contiguous slices of a run's
/// scoring chunks (`ScoringChunks`: the examples after --limit in the order the run scores them). Slice i
/// holds chunks [⌊i·K/n⌋, ⌊(i+1)·K/n⌋) of K, so the slices cover the run exactly once and differ in size
/// by at most one chunk.
public struct Shard: Sendable, Equatable, CustomStringConvertible {
    public let index: Int
    public let count: Int

    public init(index: Int, count: Int) {
        self.index = index
        self.count = count
    }

    /// Parses "i/n", with a reason when it is not one.
    public init(parsing text: String) throws {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let i = Int(parts[0]), let n = Int(parts[1]) else {
            throw UsageError(file: "--shard", item: text, "give i/n, e.g. 0/4 for the first of four slices")
        }
        guard n >= 1, i >= 0, i < n else {
            throw UsageError(file: "--shard", item: text, "shards of \(max(n, 1)) are numbered 0 to \(max(n, 1) - 1)")
        }
        self.init(index: i, count: n)
    }

    public var description: String { "\(index)/\(count)" }

    public func range(of total: Int) -> Range<Int> { index * total / count..<(index + 1) * total / count }

    /// The configuration keys a shard's run.json carries: which slice, of a run of how many examples, and
    /// how many of them it scored.
    public static let key = "shard", examplesKey = "shard_examples", totalKey = "examples_total"

    public func configuration(total: Int, examples: Int) -> [String: String] {
        [Self.key: description, Self.examplesKey: String(examples), Self.totalKey: String(total)]
    }
}
