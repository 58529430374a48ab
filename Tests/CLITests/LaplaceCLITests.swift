import Foundation
import Records
import Testing
import TestModels

/// `bayeval laplace` end to end on the real SmolLM2 with the small seeded adapter (two structures and two
/// links in one run, the run record's Laplace rows, the predictions file, bad input refused) and on MiniLM
/// with its SST-2 adapter and saved head (last-layer Laplace, layerwise and grid priors, a saved posterior
/// evaluated again by `evaluate --predictive`, weight samples).
@Suite struct LaplaceCLITests {
    let gguf = RealModels.smolLM2
    let adapter = fixture("adapters/smollm2-random-qv")

    @Test(.enabled(if: RealModels.smolLM2Enabled, Comment(rawValue: RealModels.smolLM2Note)))
    func fitsTwoStructuresAndWritesTheirRows() throws {
        let dir = TempDir()
        let r = try bayeval([
            "laplace", adapter, "--model", gguf, "--task", "obqa", "--fit-split", "train", "--fit-limit", "3",
            "--limit", "3", "--hessian", "kron,diag", "--link", "probit,bridge", "--output", dir.path + "/run.json",
            "--predictions", dir.path + "/p.jsonl",
        ])
        #expect(r.status == 0, "\(r.stderr)")
        for label in [
            "MAP", "Laplace kron probit", "Laplace kron bridge", "Laplace diag probit", "Laplace diag bridge",
        ] {
            #expect(r.stdout.contains(label), "\(label) missing from \(r.stdout)")
        }
        let run = try RunRecord.read(from: dir.path + "/run.json")
        #expect(run.command == .laplace && run.results.count == 5)
        let laplace = run.results.dropFirst().compactMap(\.method.laplace)
        #expect(laplace.count == 4 && laplace.allSatisfy { $0.priorPrecision > 0 && $0.logMarginalLikelihood.isFinite })
        #expect(laplace.map(\.hessian) == ["kron", "kron", "diag", "diag"])
        #expect(laplace.allSatisfy { $0.fitExamples == 3 && $0.parameterCount > 0 && $0.priorMethod == "marglik" })
        // One line per example and row, each naming its row.
        let lines = try String(contentsOfFile: dir.path + "/p.jsonl", encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 3 * 5)
        #expect(lines.filter { $0.contains("\"method\":\"Laplace diag bridge\"") }.count == 3)
    }

    @Test(.enabled(if: RealModels.smolLM2Enabled, Comment(rawValue: RealModels.smolLM2Note)))
    func badSettingsAreRefusedBeforeAnyWork() throws {
        let base = ["laplace", adapter, "--model", gguf, "--task", "obqa", "--limit", "2", "--fit-limit", "2"]
        for (extra, message) in [
            (["--prior", "fixed", "--prior-precision", "0"], "--prior-precision X with X > 0"),
            (["--prior", "fixed", "--prior-precision", "nan"], "--prior-precision X with X > 0"),
            (["--hessian", "kron,banana"], "--hessian takes"),
            (["--link", "probit,probit"], "--link takes"),
            (["--hessian", "full"], "a full Hessian over"),
            (["--fit-split", "nosuch"], "unknown --fit-split"),
            (["--subset", "head"], "no saved head"),
            (["--prior-structure", "layerwise", "--prior", "fixed", "--prior-precision", "1"], "one prior precision"),
        ] {
            let r = try bayeval(base + extra)
            #expect(r.status != 0 && r.stderr.contains(message), "\(extra): \(r.stderr)")
        }
    }

    let miniLMAdapter = fixture("trained/minilm-sst2")

    func miniLM(_ extra: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
        let r = try bayeval(
            [
                "laplace", miniLMAdapter, "--model", RealModels.miniLM, "--task", "sst2", "--split", "validation",
                "--limit", "6", "--fit-limit", "8",
            ] + extra)
        return (r.status, r.stdout, r.stderr)
    }

