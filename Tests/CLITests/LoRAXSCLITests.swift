import Foundation
import Loaders
import Records
import Testing
import TestModels

/// `bayeval train --loraxs` end to end on the real MiniLM: a W-SVD run that is interrupted and resumed
/// bit-identically and records how its bases were made, `laplace --subset cores` (full by default) and
/// `evaluate` on it, L-LoRA-S's trained bases, and the refusals, each naming the layer or the setting.
@Suite(.serialized) struct LoRAXSCLITests {
    let minilm = RealModels.miniLM
    var common: [String] {
        [
            "train", "--model", minilm, "--task", "rte", "--steps", "3", "--batch-size", "4", "--train-limit", "24",
            "--eval-limit", "8", "--lr", "1e-2", "--seed", "5", "--loraxs",
        ]
    }

    func tensors(_ directory: String) throws -> (SafeTensorsFile, [String: [Float]]) {
        let file = try SafeTensorsFile(path: directory + "/adapter_model.safetensors")
        return (file, Dictionary(uniqueKeysWithValues: try file.names.map { ($0, try file.floats($0)) }))
    }

    @Test(.enabled(if: RealModels.miniLMEnabled, Comment(rawValue: RealModels.miniLMNote)))
    func trainsWSVDResumesAndFitsTheCores() throws {
        let tmp = TempDir()
        let straight = tmp.path + "/straight", resumed = tmp.path + "/resumed"
        let wsvd = common + ["--projection", "wsvd", "--covariance-batches", "6"]
        let r = try bayeval(wsvd + ["--output", straight])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.contains("LoRA-XS wsvd bases at r=8 for 12 layers"), "\(r.stderr)")
        let (file, values) = try tensors(straight)
        #expect(file.metadata["bayeval_loraxs"] == "wsvd" && file.metadata["bayeval_train_bases"] == "false")
        #expect(file.metadata["bayeval_covariance"]?.contains("first 6 batches of 4") == true, "\(file.metadata)")
        #expect(file.metadata["bayeval_projection_error"]?.contains("over 12 layers") == true)
        let cores = values.keys.filter { $0.hasSuffix("default_lora_latent_mapping.weight") }
        #expect(cores.count == 12 && cores.allSatisfy { values[$0]?.count == 64 })
        #expect(try RunRecord.read(from: straight + "/run.json").results.map(\.method.kind) == [.base, .loraXS])

        let first = try bayeval(wsvd + ["--output", resumed, "--stop-after", "1"])
        #expect(first.status == 0, "\(first.stderr)")
        let second = try bayeval(wsvd + ["--output", resumed, "--resume"])
        #expect(second.status == 0, "\(second.stderr)")
        #expect(try tensors(resumed).1 == values, "an interrupted and resumed LoRA-XS run must end the same")
        let plain = try bayeval(
            common.filter { $0 != "--loraxs" } + ["--output", resumed, "--resume"])
        #expect(plain.status != 0 && plain.stderr.contains("LoRA-XS"), "\(plain.stderr)")

        let l = try bayeval([
            "laplace", straight, "--task", "rte", "--split", "validation", "--subset", "cores", "--fit-limit", "8",
            "--limit", "8",
            "--output", tmp.path + "/laplace.json",
        ])
        #expect(l.status == 0 && l.stdout.contains("Laplace full probit"), "\(l.stderr)")
        let laplace = try RunRecord.read(from: tmp.path + "/laplace.json").results.compactMap(\.method.laplace)
        #expect(laplace.first?.parameterCount == 12 * 64, "\(laplace)")
        let e = try bayeval(["evaluate", straight, "--task", "rte", "--split", "validation", "--limit", "8"])
        #expect(e.status == 0 && e.stdout.contains("LoRA-XS"), "\(e.stderr)\(e.stdout)")
    }

    /// --train-bases: A and B leave their projected values; without it they stay exactly as projected.
    @Test(.enabled(if: RealModels.miniLMEnabled, Comment(rawValue: RealModels.miniLMNote)))
    func trainBasesMovesTheBases() throws {
        let tmp = TempDir()
        let frozen = try bayeval(common + ["--projection", "dct-1/2_svd", "--output", tmp.path + "/frozen"])
        #expect(frozen.status == 0, "\(frozen.stderr)")
        let bases = try bayeval(
            common + ["--projection", "dct-1/2_svd", "--train-bases", "--output", tmp.path + "/bases"])
        #expect(bases.status == 0, "\(bases.stderr)")
        let (_, a) = try tensors(tmp.path + "/frozen"), (_, b) = try tensors(tmp.path + "/bases")
        #expect(a.keys.sorted() == b.keys.sorted())
        let loraA = a.keys.filter { $0.hasSuffix("lora_A.weight") }
        #expect(!loraA.isEmpty && loraA.allSatisfy { a[$0] != b[$0] }, "trained bases must move")
        // The same projection with the same seed: the frozen run's A is the projected A.
        let again = try bayeval(
            common.map { $0 == "3" ? "1" : $0 } + ["--projection", "dct-1/2_svd", "--output", tmp.path + "/again"])
        #expect(again.status == 0, "\(again.stderr)")
        let (_, c) = try tensors(tmp.path + "/again")
        #expect(loraA.allSatisfy { a[$0] == c[$0] })
    }

    @Test(.enabled(if: RealModels.miniLMEnabled, Comment(rawValue: RealModels.miniLMNote)))
    func badProjectionsAreRefused() throws {
        let tmp = TempDir()
        for (args, messages) in [
            (["--projection", "pca"], ["unknown projection 'pca'"]),
            (["--projection", "dct-3/4_svd-1/2_random"], ["more than 1"]),
            (["--projection", "svd", "--rank", "400"], ["encoder.layer.0.attention.self.query", "rank ≤ 384"]),
            (
                ["--projection", "wsvd", "--covariance-batches", "1", "--batch-size", "1"],
                ["singular", "eigenvalues", "encoder.layer.0.attention.self.query"]
            ),
            (["--dct-select", "middle"], ["--dct-select"]),
        ] {
            let r = try bayeval(common + args + ["--output", tmp.path + "/x", "--overwrite"])
            #expect(r.status != 0, "\(args) was accepted")
            for m in messages { #expect(r.stderr.contains(m), "\(args): \(r.stderr)") }
        }
        let stray = try bayeval(
            common.filter { $0 != "--loraxs" } + ["--projection", "dct", "--output", tmp.path + "/y"])
        #expect(stray.status != 0 && stray.stderr.contains("go with --loraxs"), "\(stray.stderr)")
    }
}
