import Foundation
import Loaders
import Metrics
import Records

/// One unit of a tree evaluation: one method on one checkpoint, run as its own bayeval command (so a
/// failure stays with it and a scheduler can run it anywhere). `evaluate TREE` runs its jobs one after
/// another; `plan` writes them to a plan file, one per line, for `run-job` to run as a Slurm array.
public struct PlannedJob: Codable, Sendable, Equatable {
    /// Its line in the plan, from 0 (the Slurm array index).
    public var index: Int
    /// The adapter's path relative to the tree's root; the results' path mirrors it.
    public var checkpoint: String
    public var adapter: String
    /// The base model's name, for the summary's groups.
    public var model: String
    public var task: String
    public var split: String
    public var seed: Int?
    public var training: String
    /// As `--methods` names it (map, tfb, laplace-kron-probit, …).
    public var method: String
    /// OUT/<checkpoint>/<method>: run.json, predictions.jsonl, log.txt, job.json, status.json.
    public var directory: String
    /// The bayeval command (without the program name); nil when the method does not apply.
    public var arguments: [String]?
    public var skipReason: String?
    /// Whether the command continues an interrupted run from its predictions (`--resume`).
    public var resumes: Bool
    /// The files the command reads (model, adapter, data), hashed into `inputHash`.
    public var inputs: [JobInput]
    /// SHA-256 over the arguments and the content of every input: a job whose hash changed is not the
    /// job whose results are on disk.
    public var inputHash: String
    /// The tree's root and output root, and the folder relative paths in `arguments` are read from.
    public var tree: String
    public var outputRoot: String
    public var workingDirectory: String

    public init(
        index: Int, checkpoint: Checkpoint, model: String, split: String, method: String, directory: String,
        arguments: [String]?, skipReason: String?, resumes: Bool, inputs: [JobInput], tree: String,
        outputRoot: String, workingDirectory: String = FileManager.default.currentDirectoryPath
    ) {
        self.index = index
        self.checkpoint = checkpoint.relativePath
        adapter = checkpoint.path
        self.model = model
        task = checkpoint.task?.rawValue ?? ""
        self.split = split
        seed = checkpoint.seed
        training = checkpoint.training
        self.method = method
        self.directory = directory
        self.arguments = arguments
        self.skipReason = skipReason
        self.resumes = resumes
        self.inputs = inputs
        self.tree = tree
        self.outputRoot = outputRoot
        self.workingDirectory = workingDirectory
        inputHash = ""
    }

    public static let recordName = "run.json", predictionsName = "predictions.jsonl", logName = "log.txt"
    public static let jobFileName = "job.json", statusName = "status.json", lockName = "job.lock"

    public func file(_ name: String) -> String { (directory as NSString).appendingPathComponent(name) }
    public var runRecord: String { file(Self.recordName) }
    public var predictions: String { file(Self.predictionsName) }
    public var log: String { file(Self.logName) }
    /// What made the folder's results: the arguments and input hash of the job that wrote them.
    public var jobFile: String { file(Self.jobFileName) }
    public var statusFile: String { file(Self.statusName) }
    /// Locked (flock) while the job runs, so two runs of one job never share its folder.
    public var lockFile: String { file(Self.lockName) }

    /// The run record's path relative to the output root, as the summary lists it.
    public var relativeRunRecord: String {
        let prefix = outputRoot.hasSuffix("/") ? outputRoot : outputRoot + "/"
        return runRecord.hasPrefix(prefix) ? String(runRecord.dropFirst(prefix.count)) : runRecord
    }

    /// A summary row of this job without results (failed, skipped, pending).
    public func treeRun(
        status: String, label: String? = nil, metrics: MetricReport? = nil, message: String? = nil
    )
        -> TreeRun
    {
        TreeRun(
            checkpoint: checkpoint, model: model, task: task, split: split, seed: seed, training: training,
            method: method, label: label ?? method, status: status, runRecord: relativeRunRecord, metrics: metrics,
            message: message)
    }

    /// The summary rows of a finished run: one per posterior row of its run.json.
    public func treeRuns(_ record: RunRecord) -> [TreeRun] {
        record.posteriorResults.map { treeRun(status: "done", label: $0.method.label, metrics: $0.metrics) }
    }
}

/// A file a job reads, by its role (model, adapter, data).
public struct JobInput: Codable, Sendable, Equatable {
    public var role: String
    public var path: String
    public init(role: String, path: String) {
        self.role = role
        self.path = path
    }
}
