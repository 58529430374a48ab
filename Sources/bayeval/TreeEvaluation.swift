import ArgumentParser
import Foundation
import Jobs
import Loaders
import Metrics
import Records
import Runtime

/// The options of `evaluate TREE` that a single evaluation does not have.
struct TreeOptions: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            "With a tree: the methods to run on every adapter, comma-separated (default: map, plus blob for "
                + "checkpoints carrying lora_A_rho).", discussion: TreeMethod.help))
    var methods: String?

    @Option(help: "With a tree: fit Laplace and temperature on the first N examples of their fit split.")
    var fitLimit: Int?

    @Option(help: "With a tree: TFB's anchor examples.") var anchorSize: Int?

    @Option(help: "With a tree: only the adapters of these tasks, comma-separated (default: every task).")
    var tasks: String?

    /// --tasks as task names, refusing unknown ones.
    func taskFilter() throws -> Set<TaskName>? {
        guard let tasks else { return nil }
        var out: Set<TaskName> = []
        for name in tasks.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) {
            guard let task = TaskName(rawValue: name) ?? CheckpointTree.taskAliases[name.lowercased()] else {
                throw UsageError(file: "--tasks", item: name, "unknown task")
            }
            out.insert(task)
        }
        return out
    }

    @Option(
        name: .customLong("base"),
        help: ArgumentHelp(
            "With a tree: NAME=PATH, the local model for adapters whose base_model_name_or_path is NAME "
                + "(repeatable; a tree may hold adapters of several models)."))
    var bases: [String] = []

    /// --base as a map, refusing entries without NAME=PATH.
    func baseModels() throws -> [String: String] {
        var out: [String: String] = [:]
        for entry in bases {
            guard let eq = entry.firstIndex(of: "="), eq != entry.startIndex, entry.index(after: eq) != entry.endIndex
            else { throw ValidationError("--base takes NAME=PATH, got '\(entry)'") }
            out[String(entry[..<eq])] = String(entry[entry.index(after: eq)...])
        }
        return out
    }
}

extension EvaluateCommand {
    /// `evaluate TREE`: every adapter under the tree, every method, results under --output, finished runs
    /// skipped; then summary.json, summary.csv and the table grouped over seeds.
    func runTree(_ root: String) throws {
        guard let out = outputs.output, !out.hasSuffix(".json") else {
            throw ValidationError(
                "\(root) is a tree of adapters: --output names the folder results go to "
                    + "(DIR/<adapter>/<method>/), not a run.json")
        }
        try OutputPaths.prepareDirectory(out, option: "--output")
        let jobs = try treeJobs(root, out: out)
        var runs: [TreeRun] = []
        var failed = 0
        let execution = JobExecution()
        for job in jobs {
            let head = "[\(job.index + 1)/\(jobs.count)] \(job.checkpoint) \(job.method)"
            switch try execution.run(job, notice: { note("\(head): \($0)") }) {
            case .skipped(let reason):
                note("\(head): skipped (\(reason))")
                runs.append(job.treeRun(status: "skipped", message: reason))
            case .doneEarlier(let record):
                note("\(head): done earlier")
                runs += job.treeRuns(record)
            case .done(let record, let seconds):
                let rows = job.treeRuns(record)
                runs += rows
                note(head + String(format: ": %.1f s, ", seconds) + TreeTable.line(rows))
            case .failed(let status, let message):
                failed += 1
                warn("\(head): failed (exit status \(status)): \(message)")
                runs.append(job.treeRun(status: "failed", message: message))
            }
        }
        try writeSummary(runs, root: root, out: out)
        if failed > 0 {
            throw ExitCode(1)
        }
    }

