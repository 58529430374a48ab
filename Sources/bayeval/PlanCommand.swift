import ArgumentParser
import Foundation
import Jobs
import Loaders
import Records

/// What each array task asks Slurm for.
struct SlurmOptions: ParsableArguments {
    @Option(help: "Slurm --time of each task (HH:MM:SS or D-HH:MM:SS).") var time = ArrayScript().time
    @Option(help: "Slurm --mem of each task (e.g. 16G; an 8B model in bf16 on a GPU: 48G).") var mem =
        ArrayScript().memory
    @Option(help: "Slurm --cpus-per-task (default: the jobs' --threads; without --threads, the jobs use this many).")
    var cpusPerTask: Int?
    @Option(help: "Slurm --gres (e.g. gpu:1); none by default.") var gres: String?
    @Option(help: "Slurm --partition.") var partition: String?
    @Option(help: "Slurm --account.") var account: String?
    @Option(help: "At most this many array tasks at once (the array's %P).") var parallel: Int?
    @Option(help: "Slurm --job-name.") var jobName = ArrayScript().jobName

    func validate() throws {
        if let parallel, parallel < 1 { throw ValidationError("--parallel must be at least 1") }
        if let cpusPerTask, cpusPerTask < 1 { throw ValidationError("--cpus-per-task must be at least 1") }
    }

    func script(threads: Int) -> ArrayScript {
        var s = ArrayScript()
        s.jobName = jobName
        s.time = time
        s.memory = mem
        s.cpusPerTask = cpusPerTask ?? threads
        s.gres = gres
        s.partition = partition
        s.account = account
        s.parallel = parallel
        return s
    }
}

