import Foundation
import Loaders

/// The run records of one sharded evaluation (`evaluate --shard i/n`), checked to be exactly the n
/// slices of one run: the same command, settings and example count, every shard once. `merge` joins
/// them; anything else (a shard missing, given twice, or from another run) is refused by name.
public struct ShardSet {
    public struct Member {
        public let path: String
        public let record: RunRecord
        public let shard: Shard
        /// How many examples it scored.
        public let examples: Int
    }

    /// In shard order.
    public let members: [Member]
    public let total: Int

    /// Keys that differ between the shards of one run by design.
    public static let perShardKeys: Set<String> = [Shard.key, Shard.examplesKey, "predictions"]

    public init(_ records: [(path: String, record: RunRecord)]) throws {
        guard let first = records.first else {
            throw UsageError(file: "merge", item: "", "no shard given")
        }
        var members: [Member] = []
        for (path, record) in records {
            let c = record.configuration
            guard let text = c[Shard.key], let shard = try? Shard(parsing: text),
                let examples = c[Shard.examplesKey].flatMap(Int.init), c[Shard.totalKey].flatMap(Int.init) != nil
            else {
                throw UsageError(file: path, item: Shard.key, "not a shard's run record (made without --shard i/n)")
            }
            guard record.command == .evaluate, record.results.count == 1 else {
                throw UsageError(file: path, item: "command", "only `evaluate --shard` runs are merged")
            }
            members.append(Member(path: path, record: record, shard: shard, examples: examples))
        }
        let reference = first.record.configuration.filter { !Self.perShardKeys.contains($0.key) }
        for m in members.dropFirst() {
            let mine = m.record.configuration.filter { !Self.perShardKeys.contains($0.key) }
            if let key = Set(reference.keys).union(mine.keys).sorted().first(where: { reference[$0] != mine[$0] }) {
                throw UsageError(
                    file: m.path, item: key,
                    "\(mine[key] ?? "(absent)") here but \(reference[key] ?? "(absent)") in \(first.path): "
                        + "not a shard of the same run")
            }
            guard m.shard.count == members[0].shard.count else {
                throw UsageError(
                    file: m.path, item: Shard.key,
                    "shard \(m.shard) but \(members[0].shard) in \(first.path): slices of different splittings")
            }
            guard m.record.results[0].method == first.record.results[0].method else {
                throw UsageError(file: m.path, item: "method", "another method than \(first.path)'s")
            }
            guard m.record.bayevalVersion == first.record.bayevalVersion else {
                throw UsageError(
                    file: m.path, item: "bayevalVersion",
                    "made by bayeval \(m.record.bayevalVersion), \(first.path) by \(first.record.bayevalVersion)")
            }
            // The same paths are not enough: a retrained adapter or a re-downloaded model in place differs.
            let theirs = Dictionary(first.record.inputs.map { ($0.path, $0.sha256) }) { a, _ in a }
            if let changed = m.record.inputs.first(where: { input in
                theirs[input.path].map { $0 != input.sha256 } ?? false
            }) {
                throw UsageError(
                    file: m.path, item: changed.path,
                    "its SHA-256 differs from \(first.path)'s: the shards were scored on different contents")
            }
        }
        let count = members[0].shard.count
        var byIndex: [Int: Member] = [:]
        for m in members {
            if let earlier = byIndex[m.shard.index] {
                throw UsageError(
                    file: m.path, item: "shard \(m.shard)",
                    "overlaps \(earlier.path): the same slice given twice")
            }
            byIndex[m.shard.index] = m
        }
        let missing = (0..<count).filter { byIndex[$0] == nil }
        guard missing.isEmpty else {
            throw UsageError(
                file: first.path, item: "shards",
                "missing shard(s) " + missing.map { "\($0)/\(count)" }.joined(separator: ", ")
                    + " of \(count): the merged run would leave their examples out")
        }
        self.members = (0..<count).map { byIndex[$0]! }
        total = Int(members[0].record.configuration[Shard.totalKey]!)!
        let scored = members.map(\.examples).reduce(0, +)
        guard scored == total else {
            throw UsageError(
                file: first.path, item: "shards",
                "the shards scored \(scored) examples of a run of \(total): not the slices of one run")
        }
    }

    /// The unsharded run's configuration: the shards' common settings.
    public var configuration: [String: String] {
        members[0].record.configuration.filter { !Self.perShardKeys.contains($0.key) && $0.key != Shard.totalKey }
    }
}