    /// The jobs of a tree: every adapter found under `root` (with --tasks, of those tasks), every method,
    /// in a fixed order (adapters by path, then methods as listed), each with its inputs' hash.
    func treeJobs(_ root: String, out: String) throws -> [PlannedJob] {
        var checkpoints = try CheckpointTree.discover(
            root: root, fallbackTask: options.taskOption.flatMap(TaskName.init))
        let unknown = checkpoints.filter { $0.task == nil }
        guard unknown.isEmpty else {
            throw UsageError(
                file: root, item: "task",
                "no task could be read from the metadata or the path of \(unknown.count) adapter(s):\n  "
                    + unknown.map(\.path).joined(separator: "\n  ")
                    + "\nname the task in their path (obqa, ARC-Challenge, sst2, …) or pass --task")
        }
        if let tasks = try tree.taskFilter() {
            checkpoints = checkpoints.filter { tasks.contains($0.task!) }
            guard !checkpoints.isEmpty else {
                throw UsageError(file: root, item: "--tasks", "no adapter of these tasks under the tree")
            }
        }
        let requested = try tree.methods.map(TreeMethod.list)
        let bases = try tree.baseModels()
        let hasher = Bayeval.inputHasher()
        var jobs: [PlannedJob] = []
        for checkpoint in checkpoints {
            let model = modelPath(of: checkpoint, bases: bases)
            for method in requested ?? ([.map] + (checkpoint.hasPosterior ? [.blob] : [])) {
                var planned = try job(checkpoint, method, model: model, root: root, out: out, index: jobs.count)
                if let arguments = planned.arguments {
                    planned.inputHash = try hasher.hash(arguments: arguments, inputs: planned.inputs)
                } else {
                    planned.inputHash = SHA256.hexDigest(Array("skipped \(planned.directory)".utf8))
                }
                jobs.append(planned)
            }
        }
        note("\(checkpoints.count) adapter(s) under \(root), \(jobs.count) run(s) → \(out)")
        return jobs
    }

    /// The model a checkpoint is evaluated on: its base's --base entry, else --model, else (nil) what the
    /// child command resolves from the adapter itself.
    func modelPath(of checkpoint: Checkpoint, bases: [String: String]) -> String? {
        let config = try? AdapterConfig.load(
            path: (checkpoint.path as NSString).appendingPathComponent("adapter_config.json"))
        if let base = config?.baseModelNameOrPath, let local = bases[base] { return local }
        return options.model ?? (try? options.resolveModel(adapter: checkpoint.path, config: config))
    }

