import Foundation
import Records
import Testing
import TestModels

/// `bayeval train` end to end on the real MiniLM (fetched by the test command's set-up): a short run, an
/// interrupted-and-resumed run that must end bit-identical, the trained adapter evaluated, and the refusals.
@Suite(.serialized) struct TrainCLITests {
    let minilm = RealModels.miniLM
    var common: [String] {
        [
            "train", "--model", minilm, "--task", "rte", "--steps", "4", "--batch-size", "4", "--train-limit", "32",
            "--eval-limit", "8", "--lr", "1e-3", "--seed", "3",
        ]
    }

    @Test(.enabled(if: RealModels.miniLMEnabled, Comment(rawValue: RealModels.miniLMNote)))
    func trainsResumesAndEvaluates() throws {
        let tmp = TempDir()
        let straight = tmp.path + "/straight", resumed = tmp.path + "/resumed"
        let r = try bayeval(common + ["--output", straight])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("after 4 updates"))
        for f in ["adapter_config.json", "adapter_model.safetensors", "optimizer.safetensors", "training_log.jsonl"] {
            #expect(FileManager.default.fileExists(atPath: straight + "/" + f), "\(f) missing")
        }
        let log = try String(contentsOfFile: straight + "/training_log.jsonl", encoding: .utf8).split(separator: "\n")
        #expect(log.count == 6, "2 evaluations + 4 updates: \(log.count) lines")
        let record = try RunRecord.read(from: straight + "/run.json")
        #expect(record.command == .train && record.results.map(\.method.kind) == [.base, .lora])
        #expect(
            record.results.allSatisfy { $0.metrics.count == 8 } && record.configuration["lr"] != nil,
            "\(record.configuration)")

        let first = try bayeval(common + ["--output", resumed, "--stop-after", "2"])
        #expect(first.status == 0 && first.stderr.contains("continue with --resume"), "\(first.stderr)")
        let second = try bayeval(common + ["--output", resumed, "--resume"])
        #expect(second.status == 0, "\(second.stderr)")
        let a = try Data(contentsOf: URL(fileURLWithPath: straight + "/adapter_model.safetensors"))
        let b = try Data(contentsOf: URL(fileURLWithPath: resumed + "/adapter_model.safetensors"))
        #expect(a == b, "an interrupted and resumed run must end with the same adapter")

        let e = try bayeval(["evaluate", straight, "--task", "rte", "--split", "validation", "--limit", "8"])
        #expect(e.status == 0 && e.stdout.contains("LoRA"), "\(e.stderr)")

        // A resumed run with other settings is refused, naming the setting.
        let other = try bayeval(common.map { $0 == "1e-3" ? "2e-3" : $0 } + ["--output", resumed, "--resume"])
        #expect(other.status != 0 && other.stderr.contains("lr"), "\(other.stderr)")
        // An existing output directory is refused without --overwrite.
        let again = try bayeval(common + ["--output", straight])
        #expect(again.status != 0 && again.stderr.contains("--overwrite"), "\(again.stderr)")
    }

    @Test(.enabled(if: RealModels.miniLMEnabled, Comment(rawValue: RealModels.miniLMNote)))
    func badSettingsAreRefused() throws {
        let tmp = TempDir()
        for (args, message) in [
            (["--lr", "0"], "--lr"), (["--lr", "nan"], "--lr"), (["--rank", "0"], "--rank"),
            (["--warmup", "1.5"], "--warmup"), (["--dropout", "0.1"], "--dropout"),
        ] {
            let r = try bayeval(["train", "--model", minilm, "--task", "rte", "--output", tmp.path + "/x"] + args)
            #expect(r.status != 0 && r.stderr.contains(message), "\(args): \(r.stderr)")
        }
        let noTrain = try bayeval(["train", "--model", minilm, "--task", "boolq", "--output", tmp.path + "/y"])
        #expect(noTrain.status != 0 && noTrain.stderr.contains("no train split"), "\(noTrain.stderr)")
    }
}

/// The adapter `bayeval train` made for the README (fixtures/trained/minilm-sst2, validation ACC 0.835 over
/// all 872 examples when trained) still loads and still classifies: a regression check on the saved format
/// and on the encoder's head path.
@Test(.enabled(if: RealModels.miniLMEnabled, Comment(rawValue: RealModels.miniLMNote)))
func bundledTrainedEncoderAdapterStillClassifies() throws {
    let minilm = RealModels.miniLM
    let tmp = TempDir()
    let r = try bayeval([
        "evaluate", fixture("trained/minilm-sst2"), "--model", minilm, "--task", "sst2", "--split", "validation",
        "--limit", "200", "--output", tmp.path + "/run.json",
    ])
    #expect(r.status == 0, "\(r.stderr)")
    let accuracy = try #require(try RunRecord.read(from: tmp.path + "/run.json").results.first?.metrics.accuracy)
    #expect(accuracy > 0.78, "accuracy \(accuracy) on the first 200 validation sentences")
    // Without --model the adapter's base (a hub id, not a local path) cannot be found: a clear error.
    let noModel = try bayeval(["evaluate", fixture("trained/minilm-sst2"), "--task", "sst2", "--limit", "2"])
    #expect(noModel.status != 0 && noModel.stderr.contains("--model"), "\(noModel.stderr)")
}
