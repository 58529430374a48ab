import ArgumentParser
import Foundation
import Jobs
import Loaders
import Metrics
import Records
import Runtime

struct MergeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "merge",
        abstract: "Join the shards of one evaluation (evaluate --shard i/n) into the run an unsharded run writes.",
        discussion: """
            Each SHARD is a folder holding a shard's run.json (and the predictions file it names), or the \
            run.json itself. The shards must be the n slices of one run, each given once: the same settings \
            and example count, every index from 0 to n-1. Their predictions are joined in example order and \
            the metrics computed from them as the unsharded run computes them, so they are the same numbers \
            to the last bit.
            """)

    @Argument(help: "The shards' folders (or run.json files).") var shards: [String]

    @Option(help: "The merged run record.") var output: String

    @Option(help: "The merged predictions (default: predictions.jsonl beside --output).")
    var predictions: String?

    func run() throws {
        let records = try shards.map { arg -> (path: String, record: RunRecord) in
            let path = arg.hasSuffix(".json") ? arg : (arg as NSString).appendingPathComponent("run.json")
            return (path, try RunRecord.read(from: path))
        }
        let set = try ShardSet(records)
        let merged =
            predictions
            ?? ((((output as NSString).deletingLastPathComponent) as NSString)
                .appendingPathComponent(PlannedJob.predictionsName))
        try OutputPaths.prepareFile(output, option: "--output")
        try OutputPaths.prepareFile(merged, option: "--predictions")

        // The split's example order, as the unsharded run orders its metrics' sums.
        let ids = try exampleIDs(set)
        let known = Set(ids)
        var byID: [String: ExamplePrediction] = [:]
        var origin: [String: String] = [:]
        for m in set.members {
            let file = try predictionsFile(of: m)
            guard URL(fileURLWithPath: file).standardizedFileURL != URL(fileURLWithPath: merged).standardizedFileURL
            else { throw ValidationError("--predictions \(merged) is shard \(m.shard)'s own file; name another") }
            let (rows, torn) = try PredictionLog.read(path: file)
            guard !torn, rows.count == m.examples else {
                throw UsageError(
                    file: file, item: "shard \(m.shard)",
                    "\(rows.count) predictions\(torn ? " and a torn last line" : "") for the \(m.examples) "
                        + "examples the shard scored (an unfinished shard?)")
            }
            for row in rows {
                guard known.contains(row.id) else {
                    throw UsageError(file: file, item: "id \(row.id)", "not an example of the run the shards slice")
                }
                if let earlier = origin[row.id] {
                    throw UsageError(file: file, item: "id \(row.id)", "also in \(earlier): the shards overlap")
                }
                origin[row.id] = file
                byID[row.id] = row
            }
        }
        let all = ids.map { byID[$0]! }

        // The metrics as `evaluate` computes them: finite rows in example order, the run's bins and
        // bootstrap, on the shared kernels.
        let c = set.configuration
        guard let bins = c["bins"].flatMap(Int.init), let bootstrap = c["bootstrap"].flatMap(Int.init) else {
            throw UsageError(file: set.members[0].path, item: "bins", "the shard's record names no bins or bootstrap")
        }
        let threads = c["threads"].flatMap(Int.init) ?? 2
        let scored = all.filter { $0.probs != nil }
        guard !scored.isEmpty else { throw ValidationError("no example of the shards has finite probabilities") }
        let (p, binning) = try MetricInputs.make(scored, bins: bins)
        let first = set.members[0].record
        let result = MethodResult(
            method: first.results[0].method, metrics: MetricReport(p, binning: binning),
            intervals: try MetricInputs.intervals(p, binning: binning, resamples: bootstrap, threads: threads))

        let log = try PredictionLog(path: merged, truncate: true)
        try log.append(all)
        var timings = RunRecord.Timings()
        var inputs: [RunRecord.InputFile] = []
        var promptTokens = 0, computedTokens = 0, seconds = 0.0
        for m in set.members {
            let t = m.record.timings
            timings.loadSeconds += t.loadSeconds
            timings.prepareSeconds += t.prepareSeconds
            timings.scoreSeconds += t.scoreSeconds
            timings.totalSeconds += t.totalSeconds
            for input in m.record.inputs where !inputs.contains(input) { inputs.append(input) }
            if let th = m.record.throughput {
                promptTokens += th.promptTokens
                computedTokens += th.computedTokens
                seconds += th.promptTokensPerSecond > 0 ? Double(th.promptTokens) / th.promptTokensPerSecond : 0
            }
        }
        var configuration = c
        configuration["predictions"] = merged
        configuration["merged_shards"] = String(set.members.count)
        let record = RunRecord(
            command: .evaluate, bayevalVersion: Bayeval.version, configuration: configuration, results: [result],
            inputs: inputs, timings: timings,
            throughput: RunRecord.Throughput(
                promptTokens: promptTokens, computedTokens: computedTokens, seconds: seconds),
            resumedExamples: set.members.map(\.record.resumedExamples).reduce(0, +),
            warnings: Array(Set(set.members.flatMap(\.record.warnings))).sorted(), platform: first.platform)
        try record.write(to: output)
        print(ResultTable.render([(result.method.label, result.metrics)], intervals: result.intervals))
        note("\(set.members.count) shards, \(all.count) examples → \(output), \(merged)")
    }

    /// The ids of the split the shards sliced: its first examples_total examples, in file order.
    func exampleIDs(_ set: ShardSet) throws -> [String] {
        let c = set.configuration
        let origin = set.members[0].path
        guard let task = c["task"].flatMap(TaskName.init), let split = c["split"].flatMap(Split.init) else {
            throw UsageError(file: origin, item: "task", "the shard's record names no task and split")
        }
        let dataDirectory = try c["data_dir"].map { URL(fileURLWithPath: $0) } ?? DataDirectory.locate()
        let dataset = try DatasetLoader.load(task: task, split: split, dataDirectory: dataDirectory)
            .select(first: set.total)
        guard dataset.count == set.total else {
            throw UsageError(
                file: dataset.files.first ?? dataDirectory.path, item: split.rawValue,
                "\(dataset.count) examples, but the shards split \(set.total)")
        }
        return dataset.examples.map(\.id)
    }

    /// A shard's predictions: the file its record names, else predictions.jsonl beside it.
    func predictionsFile(of m: ShardSet.Member) throws -> String {
        let beside = ((m.path as NSString).deletingLastPathComponent as NSString)
            .appendingPathComponent(PlannedJob.predictionsName)
        let candidates = [m.record.configuration["predictions"], beside].compactMap { $0 }
        guard let file = candidates.first(where: { FileManager.default.fileExists(atPath: $0) }) else {
            throw UsageError(
                file: m.path, item: "predictions",
                "the shard's predictions are not there (looked for \(candidates.joined(separator: ", "))); "
                    + "shards are run with --predictions")
        }
        return file
    }
}
