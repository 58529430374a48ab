import Foundation
import Loaders

/// The LLaMA family (llama, mistral, qwen2): RMSNorm, RoPE, grouped-query attention, SwiGLU MLP, tied or
/// separate LM head, optional q/k/v bias. q/k/v and gate/up are fused into one weight each; LoRA patches
/// address their blocks.
public final class LlamaModel: @unchecked Sendable {
    public struct Layer: @unchecked Sendable {
        public let attentionNorm: Tensor
        public let qkv: Linear  // [q; k; v] × hidden
        public let output: Linear  // hidden × q
        public let mlpNorm: Tensor
        public let gateUp: Linear  // [gate; up] × hidden
        public let down: Linear  // hidden × intermediate
    }

    public let config: DecoderConfig
    public let embedding: Tensor  // vocab × hidden
    public let layers: [Layer]
    public let finalNorm: Tensor
    /// The head in use: the base head, or an adapter's saved copy (`modules_to_save`) while it is attached.
    public internal(set) var lmHead: Linear
    /// The checkpoint's own head (shares `embedding` when tied), or the merged head after `mergeAdapters`.
    var baseLMHead: Linear
    public let rope: RotaryEmbedding
    public let backend: any ComputeBackend

    public var queryWidth: Int { config.headCount * config.headDimension }
    public var keyValueWidth: Int { config.keyValueHeadCount * config.headDimension }

    /// `tensor(name)` returns the Hugging Face-named weight (nil when absent).
    public init(
        config: DecoderConfig, backend: any ComputeBackend, source: String,
        tensor: (String) throws -> Tensor?
    ) throws {
        // The MLP is SwiGLU without biases; another activation or MLP biases would run silently wrong.
        guard ["silu", "swish"].contains(config.hiddenActivation) else {
            throw LoadError(
                .unsupported, file: source, item: "hidden_act",
                "'\(config.hiddenActivation)' is not supported (the LLaMA family's MLP uses 'silu')")
        }
        guard !config.mlpBias else {
            throw LoadError(
                .unsupported, file: source, item: "mlp_bias", "MLP biases are not supported (mlp_bias: true)")
        }
        self.config = config
        self.backend = backend
        func need(_ name: String, _ shape: [Int]) throws -> Tensor {
            guard let t = try tensor(name) else {
                throw LoadError(.missingKey, file: source, item: name, "the model has no weight '\(name)'")
            }
            guard t.shape == shape else {
                throw LoadError(
                    .shapeMismatch, file: source, item: name, "shape \(t.shape), expected \(shape) from the config")
            }
            return backend.resident(t)
        }
        let h = config.hiddenSize, q = config.headCount * config.headDimension
        let kv = config.keyValueHeadCount * config.headDimension, i = config.intermediateSize
        embedding = try need("model.embed_tokens.weight", [config.vocabularySize, h])
        var layers: [Layer] = []
        for n in 0..<config.layerCount {
            let p = "model.layers.\(n)."
            func bias(_ name: String, _ count: Int) throws -> Tensor? {
                config.attentionBias ? try need(p + name, [count]) : try tensor(p + name)
            }
            let qkv = Linear.fused(
                [
                    (try need(p + "self_attn.q_proj.weight", [q, h]), try bias("self_attn.q_proj.bias", q)),
                    (try need(p + "self_attn.k_proj.weight", [kv, h]), try bias("self_attn.k_proj.bias", kv)),
                    (try need(p + "self_attn.v_proj.weight", [kv, h]), try bias("self_attn.v_proj.bias", kv)),
                ], on: backend)
            let gateUp = Linear.fused(
                [
                    (try need(p + "mlp.gate_proj.weight", [i, h]), nil),
                    (try need(p + "mlp.up_proj.weight", [i, h]), nil),
                ], on: backend)
            layers.append(
                Layer(
                    attentionNorm: try need(p + "input_layernorm.weight", [h]),
                    qkv: qkv, output: Linear(weight: try need(p + "self_attn.o_proj.weight", [h, q])),
                    mlpNorm: try need(p + "post_attention_layernorm.weight", [h]),
                    gateUp: gateUp, down: Linear(weight: try need(p + "mlp.down_proj.weight", [h, i]))))
        }
        self.layers = layers
        finalNorm = try need("model.norm.weight", [h])
        if let head = try tensor("lm_head.weight"), !config.tieWordEmbeddings {
            guard head.shape == [config.vocabularySize, h] else {
                throw LoadError(
                    .shapeMismatch, file: source, item: "lm_head.weight",
                    "shape \(head.shape), expected \([config.vocabularySize, h])")
            }
            baseLMHead = Linear(weight: backend.resident(head))
        } else if config.tieWordEmbeddings {
            baseLMHead = Linear(weight: embedding)
        } else {
            throw LoadError(
                .missingKey, file: source, item: "lm_head.weight", "untied embeddings but no lm_head.weight")
        }
        lmHead = baseLMHead
        rope = RotaryEmbedding(headDimension: config.headDimension, config: config.rope)
    }

    /// The LM head's module path, in adapters (PEFT's name) and in gradient events.
    public static let headModule = "lm_head"

    /// Module paths LoRA adapters use, mapped to the fused linear and its output block.
    public func linear(forModule module: String) -> (Linear, offset: Int, width: Int)? {
        if module == Self.headModule { return (lmHead, 0, config.vocabularySize) }
        // Also `model.embed_tokens` etc. fall through to nil: only linear layers take LoRA patches.
        let parts = module.split(separator: ".")
        guard parts.count == 5, parts[0] == "model", parts[1] == "layers", let n = Int(parts[2]),
            n >= 0, n < layers.count
        else { return nil }
        let l = layers[n]
        let q = queryWidth, kv = keyValueWidth, i = config.intermediateSize
        switch (parts[3], parts[4]) {
        case ("self_attn", "q_proj"): return (l.qkv, 0, q)
        case ("self_attn", "k_proj"): return (l.qkv, q, kv)
        case ("self_attn", "v_proj"): return (l.qkv, q + kv, kv)
        case ("self_attn", "o_proj"): return (l.output, 0, config.hiddenSize)
        case ("mlp", "gate_proj"): return (l.gateUp, 0, i)
        case ("mlp", "up_proj"): return (l.gateUp, i, i)
        case ("mlp", "down_proj"): return (l.down, 0, config.hiddenSize)
        default: return nil
        }
    }

    /// Every linear layer, for merging or clearing adapters.
    public var allLinears: [Linear] { layers.flatMap { [$0.qkv, $0.output, $0.gateUp, $0.down] } + [lmHead] }
}
