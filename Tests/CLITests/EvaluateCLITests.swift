import Foundation
import Records
import Testing
import TestModels

/// `bayeval evaluate` as a user runs it: on the real SmolLM2 (fetched by scripts/test.sh), and on
/// broken inputs that must give a clear error and a non-zero exit.
@Suite struct EvaluateCLITests {
    let gguf = RealModels.smolLM2

    @Test(.enabled(if: RealModels.smolLM2Enabled, Comment(rawValue: RealModels.smolLM2Note)))
    func smolLM2OnOpenBookQAWithResume() throws {
        let dir = TempDir()
        let args = ["evaluate", "--model", gguf, "--task", "obqa", "--limit", "12", "--threads", "2"]
        let full = try bayeval(args + ["--predictions", dir.path + "/full.jsonl", "--output", dir.path + "/run.json"])
        #expect(full.status == 0, "\(full.stderr)")
        #expect(full.stdout.contains("base") && full.stdout.contains("ACC"))
        let lines = try String(contentsOfFile: dir.path + "/full.jsonl", encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 12)
        // The run record reads back as the library's type.
        let run = try RunRecord.read(from: dir.path + "/run.json")
        #expect(run.schemaVersion == RunRecord.currentSchemaVersion && run.command == .evaluate)
        let result = try #require(run.results.first)
        #expect(run.results.count == 1 && result.method.kind == .base)
        #expect(result.metrics.count == 12)
        #expect(run.inputs.first?.sha256.count == 64)
        #expect(result.metrics.reliability.count == 16)
        #expect(run.configuration["task"] == "obqa" && run.throughput?.promptTokens ?? 0 > 0)

        // An interrupted run: 5 finished lines and half of a sixth, of the one scoring chunk (128) the 12
        // examples make. The chunk is scored again whole, so --resume ends with the same numbers to the bit.
        let partial = lines.prefix(5).joined(separator: "\n") + "\n" + lines[5].prefix(10)
        try partial.write(toFile: dir.path + "/cut.jsonl", atomically: true, encoding: .utf8)
        let resumed = try bayeval(args + ["--predictions", dir.path + "/cut.jsonl", "--resume"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(resumed.stderr.contains("resuming: 0 of 12"), "\(resumed.stderr)")
        #expect(resumed.stderr.contains("5 prediction(s) of a chunk cut short"), "\(resumed.stderr)")
        #expect(resumed.stdout == full.stdout)
        let after = try String(contentsOfFile: dir.path + "/cut.jsonl", encoding: .utf8).split(separator: "\n")
        #expect(after.count == 12)
        // The torn sixth line is gone with its chunk: every line is a whole record.
        for line in after { #expect((try? jsonObject(String(line))) != nil, "glued line: \(line)") }
    }

    @Test func tokenizerThatDoesNotMatchTheModel() throws {
        // tiny-llama3 has 256 tokens; a 4000-token tokenizer produces ids it does not have.
        let dir = TempDir()
        for f in ["config.json", "model.safetensors"] {
            try FileManager.default.copyItem(atPath: fixture("models/tiny-llama3/\(f)"), toPath: dir.path + "/\(f)")
        }
        try FileManager.default.copyItem(
            atPath: fixture("tokenizers/gpt2-style/tokenizer.json"), toPath: dir.path + "/tokenizer.json")
        let r = try bayeval(["evaluate", "--model", dir.path, "--task", "arc-e", "--limit", "3"])
        #expect(r.status != 0)
        #expect(r.stderr.contains("vocabulary"), "\(r.stderr)")
    }

    @Test(.enabled(if: RealModels.miniLMEnabled, Comment(rawValue: RealModels.miniLMNote)))
    func encoderWithoutAHeadIsRefused() throws {
        let minilm = RealModels.miniLM
        let r = try bayeval(["evaluate", "--model", minilm, "--task", "sst2", "--limit", "4"])
        #expect(r.status != 0 && r.stderr.contains("classification head"), "\(r.stderr)")
    }

    /// --samples on an adapter without a posterior is refused, not answered with the mean, for encoders too.
    @Test func encoderSamplesOfAPlainAdapterAreRefused() throws {
        let r = try bayeval(["evaluate", fixture("models/tiny-bert-adapter"), "--task", "sst2", "--samples", "4"])
        #expect(r.status != 0 && r.stderr.contains("needs an adapter with a posterior"), "\(r.stderr)")
    }

    @Test func badArguments() throws {
        let unknown = try bayeval(["evaluate", "--model", "x", "--task", "squad"])
        #expect(unknown.status != 0 && unknown.stderr.contains("arc-c"))
        let noModel = try bayeval(["evaluate", "--task", "obqa"])
        #expect(noModel.status != 0 && noModel.stderr.contains("--model"))
        let resume = try bayeval(["evaluate", "--model", "x", "--task", "obqa", "--resume"])
        #expect(resume.status != 0 && resume.stderr.contains("--predictions"))
        let device = try bayeval(["evaluate", "--model", "x", "--task", "obqa", "--device", "cuda"])
        #expect(
            device.status != 0 && device.stderr.contains("--device") && device.stderr.contains("cpu"),
            "\(device.stderr)")
        let split = try bayeval([
            "evaluate", "--model", fixture("models/tiny-llama3"), "--task", "boolq", "--split", "train",
        ])
        #expect(split.status != 0 && split.stderr.contains("validation"), "\(split.stderr)")
    }

    @Test(.enabled(if: RealModels.smolLM2Enabled, Comment(rawValue: RealModels.smolLM2Note)))
    func resumingAnotherRunsFileIsRefused() throws {
        let dir = TempDir()
        let path = dir.write("other.jsonl", Data(#"{"id":"not-an-obqa-id","label":0,"probs":[1,0,0,0]}"#.utf8 + [0x0A]))
        let r = try bayeval([
            "evaluate", "--model", gguf, "--task", "obqa", "--limit", "3", "--predictions", path, "--resume",
        ])
        #expect(r.status != 0 && r.stderr.contains("not-an-obqa-id"), "\(r.stderr)")
    }
}
