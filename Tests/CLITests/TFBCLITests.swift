import Foundation
import Records
import Testing
import TestModels

/// `bayeval tfb` end to end on the real SmolLM2 with a small seeded adapter (fixtures/adapters/smollm2-random-qv):
/// a short search, the MAP and TFB rows, the run record, the saved posterior evaluated by `evaluate --samples`.
@Suite struct TFBCLITests {
    let gguf = RealModels.smolLM2
    let adapter = fixture("adapters/smollm2-random-qv")

    @Test(.enabled(if: RealModels.smolLM2Enabled, Comment(rawValue: RealModels.smolLM2Note)))
    func searchSaveAndEvaluateThePosterior() throws {
        let dir = TempDir()
        let args = [
            "tfb", adapter, "--model", gguf, "--task", "obqa", "--anchor-size", "6", "--steps", "1", "--samples", "2",
            "--limit", "4", "--seed", "3", "--output", dir.path + "/run.json", "--save-posterior", dir.path + "/post",
        ]
        let r = try bayeval(args)
        #expect(r.status == 0, "\(r.stderr)")
        // The search brackets itself first: σ_min accepted, σ_max violated, then one log-scale bisection.
        #expect(r.stdout.contains("σ = 0.001000  nll") && r.stdout.contains("σ = 0.015000  nll"), "\(r.stdout)")
        #expect(r.stdout.contains("σ = 0.003873") && r.stdout.contains("MAP") && r.stdout.contains("TFB"))
        let run = try RunRecord.read(from: dir.path + "/run.json")
        let sigma = try #require(run.tfbSearch?.sigma)
        #expect(run.tfbSearch?.steps.count == 3 && run.configuration["seed"] == "3" && run.command == .tfb)
        #expect(run.results.map(\.method.kind) == [.lora, .tfb] && run.results[1].method.sigma == sigma)
        #expect(run.inputs.contains { $0.role == "data" } && run.inputs.contains { $0.role == "adapter" })
        // Same seed, same σ and metrics.
        let again = try bayeval(args.dropLast(4) + ["--output", dir.path + "/run2.json"])
        #expect(try RunRecord.read(from: dir.path + "/run2.json").tfbSearch?.sigma == sigma)
        #expect(again.stdout == r.stdout)
        // The saved posterior is a BLoB-convention adapter that evaluate samples from.
        let inspect = try bayeval(["inspect", dir.path + "/post", "--json"])
        #expect(((try jsonObject(inspect.stdout))["adapter"] as? [String: Any])?["hasBLoBRho"] as? Bool == true)
        let ev = try bayeval([
            "evaluate", dir.path + "/post", "--model", gguf, "--task", "obqa", "--limit", "4", "--samples", "2",
        ])
        #expect(ev.status == 0, "\(ev.stderr)")
        #expect(ev.stdout.contains("TFB (N=2)"))
    }

    /// The same on an encoder (MiniLM with the SST-2 adapter `bayeval train` made): the MAP row is
    /// `evaluate`'s, the search samples the patches (the classifier stays deterministic), and the
    /// saved posterior, evaluated with the same seed and sample count, gives the TFB row again (to 1e-5:
    /// σ round-trips through rho = √std, and batches are composed differently).
    @Test(.enabled(if: RealModels.miniLMEnabled, Comment(rawValue: RealModels.miniLMNote)))
    func encoderSearchSaveAndEvaluate() throws {
        let dir = TempDir()
        let adapter = fixture("trained/minilm-sst2")
        let common = ["--model", RealModels.miniLM, "--task", "sst2", "--limit", "64", "--seed", "3"]
        let r = try bayeval(
            ["tfb", adapter] + common + [
                "--anchor-size", "32", "--steps", "1", "--samples", "3", "--output", dir.path + "/run.json",
                "--save-posterior", dir.path + "/post",
            ])
        #expect(r.status == 0, "\(r.stderr)")
        let run = try RunRecord.read(from: dir.path + "/run.json")
        #expect(run.results.map(\.method.kind) == [.lora, .tfb], "\(run.results.map(\.method))")
        let (map, tfb) = (run.results[0].metrics, run.results[1].metrics)
        #expect(abs(map.nll - tfb.nll) > 1e-6, "the samples changed nothing")

        // The MAP row runs the reparametrised adapter (B' = U diag(d), A' = VᵀA: the same product to rounding).
        let plain = try bayeval(["evaluate", adapter] + common + ["--output", dir.path + "/map.json"])
        #expect(plain.status == 0, "\(plain.stderr)")
        let evaluated = try RunRecord.read(from: dir.path + "/map.json").results[0].metrics
        #expect(evaluated.accuracy == map.accuracy && abs(evaluated.nll - map.nll) < 1e-5, "\(evaluated) vs \(map)")

        let ev = try bayeval(
            ["evaluate", dir.path + "/post"] + common + ["--samples", "3", "--output", dir.path + "/post.json"])
        #expect(ev.status == 0, "\(ev.stderr)")
        let again = try RunRecord.read(from: dir.path + "/post.json").results[0].metrics
        for (name, a, b) in [
            ("nll", tfb.nll, again.nll), ("ece", tfb.ece, again.ece), ("brier", tfb.brier, again.brier),
        ] {
            #expect(abs(a - b) < 1e-5, "\(name): tfb \(a), evaluate of the saved posterior \(b)")
        }
    }

