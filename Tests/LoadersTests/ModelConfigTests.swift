import Foundation
import Testing
@testable import Loaders

@Suite struct ModelConfigTests {
    func load(_ name: String) throws -> ModelConfig {
        try ModelConfig.decode(Data(contentsOf: URL(fileURLWithPath: fixture("configs/\(name).json"))), file: name)
    }

    @Test func llama31WithRopeParameters() throws {
        guard case .decoder(let c) = try load("llama31-rope-parameters") else { Issue.record("not a decoder"); return }
        #expect(c.modelType == "llama")
        #expect(c.headCount == 32 && c.keyValueHeadCount == 8 && c.headDimension == 128)
        #expect(
            c.rope
                == RoPEConfig(
                    theta: 500000,
                    scaling: .llama3(
                        factor: 8, lowFrequencyFactor: 1,
                        highFrequencyFactor: 4, originalMaxPositions: 8192)))
        #expect(c.rmsNormEpsilon == 1e-5 && !c.tieWordEmbeddings && !c.attentionBias)
        #expect(c.eosTokenIDs == [128001] && c.bosTokenID == 128000)
        // Meta-Llama-3.1-8B has 8.03 B parameters.
        #expect(c.parameterCount == 8_030_261_248)
    }

    @Test func classicRopeKeysAndTiedEmbeddings() throws {
        guard case .decoder(let c) = try load("smollm2-135m-classic") else { Issue.record("not a decoder"); return }
        #expect(c.rope == RoPEConfig(theta: 100000))
        #expect(c.tieWordEmbeddings && c.headDimension == 64 && c.keyValueHeadCount == 3)
        #expect(c.parameterCount == 134_515_008)
        guard case .decoder(let l2) = try load("llama2-linear-scaling") else { return }
        #expect(l2.rope.scaling == .linear(factor: 2))
        #expect(l2.keyValueHeadCount == 32)
    }

    @Test func qwen2HasQKVBiasAndMistralDefaults() throws {
        guard case .decoder(let q) = try load("qwen2") else { Issue.record("not a decoder"); return }
        #expect(q.attentionBias && q.tieWordEmbeddings && q.headDimension == 64)
        #expect(q.parameterCount == 494_032_768)  // Qwen2-0.5B
        guard case .decoder(let m) = try load("mistral") else { return }
        #expect(m.modelType == "mistral" && m.keyValueHeadCount == 8 && m.slidingWindow == 4096)
        #expect(m.rope.theta == 10000)
    }

    @Test func encoders() throws {
        guard case .encoder(let b) = try load("bert") else { Issue.record("not an encoder"); return }
        #expect(b.hiddenSize == 768 && b.positionOffset == 0 && b.labelNames.count == 2)
        guard case .encoder(let r) = try load("roberta-cls") else { return }
        #expect(r.positionOffset == 2 && r.labelNames == ["negative", "positive"] && r.typeVocabularySize == 1)
        guard case .encoder(let m) = try load("minilm-l6") else { return }
        #expect(m.layerCount == 6 && m.hiddenSize == 384 && m.headCount == 12)
        // model.safetensors holds 22 713 216 parameters; the pooler (384·384 + 384) is not counted here.
        #expect(m.parameterCount == 22_713_216 - 147_840)
    }

    @Test func unknownModelTypeListsSupportedOnes() {
        expectLoadError(.unsupported, file: "c.json", item: "model_type") {
            _ = try ModelConfig.decode(Data(#"{"model_type":"gpt_neox"}"#.utf8), file: "c.json")
        }
        do { _ = try ModelConfig.decode(Data(#"{"model_type":"gpt_neox"}"#.utf8), file: "c.json") } catch {
            #expect("\(error)".contains("bert, llama, mistral, qwen2, roberta"))
        }
    }

    @Test func badConfigs() {
        expectLoadError(.missingKey, item: "model_type") { _ = try ModelConfig.decode(Data("{}".utf8), file: "c.json") }
        expectLoadError(.invalidJSON) { _ = try ModelConfig.decode(Data("{".utf8), file: "c.json") }
        expectLoadError(.invalidValue, item: "hidden_size") {
            _ = try ModelConfig.decode(
                Data(
                    (#"{"model_type":"llama","vocab_size":10,"hidden_size":"big","intermediate_size":4,"#
                        + #""num_hidden_layers":1,"num_attention_heads":2}"#).utf8), file: "c.json")
        }
        expectLoadError(.invalidValue, item: "num_key_value_heads") {
            _ = try ModelConfig.decode(
                Data(
                    (#"{"model_type":"llama","vocab_size":10,"hidden_size":12,"intermediate_size":4,"#
                        + #""num_hidden_layers":1,"num_attention_heads":3,"num_key_value_heads":2}"#).utf8),
                file: "c.json")
        }
        expectLoadError(.invalidValue, item: "rope_scaling") {
            _ = try ModelConfig.decode(
                Data(
                    (#"{"model_type":"llama","vocab_size":10,"hidden_size":16,"intermediate_size":4,"#
                        + #""num_hidden_layers":1,"num_attention_heads":2,"#
                        + #""rope_scaling":{"rope_type":"yarn","factor":2}}"#)
                        .utf8), file: "c.json")
        }
        expectLoadError(.invalidValue, item: "rope_scaling.original_max_position_embeddings") {
            _ = try ModelConfig.decode(
                Data(
                    (#"{"model_type":"llama","vocab_size":10,"hidden_size":16,"intermediate_size":4,"#
                        + #""num_hidden_layers":1,"num_attention_heads":2,"#
                        + #""rope_scaling":{"rope_type":"llama3","factor":8,"#
                        + #""low_freq_factor":1,"high_freq_factor":4}}"#)
                        .utf8), file: "c.json")
        }
    }

    @Test func missingConfigInDirectory() {
        let dir = ScratchDirectory()
        expectLoadError(.missingKey, file: dir.path, item: "config.json") {
            _ = try ModelConfig.load(directory: dir.path)
        }
    }
}

@Suite struct SlidingWindowTests {
    @Test func scoringContextIsCappedByTheWindow() throws {
        guard
            case .decoder(let m) = try ModelConfig.decode(
                Data(contentsOf: URL(fileURLWithPath: fixture("configs/mistral.json"))), file: "m")
        else { return }
        #expect(m.scoringContextLength == 4096)
        guard
            case .decoder(let l) = try ModelConfig.decode(
                Data(contentsOf: URL(fileURLWithPath: fixture("configs/llama31-rope-parameters.json"))), file: "l")
        else { return }
        #expect(l.scoringContextLength == 131072)
    }
}
