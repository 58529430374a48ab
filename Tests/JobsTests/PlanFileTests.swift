import Foundation
import Jobs
import Loaders
import Records
import Testing

/// The plan file and array script on their own: what a plan edited by hand into something else is
/// answered with, and the array specs Slurm is given.
@Suite struct PlanFileTests {
    func job(_ index: Int, directory: String? = nil) -> PlannedJob {
        let dir = directory ?? "/out/a/seed\(index)/map"
        let checkpoint = Checkpoint(
            path: "/tree/a/seed\(index)", relativePath: "a/seed\(index)", task: .sst2, taskSource: "path", seed: index,
            training: "map", hasPosterior: false)
        var j = PlannedJob(
            index: index, checkpoint: checkpoint, model: "m", split: "validation", method: "map", directory: dir,
            arguments: [
                "evaluate", "/tree/a", "--output", dir + "/run.json", "--predictions", dir + "/predictions.jsonl",
            ],
            skipReason: nil, resumes: true, inputs: [], tree: "/tree", outputRoot: "/out", workingDirectory: "/")
        j.inputHash = String(repeating: "ab", count: 32)
        return j
    }

    func temporary() -> String {
        NSTemporaryDirectory() + "bayeval-plan-\(UUID().uuidString).jsonl"
    }

    @Test func roundTripsAndRelativeRunRecord() throws {
        let path = temporary()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let jobs = [job(0), job(1)]
        try PlanFile.write(jobs, to: path)
        #expect(try PlanFile.read(path) == jobs)
        #expect(jobs[1].relativeRunRecord == "a/seed1/map/run.json")
    }

    @Test func editedLinesAreRefusedByLine() throws {
        let path = temporary()
        defer { try? FileManager.default.removeItem(atPath: path) }
        try PlanFile.write([job(0), job(1), job(2)], to: path)
        let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map(String.init)
        func refusal(_ edited: [String]) -> String {
            try? (edited.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
            do {
                _ = try PlanFile.read(path)
                return "accepted"
            } catch { return "\(error)" }
        }
        #expect(refusal([lines[0], "{not json", lines[2]]).contains("line 2: not a job"))
        let noArguments = lines[1].replacingOccurrences(of: #""directory""#, with: #""folder""#)
        #expect(refusal([lines[0], noArguments, lines[2]]).contains("line 2: not a job: missing 'directory'"))
        #expect(refusal([lines[0], lines[2]]).contains("line 2: index 2 on the job of array index 1"))
        let otherCommand = lines[2].replacingOccurrences(of: #"["evaluate","#, with: #"["rm","#)
        #expect(refusal([lines[0], lines[1], otherCommand]).contains("line 3: the command 'rm'"))
        let badHash = lines[0].replacingOccurrences(of: String(repeating: "ab", count: 32), with: "xyz")
        #expect(refusal([badHash, lines[1], lines[2]]).contains("line 1: inputHash 'xyz'"))
        let movedOutput = lines[0].replacingOccurrences(of: "seed0/map/run.json", with: "elsewhere/run.json")
        #expect(
            refusal([movedOutput, lines[1], lines[2]]).contains("line 1: --output is not /out/a/seed0/map/run.json"))
        #expect(refusal([]).contains("the plan has no jobs"))
    }

    @Test func twoJobsInOneFolderAreRefused() throws {
        let path = temporary()
        let clash = job(1, directory: "/out/a/seed0/map")
        #expect(throws: UsageError.self) { try PlanFile.write([job(0), clash], to: path) }
        #expect(!FileManager.default.fileExists(atPath: path))
    }

    @Test func arraySpecs() throws {
        #expect(ArrayScript.arraySpec([0, 1, 2, 5, 7, 8]) == "0-2,5,7-8")
        #expect(ArrayScript.arraySpec([3]) == "3")
        var s = ArrayScript()
        s.parallel = 2
        s.gres = "gpu:1"
        let text = s.render(
            plan: "/p/plan.jsonl", indices: Array(0..<12), executable: "/bin/bayeval", workingDirectory: "/p",
            logFolder: "/p/runs/slurm", note: "test")
        #expect(text.contains("#SBATCH --array=0-11%2\n") && text.contains("#SBATCH --gres=gpu:1\n"))
        #expect(text.contains(#"exec /bin/bayeval run-job /p/plan.jsonl --index "$SLURM_ARRAY_TASK_ID""#))
        #expect(!text.contains("--partition") && !text.contains("--account"))
        let again = try ArrayScript.resubmission(of: text, indices: [4, 9, 10], file: "x")
        #expect(again.contains("#SBATCH --array=4,9-10%2\n") && !again.contains("0-11"))
        #expect(throws: UsageError.self) { try ArrayScript.resubmission(of: "#!/bin/bash\n", indices: [1], file: "x") }
    }

    @Test func shardsCoverTheSplitOnce() throws {
        for total in [0, 1, 7, 100] {
            for n in 1...5 {
                let ranges = (0..<n).map { Shard(index: $0, count: n).range(of: total) }
                #expect(ranges.first?.lowerBound == 0 && ranges.last?.upperBound == total)
                for (a, b) in zip(ranges, ranges.dropFirst()) { #expect(a.upperBound == b.lowerBound) }
                #expect(ranges.map(\.count).max()! - ranges.map(\.count).min()! <= 1)
            }
        }
        #expect(try Shard(parsing: "2/4") == Shard(index: 2, count: 4))
        for bad in ["4/4", "-1/2", "1", "a/b", "0/0"] {
            #expect(throws: UsageError.self) { try Shard(parsing: bad) }
        }
    }

    /// The hash covers the program, the arguments and the files' contents, not their times.
    @Test func inputHashCoversProgramArgumentsAndContent() throws {
        let file = temporary()
        defer { try? FileManager.default.removeItem(atPath: file) }
        try "weights".write(toFile: file, atomically: true, encoding: .utf8)
        let inputs = [JobInput(role: "adapter", path: file)]
        let base = try InputHasher(program: "bayeval 1").hash(arguments: ["evaluate"], inputs: inputs)
        #expect(try InputHasher(program: "bayeval 2").hash(arguments: ["evaluate"], inputs: inputs) != base)
        #expect(try InputHasher(program: "bayeval 1").hash(arguments: ["tfb"], inputs: inputs) != base)
        try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSince1970: 0)], ofItemAtPath: file)
        #expect(try InputHasher(program: "bayeval 1").hash(arguments: ["evaluate"], inputs: inputs) == base)
        try "weightz".write(toFile: file, atomically: true, encoding: .utf8)
        #expect(try InputHasher(program: "bayeval 1").hash(arguments: ["evaluate"], inputs: inputs) != base)
        #expect(throws: LoadError.self) {
            try InputHasher(program: "bayeval 1").hash(
                arguments: [], inputs: [JobInput(role: "model", path: file + "x")])
        }
    }
}
