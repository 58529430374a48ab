import ArgumentParser
import Foundation
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

/// One unit of a tree evaluation: one method on one checkpoint, run as its own bayeval command so that a
/// failure stays with it (and so that a scheduler can run it elsewhere).
struct TreeJob {
    let checkpoint: Checkpoint
    let method: TreeMethod
    /// OUT/<checkpoint's relative path>/<method>
    let directory: String
    /// The bayeval arguments (without the program name); nil with the reason when the method does not apply.
    let arguments: [String]?
    let skipReason: String?
    /// The model's file or folder name and the split evaluated, for the summary's groups.
    let model: String
    let split: String

    static let recordName = "run.json", predictionsName = "predictions.jsonl"
    static func path(_ directory: String, _ name: String) -> String {
        (directory as NSString).appendingPathComponent(name)
    }

    var runRecord: String { Self.path(directory, Self.recordName) }
    /// The arguments a finished run was made with: a run whose settings changed is made again.
    var jobFile: String { (directory as NSString).appendingPathComponent("job.json") }

    var predictions: String { Self.path(directory, Self.predictionsName) }

    /// Whether job.json holds these arguments: what is in the folder was made by this very job.
    var madeByThisJob: Bool {
        guard let data = FileManager.default.contents(atPath: jobFile),
            let recorded = try? JSONDecoder().decode([String].self, from: data)
        else { return false }
        return recorded == arguments
    }