struct PlanCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plan",
        abstract: "Write a tree evaluation as a plan of jobs and a Slurm array script; report on a plan's jobs.",
        discussion: """
            bayeval plan TREE [every option of `evaluate TREE`] --output plan.jsonl [--results DIR] writes one \
            job per line (one method on one checkpoint: its command, output folder and the SHA-256 of its \
            inputs) and plan.sbatch beside it, an array whose task i runs `bayeval run-job plan.jsonl --index \
            i`. Results go to DIR/<adapter>/<method>/ exactly as `evaluate TREE --output DIR` puts them.
            bayeval plan --status plan.jsonl lists done, running, failed (with the end of its log) and \
            pending jobs; with --resubmit-failed it writes plan.resubmit.sbatch, the array of the failed ones. \
            bayeval plan --collect plan.jsonl writes DIR/summary.json and summary.csv once the jobs are done. \
            bayeval plan --replan plan.jsonl takes in changed inputs: it rehashes every job (those whose \
            inputs changed then run again).
            """)

    @Option(help: "The plan file to write (one job per line).") var output: String?

    @Option(help: "The results folder (default: runs/ beside the plan).") var results: String?

    @Option(help: "Report on the jobs of this plan.") var status: String?

    @Flag(help: "With --status: write an array script of the failed jobs.") var resubmitFailed = false

    @Option(help: "Write the summary of this plan's finished jobs.") var collect: String?

    @Option(help: "Rehash this plan's inputs, accepting files changed since it was written.") var replan: String?

    @OptionGroup(title: "Slurm") var slurm: SlurmOptions

    @Argument(
        parsing: .allUnrecognized,
        help: "TREE and the options of `evaluate TREE` (--model, --methods, --tasks, --limit, --base, …).")
    var evaluation: [String] = []

    func validate() throws {
        let modes = [output != nil, status != nil, collect != nil, replan != nil].filter { $0 }.count
        guard modes == 1 else {
            throw ValidationError("give one of --output (write a plan), --status, --collect or --replan")
        }
        if resubmitFailed && status == nil { throw ValidationError("--resubmit-failed goes with --status") }
        if output == nil, !evaluation.isEmpty {
            throw ValidationError("unknown arguments: \(evaluation.joined(separator: " "))")
        }
        if let output, !output.hasSuffix(".jsonl") { throw ValidationError("--output names a .jsonl plan file") }
    }

    func run() throws {
        if let output { return try write(output) }
        // Reading a plan moves into its working folder: the plan's own path is taken from here first.
        let cwd = FileManager.default.currentDirectoryPath
        if let status { return try report(absolute(status, cwd)) }
        if let collect { return try summarize(absolute(collect, cwd)) }
        if let replan { return try rehash(absolute(replan, cwd)) }
    }

    /// plan.jsonl → plan.sbatch, plan.resubmit.sbatch.
    static func script(of plan: String, _ suffix: String = "") -> String {
        (plan.hasSuffix(".jsonl") ? String(plan.dropLast(6)) : plan) + suffix + ".sbatch"
    }

    func write(_ plan: String) throws {
        let cwd = FileManager.default.currentDirectoryPath
        let planPath = absolute(plan, cwd)
        let out = results ?? ((plan as NSString).deletingLastPathComponent as NSString).appendingPathComponent("runs")
        if let single = evaluation.first(where: CheckpointTree.isAdapter) {
            throw UsageError(
                file: single, item: "TREE",
                "an adapter, not a tree of them: plan takes a folder that holds adapters (evaluate it directly, "
                    + "or shard it with evaluate --shard i/n)")
        }
        // The jobs run on the allocation's cores, not on as many as this (login) machine has.
        var arguments = evaluation
        let threadsGiven = evaluation.contains { $0 == "--threads" || $0.hasPrefix("--threads=") }
        if let cores = slurm.cpusPerTask, !threadsGiven { arguments += ["--threads", "\(cores)"] }
        let evaluate: EvaluateCommand
        do { evaluate = try EvaluateCommand.parse(arguments + ["--output", out]) } catch {
            throw ValidationError("evaluate TREE's options: \(EvaluateCommand.message(for: error))")
        }
        guard let root = evaluate.treeRoot else {
            throw ValidationError("plan takes a tree of adapters (a folder that holds them)")
        }
        try OutputPaths.prepareFile(plan, option: "--output")
        try OutputPaths.prepareDirectory(out, option: "--results")
        let logs = (out as NSString).appendingPathComponent("slurm")
        try OutputPaths.prepareDirectory(logs, option: "--results")
        let jobs = try evaluate.treeJobs(root, out: out)
        try PlanFile.write(jobs, to: plan)
        let script = slurm.script(threads: evaluate.options.threads).render(
            plan: planPath, indices: jobs.map(\.index), executable: Self.executable, workingDirectory: cwd,
            logFolder: absolute(logs, cwd),
            note: "bayeval \(Bayeval.version) plan: \(jobs.count) jobs of \(root) → \(out)")
        let sbatch = Self.script(of: plan)
        try AtomicFile.write(script, to: sbatch)
        let skipped = jobs.filter { $0.arguments == nil }.count
        print("\(jobs.count) jobs (\(skipped) skipped: the method does not apply) → \(plan)")
        print("array script: \(sbatch)\nsubmit it with: sbatch \(sbatch)")
        if jobs.count > 1000 {
            warn("\(jobs.count) tasks: Slurm's default MaxArraySize is 1001; ask your admins or split the tree")
        }
    }

    func report(_ plan: String) throws {
        let jobs = try readPlan(plan)
        var counts: [String: Int] = [:]
        var failed: [Int] = []
        var rows: [[String]] = []
        for job in jobs {
            let state = job.state()
            counts[state.name, default: 0] += 1
            var detail = ""
            switch state {
            case .done(let record): detail = record.posteriorResults.map(\.method.label).joined(separator: ", ")
            case .skipped(let reason): detail = reason
            case .running(let attempt):
                detail = "since \(attempt.started) on \(attempt.host)" + (attempt.slurmJob.map { ", job \($0)" } ?? "")
            case .failed(let message):
                failed.append(job.index)
                detail = message
            case .pending: detail = ""
            }
            rows.append([String(job.index), state.name, job.checkpoint, job.method, detail])
        }
        print(Rendering.table(header: ["index", "state", "checkpoint", "method", "detail"], rows: rows))
        print(
            ["done", "running", "failed", "pending", "skipped"].map { "\(counts[$0, default: 0]) \($0)" }
                .joined(separator: ", "))
        guard resubmitFailed else { return }
        guard !failed.isEmpty else { return print("no failed job to resubmit") }
        let original = Self.script(of: plan)
        guard let text = try? String(contentsOfFile: original, encoding: .utf8) else {
            throw UsageError(file: original, item: "", "the plan's array script is not there to resubmit from")
        }
        let resubmit = Self.script(of: plan, ".resubmit")
        try AtomicFile.write(try ArrayScript.resubmission(of: text, indices: failed, file: original), to: resubmit)
        print("array of the \(failed.count) failed job(s): \(resubmit)\nsubmit it with: sbatch \(resubmit)")
    }

    func summarize(_ plan: String) throws {
        let jobs = try readPlan(plan)
        let runs = TreeSummaryFile.runs(of: jobs)
        let paths = try TreeSummaryFile.write(
            runs, tree: jobs[0].tree, out: jobs[0].outputRoot, version: Bayeval.version)
        print(TreeTable.render(TreeSummary.groups(runs)))
        note("summary: " + paths.joined(separator: ", "))
        let unfinished = runs.filter { $0.status != "done" && $0.status != "skipped" }
        if !unfinished.isEmpty {
            warn("\(unfinished.count) run(s) not done (see `bayeval plan --status \(plan)`)")
            throw ExitCode(1)
        }
    }

    func rehash(_ plan: String) throws {
        var jobs = try readPlan(plan)
        let hasher = Bayeval.inputHasher()
        var changed: [Int] = []
        for i in jobs.indices {
            guard let arguments = jobs[i].arguments else { continue }
            let hash = try hasher.hash(arguments: arguments, inputs: jobs[i].inputs)
            if hash != jobs[i].inputHash {
                changed.append(i)
                jobs[i].inputHash = hash
            }
        }
        try PlanFile.write(jobs, to: plan)
        print(
            changed.isEmpty
                ? "no job's inputs changed"
                : "\(changed.count) job(s) with changed inputs will run again: \(ArrayScript.arraySpec(changed))")
    }

    /// Reads a plan and moves into the folder its relative paths are read from.
    func readPlan(_ plan: String) throws -> [PlannedJob] {
        let jobs = try PlanFile.read(plan)
        guard FileManager.default.changeCurrentDirectoryPath(jobs[0].workingDirectory) else {
            throw UsageError(file: plan, item: "workingDirectory", "\(jobs[0].workingDirectory) is not there")
        }
        return jobs
    }

    static var executable: String {
        (Bundle.main.executableURL ?? URL(fileURLWithPath: "/proc/self/exe")).resolvingSymlinksInPath().path
    }
}

/// `path` from `directory` unless it is absolute.
func absolute(_ path: String, _ directory: String) -> String {
    path.hasPrefix("/") ? path : ((directory as NSString).appendingPathComponent(path) as NSString).standardizingPath
}