    /// The command of one job: the shared options as given, the method's own, the job's outputs.
    func job(
        _ checkpoint: Checkpoint, _ method: TreeMethod, model: String?, root: String, out: String, index: Int
    )
        throws -> PlannedJob
    {
        let directory =
            ((out as NSString).appendingPathComponent(checkpoint.relativePath) as NSString)
            .appendingPathComponent(method.name)
        let task = checkpoint.task!
        // --split where the task has it, else validation (BoolQ, WinoGrande, CoLA and RTE have no labelled
        // test split): one tree can hold every task.
        let split = task.splits.contains(options.splitName) ? options.splitName : .validation
        let modelName = CheckpointTree.modelName(adapter: checkpoint.path, modelPath: model)
        let dataDirectory = try options.dataDir.map { URL(fileURLWithPath: $0) } ?? DataDirectory.locate()
        func planned(_ arguments: [String]?, skip: String? = nil, splits: [Split] = []) throws -> PlannedJob {
            var inputs =
                (model.map { [JobInput(role: "model", path: $0)] } ?? [])
                + [JobInput(role: "adapter", path: checkpoint.path)]
            if arguments != nil {
                for s in [split] + splits {
                    inputs += try DatasetLoader.paths(task: task, split: s, dataDirectory: dataDirectory).map {
                        JobInput(role: "data", path: $0)
                    }
                }
            }
            return PlannedJob(
                index: index, checkpoint: checkpoint, model: modelName, split: split.rawValue, method: method.name,
                directory: directory, arguments: arguments, skipReason: skip, resumes: method.resumes, inputs: inputs,
                tree: root, outputRoot: out)
        }
        func skip(_ reason: String) throws -> PlannedJob { try planned(nil, skip: reason) }
        // A held-out split other than the one evaluated: validation where it exists, else train.
        let heldOut = [Split.validation, .train].first { task.splits.contains($0) && $0 != split }
        let fitSplit = [Split.train, .validation].first { task.splits.contains($0) && $0 != split }
        var common = ["--task", task.rawValue, "--split", split.rawValue]
        if let model { common += ["--model", model] }
        if let limit = options.limit { common += ["--limit", String(limit)] }
        // The data folder found here (BAYEVAL_DATA, or above the working folder) is the one hashed: the job
        // is told it, rather than looking again on a compute node.
        common += ["--data-dir", dataDirectory.path]
        common += [
            "--threads", String(options.threads), "--device", options.device.rawValue, "--batch-size",
            String(options.batchSize), "--answer-prefix", options.answerPrefix, "--bins", String(outputs.bins),
            "--bootstrap", String(outputs.bootstrap),
        ]
        if options.upstreamPrompts { common.append("--upstream-prompts") }
        let files = [
            "--output", (directory as NSString).appendingPathComponent(PlannedJob.recordName), "--predictions",
            (directory as NSString).appendingPathComponent(PlannedJob.predictionsName),
        ]
        let draws = samples > 0 ? ["--samples", String(samples)] : []
        switch method {
        case .map:
            return try planned(["evaluate", checkpoint.path] + common + files)
        case .blob:
            guard checkpoint.hasPosterior else { return try skip("not a BLoB checkpoint (no lora_A_rho)") }
            return try planned(
                ["evaluate", checkpoint.path] + common + files + ["--samples", String(samples > 0 ? samples : 10)]
                    + ["--seed", String(seed)] + (blobSoftplus ? ["--blob-softplus"] : []))
        case .tfb:
            guard let anchors = fitSplit else { return try skip("\(task.rawValue) has no split for TFB's anchors") }
            return try planned(
                ["tfb", checkpoint.path] + common + files + [
                    "--anchor-split", anchors.rawValue, "--seed", String(seed),
                ]
                    + draws + (tree.anchorSize.map { ["--anchor-size", String($0)] } ?? []),
                splits: [anchors])
        case .temperature:
            guard let heldOut else {
                return try skip("\(task.rawValue) has no held-out split to fit a temperature on")
            }
            return try planned(
                ["calibrate", checkpoint.path] + common + files + ["--fit-split", heldOut.rawValue]
                    + (tree.fitLimit.map { ["--fit-limit", String($0)] } ?? []),
                splits: [heldOut])
        case .laplace(let structure, let link):
            guard let fitSplit else {
                return try skip("\(task.rawValue) has no split to fit a Laplace posterior on")
            }
            return try planned(
                ["laplace", checkpoint.path] + common + files
                    + ["--hessian", structure.rawValue, "--link", link.rawValue, "--fit-split", fitSplit.rawValue]
                    + ["--seed", String(seed)] + (tree.fitLimit.map { ["--fit-limit", String($0)] } ?? []),
                splits: [fitSplit])
        }
    }

    func writeSummary(_ runs: [TreeRun], root: String, out: String) throws {
        let paths = try TreeSummaryFile.write(runs, tree: root, out: out, version: Bayeval.version)
        print(TreeTable.render(TreeSummary.groups(runs)))
        note("summary: " + paths.joined(separator: ", "))
    }
}

/// The grouped table: mean ± std over seeds.
enum TreeTable {
    static func render(_ groups: [TreeGroup]) -> String {
        func cell(_ g: TreeGroup, _ m: Metric) -> String {
            guard let s = g.statistics[m] else { return "" }
            return String(format: "%.4f", s.mean) + (s.std.map { String(format: " ± %.4f", $0) } ?? "")
        }
        return Rendering.table(
            header: ["model", "task", "split", "training", "method", "runs", "ACC", "ECE", "NLL", "Brier"],
            rows: groups.map { g -> [String] in
                let metrics: [Metric] = [.accuracy, .ece, .nll, .brier]
                return [g.model, g.task, g.split, g.training, g.method, String(g.runs)] + metrics.map { cell(g, $0) }
            })
    }

    /// One finished job's rows on one line, for the progress notes.
    static func line(_ rows: [TreeRun]) -> String {
        rows.map {
            String(
                format: "%@ ACC %.4f NLL %.4f ECE %.4f", $0.label, $0.accuracy ?? .nan, $0.nll ?? .nan, $0.ece ?? .nan)
        }.joined(separator: "; ")
    }
}