    func finishedEarlier() -> RunRecord? { madeByThisJob ? try? RunRecord.read(from: runRecord) : nil }
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
        let checkpoints = try CheckpointTree.discover(
            root: root, fallbackTask: options.taskOption.flatMap(TaskName.init))
        let unknown = checkpoints.filter { $0.task == nil }
        guard unknown.isEmpty else {
            throw UsageError(
                file: root, item: "task",
                "no task could be read from the metadata or the path of \(unknown.count) adapter(s):\n  "
                    + unknown.map(\.path).joined(separator: "\n  ")
                    + "\nname the task in their path (obqa, ARC-Challenge, sst2, …) or pass --task")
        }
        let requested = try tree.methods.map(TreeMethod.list)
        let bases = try tree.baseModels()
        let jobs = checkpoints.flatMap { checkpoint in
            let model = modelPath(of: checkpoint, bases: bases)
            return (requested ?? ([.map] + (checkpoint.hasPosterior ? [.blob] : []))).map {
                job(checkpoint, $0, model: model, out: out)
            }
        }
        note("\(checkpoints.count) adapter(s) under \(root), \(jobs.count) run(s) → \(out)")
        var runs: [TreeRun] = []
        var failed = 0
        for (i, job) in jobs.enumerated() {
            let head = "[\(i + 1)/\(jobs.count)] \(job.checkpoint.relativePath) \(job.method.name)"
            guard let arguments = job.arguments else {
                note("\(head): skipped (\(job.skipReason ?? ""))")
                runs.append(treeRun(job, status: "skipped", out: out, message: job.skipReason))
                continue
            }
            if let record = job.finishedEarlier() {
                note("\(head): done earlier")
                runs += treeRuns(job, record, out: out)
                continue
            }
            // An interrupted run of this same job continues from its predictions; anything else in the
            // folder (another --limit, model or method setting) is removed, never mixed in.
            let fm = FileManager.default
            let resumes = job.method.resumes && job.madeByThisJob && fm.fileExists(atPath: job.predictions)
            if !resumes {
                if fm.fileExists(atPath: job.runRecord) { note("\(head): made with other settings before; run again") }
                for stale in [job.runRecord, job.predictions] { try? fm.removeItem(atPath: stale) }
            }
            try OutputPaths.prepareFile(job.jobFile, option: "--output")
            do { try JSONEncoder().encode(arguments).write(to: URL(fileURLWithPath: job.jobFile)) } catch {
                throw WriteError(file: job.jobFile, item: "", "cannot record the job: \(OutputPaths.reason(error))")
            }
            let start = Date()
            let status = try TreeJobRunner.run(
                arguments + (resumes ? ["--resume"] : []),
                log: (job.directory as NSString).appendingPathComponent("log.txt"))
            if status == 0, let record = try? RunRecord.read(from: job.runRecord) {
                let rows = treeRuns(job, record, out: out)
                runs += rows
                let line = rows.map {
                    String(
                        format: "%@ ACC %.4f NLL %.4f ECE %.4f", $0.label, $0.accuracy ?? .nan, $0.nll ?? .nan,
                        $0.ece ?? .nan)
                }.joined(separator: "; ")
                note(head + String(format: ": %.1f s, ", Date().timeIntervalSince(start)) + line)
            } else {
                failed += 1
                let tail = TreeJobRunner.tail(of: (job.directory as NSString).appendingPathComponent("log.txt"))
                warn("\(head): failed (exit status \(status)): \(tail)")
                runs.append(treeRun(job, status: "failed", out: out, message: tail))
            }
        }
        try writeSummary(runs, root: root, out: out)
        if failed > 0 {
            throw ExitCode(1)
        }
    }

    /// The model a checkpoint is evaluated on: its base's --base entry, else --model, else (nil) what the
    /// child command resolves from the adapter itself.
    func modelPath(of checkpoint: Checkpoint, bases: [String: String]) -> String? {
        let config = try? AdapterConfig.load(
            path: (checkpoint.path as NSString).appendingPathComponent("adapter_config.json"))
        if let base = config?.baseModelNameOrPath, let local = bases[base] { return local }
        return options.model ?? (try? options.resolveModel(adapter: checkpoint.path, config: config))
    }

    /// Whether a model directory is an encoder (TFB and BLoB sampling run on decoders only, so far).
    func isEncoder(_ model: String?) -> Bool {
        guard let model, !ModelLoader.isGGUF(model), let config = try? ModelConfig.load(directory: model) else {
            return false
        }
        if case .encoder = config { return true }
        return false
    }

    /// The command of one job: the shared options as given, the method's own, the job's outputs.
    func job(_ checkpoint: Checkpoint, _ method: TreeMethod, model: String?, out: String) -> TreeJob {
        let directory =
            ((out as NSString).appendingPathComponent(checkpoint.relativePath) as NSString)
            .appendingPathComponent(method.name)
        let task = checkpoint.task!
        // --split where the task has it, else validation (BoolQ, WinoGrande, CoLA and RTE have no labelled
        // test split): one tree can hold every task.
        let split = task.splits.contains(options.splitName) ? options.splitName : .validation
        let modelName = CheckpointTree.modelName(adapter: checkpoint.path, modelPath: model)
        func skip(_ reason: String) -> TreeJob {
            TreeJob(
                checkpoint: checkpoint, method: method, directory: directory, arguments: nil, skipReason: reason,
                model: modelName, split: split.rawValue)
        }
        // A held-out split other than the one evaluated: validation where it exists, else train.
        let heldOut = [Split.validation, .train].first { task.splits.contains($0) && $0 != split }
        let fitSplit = [Split.train, .validation].first { task.splits.contains($0) && $0 != split }
        var common = ["--task", task.rawValue, "--split", split.rawValue]
        if let model { common += ["--model", model] }
        if let limit = options.limit { common += ["--limit", String(limit)] }
        if let dataDir = options.dataDir { common += ["--data-dir", dataDir] }
        common += [
            "--threads", String(options.threads), "--device", options.device.rawValue, "--batch-size",
            String(options.batchSize), "--answer-prefix", options.answerPrefix, "--bins", String(outputs.bins),
            "--bootstrap", String(outputs.bootstrap),
        ]
        if options.upstreamPrompts { common.append("--upstream-prompts") }
        let files = [
            "--output", TreeJob.path(directory, TreeJob.recordName), "--predictions",
            TreeJob.path(directory, TreeJob.predictionsName),
        ]
        let draws = samples > 0 ? ["--samples", String(samples)] : []
        let arguments: [String]
        switch method {
        case .map:
            arguments = ["evaluate", checkpoint.path] + common + files
        case .blob:
            guard checkpoint.hasPosterior else { return skip("not a BLoB checkpoint (no lora_A_rho)") }
            guard !isEncoder(model) else { return skip("encoders do not sample weight posteriors yet") }
            arguments =
                ["evaluate", checkpoint.path] + common + files + ["--samples", String(samples > 0 ? samples : 10)]
                + ["--seed", String(seed)] + (blobSoftplus ? ["--blob-softplus"] : [])
        case .tfb:
            guard !isEncoder(model) else { return skip("tfb runs decoders only, so far") }
            guard let anchors = fitSplit else { return skip("\(task.rawValue) has no split for TFB's anchors") }
            arguments =
                ["tfb", checkpoint.path] + common + files + [
                    "--anchor-split", anchors.rawValue, "--seed", String(seed),
                ]
                + draws
                + (tree.anchorSize.map { ["--anchor-size", String($0)] } ?? [])
        case .temperature:
            guard let heldOut else { return skip("\(task.rawValue) has no held-out split to fit a temperature on") }
            arguments =
                ["calibrate", checkpoint.path] + common + files + ["--fit-split", heldOut.rawValue]
                + (tree.fitLimit.map { ["--fit-limit", String($0)] } ?? [])
        case .laplace(let structure, let link):
            guard let fitSplit else { return skip("\(task.rawValue) has no split to fit a Laplace posterior on") }
            arguments =
                ["laplace", checkpoint.path] + common + files
                + ["--hessian", structure.rawValue, "--link", link.rawValue, "--fit-split", fitSplit.rawValue]
                + ["--seed", String(seed)]
                + (tree.fitLimit.map { ["--fit-limit", String($0)] } ?? [])
        }
        return TreeJob(
            checkpoint: checkpoint, method: method, directory: directory, arguments: arguments, skipReason: nil,
            model: modelName, split: split.rawValue)
    }

    func treeRun(
        _ job: TreeJob, status: String, out: String, label: String? = nil, metrics: MetricReport? = nil,
        message: String? = nil
    ) -> TreeRun {
        TreeRun(
            checkpoint: job.checkpoint.relativePath, model: job.model, task: job.checkpoint.task?.rawValue ?? "",
            split: job.split, seed: job.checkpoint.seed, training: job.checkpoint.training, method: job.method.name,
            label: label ?? job.method.name, status: status, runRecord: relative(job.runRecord, to: out),
            metrics: metrics, message: message)
    }

    func treeRuns(_ job: TreeJob, _ record: RunRecord, out: String) -> [TreeRun] {
        record.posteriorResults.map {
            treeRun(job, status: "done", out: out, label: $0.method.label, metrics: $0.metrics)
        }
    }

    func relative(_ path: String, to root: String) -> String {
        let prefix = root.hasSuffix("/") ? root : root + "/"
        return path.hasPrefix(prefix) ? String(path.dropFirst(prefix.count)) : path
    }

    func writeSummary(_ runs: [TreeRun], root: String, out: String) throws {
        struct Summary: Encodable {
            let tree: String
            let bayevalVersion: String
            let runs: [TreeRun]
        }
        let json = (out as NSString).appendingPathComponent("summary.json")
        let csv = (out as NSString).appendingPathComponent("summary.csv")
        do {
            try Rendering.json(Summary(tree: root, bayevalVersion: Bayeval.version, runs: runs))
                .write(toFile: json, atomically: true, encoding: .utf8)
            try TreeSummary.csv(runs).write(toFile: csv, atomically: true, encoding: .utf8)
        } catch {
            throw WriteError(file: out, item: "summary", "cannot write the summary: \(OutputPaths.reason(error))")
        }
        print(TreeTable.render(TreeSummary.groups(runs)))
        note("summary: \(json), \(csv)")
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
}

/// Runs one job as a child bayeval process, its output going to the job's log.
enum TreeJobRunner {
    static func run(_ arguments: [String], log: String) throws -> Int32 {
        try OutputPaths.prepareFile(log, option: "log")
        FileManager.default.createFile(
            atPath: log, contents: Data(("bayeval " + arguments.joined(separator: " ") + "\n").utf8))
        guard let handle = FileHandle(forWritingAtPath: log) else {
            throw WriteError(file: log, item: "", "cannot open the job's log")
        }
        defer { try? handle.close() }
        handle.seekToEndOfFile()
        let p = Process()
        p.executableURL = Bundle.main.executableURL ?? URL(fileURLWithPath: "/proc/self/exe")
        p.arguments = arguments
        p.standardOutput = handle
        p.standardError = handle
        try p.run()
        p.waitUntilExit()
        return p.terminationStatus
    }

    /// The error a failed command printed (its last `Error:` line), else the log's last line.
    static func tail(of log: String) -> String {
        let lines = ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
        return lines.last { $0.hasPrefix("Error:") || $0.hasPrefix("error:") } ?? lines.last ?? "(no output)"
    }
}