    @Test(.enabled(if: RealModels.smolLM2Enabled, Comment(rawValue: RealModels.smolLM2Note)))
    func sweepWritesAPlot() throws {
        let dir = TempDir()
        // The output folder does not exist yet: it is made before the sweep starts.
        let out = dir.path + "/runs/a/sweep.json"
        let r = try bayeval([
            "tfb", adapter, "--model", gguf, "--task", "obqa", "--limit", "3", "--samples", "2",
            "--sigmas", "0.002,0.0045", "--output", out, "--predictions", dir.path + "/p.jsonl",
            "--bootstrap", "20",
        ])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("TFB σ=0.002") && r.stdout.contains("TFB σ=0.0045"))
        #expect(
            r.stderr.contains("σ=0.0045") && !(r.stdout + r.stderr).contains("0.0045000000000000005"), "\(r.stderr)")
        let svg = try String(contentsOfFile: dir.path + "/runs/a/sweep-sweep.svg", encoding: .utf8)
        #expect(svg.hasPrefix("<svg") && svg.contains("polyline"))
        // --predictions: one file per σ, an example per line.
        for sigma in ["0.002", "0.0045"] {
            let lines = try String(contentsOfFile: dir.path + "/p.sigma-\(sigma).jsonl", encoding: .utf8).split(
                separator: "\n")
            #expect(lines.count == 3, "σ=\(sigma): \(lines.count) lines")
        }
        // --bootstrap: intervals for every row, in the table and the run record.
        #expect(r.stdout.contains("95% bootstrap intervals (TFB σ=0.0045)"))
        let results = try RunRecord.read(from: out).results
        #expect(results.count == 3 && results.allSatisfy { $0.intervals.count == 4 })
        #expect(results.compactMap(\.method.sigma) == [0.002, 0.0045])
    }

    /// Output paths are checked before any model is loaded: a directory given as --output, or a folder that
    /// cannot be made, fails at once with the path named (no raw Foundation error).
    @Test func unusableOutputPathsFailBeforeAnyWork() throws {
        let dir = TempDir()
        let isDirectory = try bayeval([
            "tfb", adapter, "--model", "missing.gguf", "--task", "obqa", "--output", dir.path,
        ])
        #expect(isDirectory.status != 0 && isDirectory.stderr.contains("is a directory"), "\(isDirectory.stderr)")
        let file = dir.write("plain.txt", Data("x".utf8))
        let underFile = try bayeval([
            "evaluate", "--model", "missing.gguf", "--task", "obqa",
            "--predictions", file + "/p.jsonl",
        ])
        #expect(
            underFile.status != 0 && underFile.stderr.contains(file)
                && !underFile.stderr.contains("NSCocoaErrorDomain"),
            "\(underFile.stderr)")
        let posterior = try bayeval([
            "tfb", adapter, "--model", "missing.gguf", "--task", "obqa", "--save-posterior", file,
        ])
        #expect(posterior.status != 0 && posterior.stderr.contains("not a directory"), "\(posterior.stderr)")
    }

    /// bayesian-peft's OOD runs: σ fixed (--sigma, no search) on an OBQA adapter, tested on ARC-Easy; the
    /// predictions file holds labelled MAP and TFB lines for compare.
    @Test(.enabled(if: RealModels.smolLM2Enabled, Comment(rawValue: RealModels.smolLM2Note)))
    func fixedSigmaOnAnotherTask() throws {
        let dir = TempDir()
        let r = try bayeval([
            "tfb", adapter, "--model", gguf, "--task", "arc-e", "--anchor-task", "obqa", "--sigma", "0.004",
            "--samples", "2", "--limit", "3", "--output", dir.path + "/run.json", "--predictions",
            dir.path + "/p.jsonl",
        ])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.contains("fixed by --sigma") && !r.stdout.contains("σ = 0.001000"), "\(r.stdout)")
        let run = try RunRecord.read(from: dir.path + "/run.json")
        #expect(run.tfbSearch == nil && run.results.last?.method.sigma == 0.004)
        #expect(run.configuration["anchor_task"] == "obqa" && run.configuration["task"] == "arc-e")
        let lines = try String(contentsOfFile: dir.path + "/p.jsonl", encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 6 && lines.filter { $0.contains("\"method\":\"TFB\"") }.count == 3)
    }

    @Test func badOptions() throws {
        let task = try bayeval(["tfb", adapter, "--model", "x", "--task", "obqa", "--anchor-task", "squad"])
        #expect(task.status != 0 && task.stderr.contains("--anchor-task"), "\(task.stderr)")
        let both = try bayeval(["tfb", adapter, "--model", "x", "--task", "obqa", "--sigma", "0.1", "--sigmas", "0.1"])
        #expect(both.status != 0 && both.stderr.contains("--sigma"), "\(both.stderr)")
        let grid = try bayeval(["tfb", adapter, "--model", "x", "--task", "obqa", "--sigma-grid", "0.1:0.01:3"])
        #expect(grid.status != 0 && grid.stderr.contains("--sigma-grid"))
        let sweepSave = try bayeval([
            "tfb", adapter, "--model", "x", "--task", "obqa", "--sigmas", "0.01",
            "--save-posterior", "post",
        ])
        #expect(sweepSave.status != 0 && sweepSave.stderr.contains("--save-posterior"), "\(sweepSave.stderr)")
        let crit = try bayeval(["tfb", adapter, "--model", "x", "--task", "obqa", "--criterion", "kl"])
        #expect(crit.status != 0 && crit.stderr.contains("nll or flip"))
        let plain = try bayeval([
            "evaluate", adapter, "--model", gguf, "--task", "obqa", "--limit", "2", "--samples", "3",
        ])
        if RealModels.smolLM2Enabled { #expect(plain.status != 0 && plain.stderr.contains("lora_A_rho")) }
    }
}