    /// The saved posterior predicts what the fit predicted: the same rows, the same probabilities; with
    /// MiniLM's 384- and 1536-wide factors sketched too (their Householder bases saved and read back).
    @Test(
        .enabled(if: RealModels.miniLMEnabled, Comment(rawValue: RealModels.miniLMNote)),
        arguments: [[], ["--max-factor-dim", "256", "--factor-rank", "48"]])
    func aSavedPosteriorIsEvaluatedWithoutRefitting(_ sketch: [String]) throws {
        let dir = TempDir()
        let posterior = dir.path + "/posterior"
        let fit = try miniLM(
            [
                "--hessian", "kron,diag", "--link", "probit,bridge", "--save-posterior", posterior,
                "--predictions", dir.path + "/fit.jsonl", "--output", dir.path + "/fit.json",
            ] + sketch)
        #expect(fit.status == 0, "\(fit.stderr)")
        #expect(FileManager.default.fileExists(atPath: posterior + "/laplace_posterior.safetensors"))
        // The safetensors header (JSON at the start of the file) names a sketched factor's reflectors.
        let header = String(
            decoding: try Data(contentsOf: URL(fileURLWithPath: posterior + "/laplace_posterior.safetensors"))
                .prefix(1 << 16), as: UTF8.self)
        #expect(header.contains(".reflectors\"") == !sketch.isEmpty)
        let again = try bayeval([
            "evaluate", posterior, "--model", RealModels.miniLM, "--task", "sst2", "--split", "validation",
            "--limit", "6", "--predictive", "glm", "--link", "probit,bridge", "--predictions",
            dir.path + "/again.jsonl",
            "--output", dir.path + "/again.json",
        ])
        #expect(again.status == 0, "\(again.stderr)")
        let first = try RunRecord.read(from: dir.path + "/fit.json"),
            second = try RunRecord.read(from: dir.path + "/again.json")
        #expect(first.results.map(\.method.label) == second.results.map(\.method.label))
        for (a, b) in zip(first.results, second.results) {
            #expect(abs(a.metrics.nll - b.metrics.nll) < 1e-6, "\(a.method.label)")
            #expect(a.method.laplace?.priorPrecision == b.method.laplace?.priorPrecision)
        }
        #expect(
            try String(contentsOfFile: dir.path + "/fit.jsonl", encoding: .utf8)
                == String(contentsOfFile: dir.path + "/again.jsonl", encoding: .utf8))
        // Weight samples: one row per structure, labelled nn. No --model: the adapter's base is a hub name, so the
        // model the fit recorded in the posterior is taken.
        let nn = try bayeval([
            "evaluate", posterior, "--task", "sst2", "--split", "validation",
            "--limit", "3", "--predictive", "nn", "--samples", "4", "--output", dir.path + "/nn.json",
        ])
        #expect(nn.status == 0, "\(nn.stderr)")
        let sampled = try RunRecord.read(from: dir.path + "/nn.json")
        #expect(sampled.results.map(\.method.label) == ["MAP", "Laplace kron nn", "Laplace diag nn"])
        #expect(
            sampled.results.dropFirst().allSatisfy { $0.method.laplace?.predictive == "nn" && $0.method.samples == 4 })
        // A saved diagonal with a negative eigenvalue (no fit writes one) is refused, naming the structure.
        let saved = URL(fileURLWithPath: posterior + "/laplace_posterior.safetensors")
        let original = try Data(contentsOf: saved)
        let headerLength = original.prefix(8).enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        let json = try #require(
            try JSONSerialization.jsonObject(with: original.subdata(in: 8..<(8 + headerLength))) as? [String: Any])
        let offsets = try #require((json["diag.diagonal"] as? [String: Any])?["data_offsets"] as? [Int])
        var negative = original
        withUnsafeBytes(of: (-1.0).bitPattern.littleEndian) {
            negative.replaceSubrange(
                (8 + headerLength + offsets[0])..<(16 + headerLength + offsets[0]), with: $0)
        }
        try negative.write(to: saved)
        let bad = try bayeval([
            "evaluate", posterior, "--model", RealModels.miniLM, "--task", "sst2", "--split", "validation",
            "--limit", "3", "--predictive", "glm",
        ])
        #expect(
            bad.status != 0 && bad.stderr.contains("eigenvalues are negative") && bad.stderr.contains("diag"),
            "\(bad.stderr)")
        try original.write(to: saved)
        // A posterior whose adapter changed is refused by its digest.
        let weights = posterior + "/adapter_model.safetensors"
        var bytes = try Data(contentsOf: URL(fileURLWithPath: weights))
        bytes[bytes.count - 1] ^= 0x01
        try bytes.write(to: URL(fileURLWithPath: weights))
        let stale = try bayeval([
            "evaluate", posterior, "--model", RealModels.miniLM, "--task", "sst2", "--split", "validation",
            "--limit", "3", "--predictive", "glm",
        ])
        #expect(stale.status != 0 && stale.stderr.contains("fitted for another adapter"), "\(stale.stderr)")
    }

    @Test(.enabled(if: RealModels.miniLMEnabled, Comment(rawValue: RealModels.miniLMNote)))
    func headSubsetLayerwiseAndGridPriors() throws {
        let dir = TempDir()
        let head = try miniLM(["--subset", "head", "--hessian", "kron,diag", "--output", dir.path + "/head.json"])
        #expect(head.status == 0, "\(head.stderr)")
        let run = try RunRecord.read(from: dir.path + "/head.json")
        // The pooler (384×384 + 384) and the classifier (2×384 + 2) the adapter saves.
        #expect(run.results.dropFirst().allSatisfy { $0.method.laplace?.parameterCount == 147_840 + 770 })
        #expect(run.results.dropFirst().allSatisfy { $0.method.laplace?.subset == "head" })

        let layerwise = try miniLM([
            "--hessian", "diag", "--prior-structure", "layerwise", "--output", dir.path + "/l.json",
        ])
        #expect(layerwise.status == 0, "\(layerwise.stderr)")
        let details = try #require(try RunRecord.read(from: dir.path + "/l.json").results.last?.method.laplace)
        // 24 LoRA tensors (query and value of 6 layers, A and B) and the two heads' weights and biases.
        #expect(details.priorStructure == "layerwise" && details.priorPrecisions?.count == 28)

        let grid = try miniLM([
            "--hessian", "diag", "--prior", "grid", "--prior-split", "train", "--prior-limit", "4",
            "--output", dir.path + "/g.json",
        ])
        #expect(grid.status == 0, "\(grid.stderr)")
        let chosen = try #require(try RunRecord.read(from: dir.path + "/g.json").results.last?.method.laplace)
        #expect(chosen.priorMethod == "grid" && chosen.priorPrecision >= 1e-4 && chosen.priorPrecision <= 1e4)

        for (extra, message) in [
            (["--hessian", "full", "--subset", "head"], "a full Hessian over"),
            (["--prior-structure", "layerwise", "--hessian", "full", "--subset", "cores"], "no LoRA-XS cores"),
            (["--prior", "grid", "--predictive", "nn"], "--prior grid scores the GLM predictive"),
            (["--save-posterior", miniLMAdapter + "/"], "the adapter's own directory"),
            (["--subset", "lm-head"], "no LoRA on lm_head"),
            (["--max-factor-dim", "256", "--factor-rank", "256"], "--factor-rank must be positive and below"),
        ] {
            let r = try miniLM(extra)
            #expect(r.status != 0 && r.stderr.contains(message), "\(extra): \(r.stderr)")
        }
    }

    /// An interrupted run resumes: the saved fit is reused, the examples the predictions file holds whole
    /// are not predicted again, one cut off mid-write is, and the numbers are those of an uninterrupted run
    /// up to round-off.
    @Test(.enabled(if: RealModels.miniLMEnabled, Comment(rawValue: RealModels.miniLMNote)))
    func anInterruptedRunResumesToTheSameNumbers() throws {
        let dir = TempDir()
        let settings = [
            "--hessian", "kron", "--link", "probit,mc", "--samples", "500", "--save-posterior", dir.path + "/post",
            "--predictions", dir.path + "/p.jsonl",
        ]
        let whole = try miniLM(settings + ["--output", dir.path + "/whole.json"])
        #expect(whole.status == 0, "\(whole.stderr)")
        // Keep 2 of 6 examples (3 lines each) and half a line of the third.
        let lines = try String(contentsOfFile: dir.path + "/p.jsonl", encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 6 * 3)
        let kept = lines.prefix(7).joined(separator: "\n")
        try (String(kept.dropLast(20))).write(toFile: dir.path + "/p.jsonl", atomically: true, encoding: .utf8)
        let resumed = try miniLM(settings + ["--resume", "--output", dir.path + "/resumed.json"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(resumed.stderr.contains("is reused") && resumed.stderr.contains("2 of 6 examples"), "\(resumed.stderr)")
        let a = try RunRecord.read(from: dir.path + "/whole.json"),
            b = try RunRecord.read(from: dir.path + "/resumed.json")
        #expect(b.resumedExamples == 2)
        // The resumed examples run in other batches, which moves float sums by round-off only.
        for (x, y) in zip(a.results, b.results) {
            #expect(x.metrics.accuracy == y.metrics.accuracy, "\(x.method.label)")
            for (u, v) in [
                (x.metrics.nll, y.metrics.nll), (x.metrics.ece, y.metrics.ece), (x.metrics.brier, y.metrics.brier),
            ] {
                #expect(abs(u - v) <= 1e-6, "\(x.method.label): \(u) vs \(v)")
            }
        }
        #expect(try String(contentsOfFile: dir.path + "/p.jsonl", encoding: .utf8).split(separator: "\n").count == 18)
        // Other settings do not reuse the fit.
        let other = try miniLM(settings.map { $0 == "kron" ? "diag" : $0 } + ["--resume"])
        #expect(other.status != 0 && other.stderr.contains("fitted with other data or settings"), "\(other.stderr)")
        // A line with another label, or with its probabilities gone, is refused, not taken as done.
        let whole18 = try String(contentsOfFile: dir.path + "/p.jsonl", encoding: .utf8).split(separator: "\n")
        let first = try #require(whole18.first.map(String.init))
        let label = try #require(first.firstRange(of: "\"label\":")).upperBound
        let flipped = first[label] == "0" ? "1" : "0"
        for (broken, message) in [
            (first.replacingCharacters(in: label...label, with: flipped), "the dataset's is"),
            (first.replacing(#/"probs":\[[^\]]*\]/#, with: "\"probs\":null"), "probs are missing"),
        ] {
            try ([broken] + whole18.dropFirst().map(String.init)).joined(separator: "\n")
                .write(toFile: dir.path + "/p.jsonl", atomically: true, encoding: .utf8)
            let r = try miniLM(settings + ["--resume", "--output", dir.path + "/broken.json"])
            #expect(r.status != 0 && r.stderr.contains(message) && r.stderr.contains("p.jsonl"), "\(r.stderr)")
        }
    }
}
