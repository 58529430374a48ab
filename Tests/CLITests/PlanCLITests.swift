import Foundation
import Jobs
import Records
import Testing
import TestModels

/// Plans and jobs as a scheduler runs them, without the scheduler (scripts/slurm_test.sh runs the same
/// on a real Slurm): a plan of a MiniLM tree run job by job equals `evaluate TREE`, a job stopped by
/// SIGTERM midway is recorded as failed and continues from its predictions, changed inputs are refused,
/// and a sharded evaluation merges into the unsharded run's numbers bit for bit.
@Suite(.enabled(if: RealModels.miniLMEnabled, Comment(rawValue: RealModels.miniLMNote)))
struct PlanCLITests {
    let adapter = fixture("trained/minilm-sst2")

    /// Two seeds of the SST-2 adapter and a copy filed under CoLA (another single-sentence binary task).
    func makeTree(_ dir: TempDir) throws -> String {
        let root = dir.path + "/tree"
        for (task, seed) in [("sst2", 1), ("sst2", 2), ("cola", 1)] {
            let target = root + "/map/minilm/\(task)/run-seed\(seed)"
            try FileManager.default.createDirectory(
                atPath: (target as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try FileManager.default.copyItem(atPath: adapter, toPath: target)
            // The metadata names sst2 (bayeval_task, in the safetensors header): the copy is renamed cola,
            // a string of the same length, so the header keeps its size.
            if task == "cola" {
                let weights = URL(fileURLWithPath: target + "/adapter_model.safetensors")
                var bytes = try Data(contentsOf: weights)
                let from = Data(#""bayeval_task":"sst2""#.utf8), to = Data(#""bayeval_task":"cola""#.utf8)
                let at = try #require(bytes.range(of: from))
                bytes.replaceSubrange(at, with: to)
                try bytes.write(to: weights)
            }
        }
        return root
    }

    func treeOptions(_ root: String) -> [String] {
        [root, "--model", RealModels.miniLM, "--methods", "map,temperature", "--limit", "200", "--fit-limit", "32"]
    }

    @Test func planRunJobsStatusCollect() throws {
        let dir = TempDir()
        let root = try makeTree(dir)
        let plan = dir.path + "/plan.jsonl"
        let made = try bayeval(["plan"] + treeOptions(root) + ["--output", plan, "--parallel", "2", "--gres", "gpu:1"])
        #expect(made.status == 0, "\(made.stderr)")
        let jobs = try PlanFile.read(plan)
        #expect(jobs.count == 6 && jobs.map(\.index) == Array(0..<6))
        #expect(Set(jobs.map(\.task)) == ["sst2", "cola"], "\(jobs.map(\.task))")
        let script = try String(contentsOfFile: dir.path + "/plan.sbatch", encoding: .utf8)
        #expect(script.contains("#SBATCH --array=0-5%2") && script.contains("#SBATCH --gres=gpu:1"), "\(script)")
        #expect(script.contains("run-job \(plan) --index \"$SLURM_ARRAY_TASK_ID\""))

        // A run of a job whose folder another run holds (a resubmission while the first still runs) is
        // refused; here this test holds the lock.
        try FileManager.default.createDirectory(atPath: jobs[1].directory, withIntermediateDirectories: true)
        let held = open(jobs[1].lockFile, O_CREAT | O_RDWR, 0o644)
        #expect(held >= 0 && flock(held, LOCK_EX | LOCK_NB) == 0)
        let twice = try bayeval(["run-job", plan, "--index", "1"])
        #expect(twice.status != 0 && twice.stderr.contains("another run of this job"), "\(twice.stderr)")
        close(held)

        // Job 0 is stopped by SIGTERM (scancel, a preemption) once its first chunk is written.
        let killed = try startRunJob(plan, index: 0)
        let predictions = jobs[0].predictions
        try waitFor(seconds: 120) {
            (try? String(contentsOfFile: predictions, encoding: .utf8))?.contains("\n") == true
        }
        kill(killed.processIdentifier, SIGTERM)
        killed.waitUntilExit()
        #expect(killed.terminationStatus != 0)
        let status = try bayeval(["plan", "--status", plan, "--resubmit-failed"])
        #expect(status.status == 0, "\(status.stderr)")
        #expect(status.stdout.contains("terminated by signal"), "\(status.stdout)")
        #expect(status.stdout.contains("0 done, 0 running, 1 failed, 5 pending, 0 skipped"), "\(status.stdout)")
        let resubmit = try String(contentsOfFile: dir.path + "/plan.resubmit.sbatch", encoding: .utf8)
        #expect(resubmit.contains("#SBATCH --array=0%2\n"), "\(resubmit)")

        for i in 0..<6 {
            let r = try bayeval(["run-job", plan, "--index", String(i)])
            #expect(r.status == 0, "job \(i): \(r.stderr)")
        }
        let log = try String(contentsOfFile: jobs[0].log, encoding: .utf8)
        #expect(log.contains("--- resumed") && log.contains("resuming: 128 of 200"), "\(log)")
        let again = try bayeval(["run-job", plan, "--index", "3"])
        #expect(again.status == 0 && again.stderr.contains("done earlier"), "\(again.stderr)")
        let collected = try bayeval(["plan", "--collect", plan])
        #expect(collected.status == 0, "\(collected.stderr)")

        // The same tree run in one process: the same summary, byte for byte.
        let sequential = dir.path + "/sequential"
        let seq = try bayeval(["evaluate"] + treeOptions(root) + ["--output", sequential])
        #expect(seq.status == 0, "\(seq.stderr)")
        for name in ["summary.json", "summary.csv"] {
            let a = try Data(contentsOf: URL(fileURLWithPath: jobs[0].outputRoot + "/" + name))
            let b = try Data(contentsOf: URL(fileURLWithPath: sequential + "/" + name))
            #expect(a == b, "\(name) differs")
        }
        #expect(try bayeval(["plan", "--status", plan]).stdout.contains("6 done, 0 running, 0 failed, 0 pending"))
    }

    @Test func refusals() throws {
        let dir = TempDir()
        let root = try makeTree(dir)
        let plan = dir.path + "/plan.jsonl"
        let options = treeOptions(root) + ["--tasks", "cola", "--output", plan, "--cpus-per-task", "1"]
        #expect(try bayeval(["plan"] + options).status == 0)
        #expect(try PlanFile.read(plan).count == 2)
        // The jobs use the cores Slurm gives them, not this machine's count.
        let arguments = try #require(try PlanFile.read(plan)[0].arguments)
        let threads = try #require(arguments.firstIndex(of: "--threads"))
        #expect(arguments[threads + 1] == "1", "\(arguments)")
        let script = try String(contentsOfFile: dir.path + "/plan.sbatch", encoding: .utf8)
        #expect(script.contains("#SBATCH --cpus-per-task=1\n"), "\(script)")

        let range = try bayeval(["run-job", plan, "--index", "2"])
        #expect(range.status != 0 && range.stderr.contains("--index 2: out of range"), "\(range.stderr)")

        // An input changed after the plan: refused until --replan.
        let config = root + "/map/minilm/cola/run-seed1/adapter_config.json"
        try (try String(contentsOfFile: config, encoding: .utf8) + " ").write(
            toFile: config, atomically: true, encoding: .utf8)
        let changed = try bayeval(["run-job", plan, "--index", "0"])
        #expect(changed.status != 0 && changed.stderr.contains("inputs changed since the plan"), "\(changed.stderr)")
        let refused = try bayeval(["plan", "--status", plan])
        #expect(refused.stdout.contains("refused: its inputs changed"), "\(refused.stdout)")
        let replan = try bayeval(["plan", "--replan", plan])
        #expect(replan.status == 0 && replan.stdout.contains("2 job(s) with changed inputs"), "\(replan.stdout)")
        #expect(try bayeval(["run-job", plan, "--index", "0"]).status == 0)

        // Edited by hand: a line that is no job, two jobs in one folder.
        var lines = try String(contentsOfFile: plan, encoding: .utf8).split(separator: "\n").map(String.init)
        let original = lines
        lines[1] = String(lines[1].dropLast(5))
        try (lines.joined(separator: "\n") + "\n").write(toFile: plan, atomically: true, encoding: .utf8)
        let torn = try bayeval(["run-job", plan, "--index", "0"])
        #expect(torn.status != 0 && torn.stderr.contains("line 2: not a job"), "\(torn.stderr)")
        let jobs = try original.map { try JSONDecoder().decode(PlannedJob.self, from: Data($0.utf8)) }
        lines[1] = original[1].replacingOccurrences(of: jobs[1].directory, with: jobs[0].directory)
        try (lines.joined(separator: "\n") + "\n").write(toFile: plan, atomically: true, encoding: .utf8)
        let shared = try bayeval(["plan", "--status", plan])
        #expect(shared.status != 0 && shared.stderr.contains("jobs 0 and 1: both write"), "\(shared.stderr)")

        let notTree = try bayeval(["plan", adapter, "--model", RealModels.miniLM, "--output", plan])
        #expect(notTree.status != 0 && notTree.stderr.contains("an adapter, not a tree"), "\(notTree.stderr)")
    }

    @Test func shardsMergeIntoTheUnshardedRun() throws {
        let dir = TempDir()
        let common = [
            "evaluate", adapter, "--model", RealModels.miniLM, "--task", "sst2", "--limit", "300", "--bootstrap", "40",
        ]
        let full = try bayeval(
            common + ["--output", dir.path + "/full/run.json", "--predictions", dir.path + "/full/p.jsonl"])
        #expect(full.status == 0, "\(full.stderr)")
        for i in 0..<3 {
            let s = dir.path + "/s\(i)"
            let r = try bayeval(
                common + ["--shard", "\(i)/3", "--output", s + "/run.json", "--predictions", s + "/p.jsonl"])
            #expect(r.status == 0, "\(r.stderr)")
        }
        let merged = dir.path + "/merged/run.json"
        let m = try bayeval(["merge", dir.path + "/s2", dir.path + "/s0", dir.path + "/s1", "--output", merged])
        #expect(m.status == 0, "\(m.stderr)")
        let a = try RunRecord.read(from: dir.path + "/full/run.json"), b = try RunRecord.read(from: merged)
        #expect(a.results == b.results)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(
            positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        #expect(try encoder.encode(a.results) == encoder.encode(b.results), "the metrics' bytes differ")
        #expect(b.configuration["shard"] == nil && b.configuration["limit"] == "300")

        // Interrupted in the middle of its second chunk (128 examples each): resumed, that chunk is scored
        // again whole, so the metrics are the uninterrupted run's to the last bit.
        let cut = dir.path + "/cut"
        try FileManager.default.createDirectory(atPath: cut, withIntermediateDirectories: true)
        let lines = try String(contentsOfFile: dir.path + "/full/p.jsonl", encoding: .utf8).split(separator: "\n")
        try (lines.prefix(170).joined(separator: "\n") + "\n").write(
            toFile: cut + "/p.jsonl", atomically: true, encoding: .utf8)
        let resumed = try bayeval(
            common + ["--output", cut + "/run.json", "--predictions", cut + "/p.jsonl", "--resume"])
        #expect(resumed.status == 0 && resumed.stderr.contains("resuming: 128 of 300"), "\(resumed.stderr)")
        #expect(try encoder.encode(RunRecord.read(from: cut + "/run.json").results) == encoder.encode(a.results))

        let missing = try bayeval(["merge", dir.path + "/s0", dir.path + "/s2", "--output", dir.path + "/m2/run.json"])
        #expect(missing.status != 0 && missing.stderr.contains("missing shard(s) 1/3"), "\(missing.stderr)")
        let twice = try bayeval([
            "merge", dir.path + "/s0", dir.path + "/s1", dir.path + "/s1", dir.path + "/s2", "--output",
            dir.path + "/m3/run.json",
        ])
        #expect(twice.status != 0 && twice.stderr.contains("the same slice given twice"), "\(twice.stderr)")
        let tooMany = try bayeval(common + ["--shard", "3/4", "--output", dir.path + "/x/run.json"])
        #expect(tooMany.status != 0 && tooMany.stderr.contains("at most 3 shard(s)"), "\(tooMany.stderr)")
        let badShard = try bayeval(common + ["--shard", "3/3"])
        #expect(badShard.status != 0 && badShard.stderr.contains("numbered 0 to 2"), "\(badShard.stderr)")
    }

    func startRunJob(_ plan: String, index: Int) throws -> Process {
        let p = Process()
        p.executableURL = bayevalBinary
        p.arguments = ["run-job", plan, "--index", String(index)]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        return p
    }

    func waitFor(seconds: Double, _ condition: () -> Bool) throws {
        let deadline = Date().addingTimeInterval(seconds)
        while !condition() {
            guard Date() < deadline else { throw CLIFailure("timed out after \(seconds) s") }
            usleep(20_000)
        }
    }
}

struct CLIFailure: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}
