import Foundation
import Loaders
import Records

/// OUT/summary.json and OUT/summary.csv of a tree: every run of every job. `evaluate TREE` writes them
/// as its jobs finish; `plan --collect` writes the same files from a plan's folders once its array is done.
public enum TreeSummaryFile {
    struct Summary: Encodable {
        let tree: String
        let bayevalVersion: String
        let runs: [TreeRun]
    }

    /// The rows of jobs as their folders stand: results, or the job's state (skipped, failed, pending,
    /// running) with why.
    public static func runs(of jobs: [PlannedJob]) -> [TreeRun] {
        jobs.flatMap { job -> [TreeRun] in
            let state = job.state()
            switch state {
            case .done(let record): return job.treeRuns(record)
            case .skipped(let reason): return [job.treeRun(status: "skipped", message: reason)]
            case .failed(let message): return [job.treeRun(status: "failed", message: message)]
            case .running, .pending: return [job.treeRun(status: state.name)]
            }
        }
    }

    /// Writes both files (each atomically) and returns their paths.
    @discardableResult
    public static func write(_ runs: [TreeRun], tree: String, out: String, version: String) throws -> [String] {
        let json = (out as NSString).appendingPathComponent("summary.json")
        let csv = (out as NSString).appendingPathComponent("summary.csv")
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(
            positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        let data: Data
        do { data = try encoder.encode(Summary(tree: tree, bayevalVersion: version, runs: runs)) } catch {
            throw WriteError(file: json, item: "", "cannot encode the summary: \(error)")
        }
        try AtomicFile.write(data + Data("\n".utf8), to: json)
        try AtomicFile.write(TreeSummary.csv(runs), to: csv)
        return [json, csv]
    }
}
