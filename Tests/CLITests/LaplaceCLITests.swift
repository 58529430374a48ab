import Foundation
import Records
import Testing
import TestModels

/// `bayeval laplace` end to end on the real SmolLM2 with the small seeded adapter: two structures and two
/// links in one run, the run record's Laplace rows, the predictions file, and bad input refused.
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
        ] {
            let r = try bayeval(base + extra)
            #expect(r.status != 0 && r.stderr.contains(message), "\(extra): \(r.stderr)")
        }
    }
}
