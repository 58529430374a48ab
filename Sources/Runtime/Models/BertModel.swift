import Foundation
import Loaders

/// BERT and RoBERTa encoders as transformers defines them: word + absolute position + token-type
/// embeddings and a LayerNorm, then post-norm layers (attention → add → LayerNorm, erf-GELU MLP → add →
/// LayerNorm). query/key/value are fused into one weight; LoRA patches address their blocks.
///
/// The sequence-classification head is one shape under two names: a dense + tanh on the first token
/// (BERT's `bert.pooler.dense`, RoBERTa's `classifier.dense`), then the label projection (BERT's
/// `classifier`, RoBERTa's `classifier.out_proj`). It comes from the base checkpoint when present and is
/// replaced while an adapter that saved its own copy (`modules_to_save`) is attached.
public final class BertModel: @unchecked Sendable {
    /// A LayerNorm's scale and shift.
    public struct Norm: @unchecked Sendable {
        public let weight: Tensor
        public let bias: Tensor
    }

    public struct Layer: @unchecked Sendable {
        public let qkv: Linear  // [query; key; value] × hidden
        public let attentionOutput: Linear  // attention.output.dense, hidden × hidden
        public let attentionNorm: Norm  // attention.output.LayerNorm
        public let intermediate: Linear  // intermediate.dense, intermediate × hidden
        public let output: Linear  // output.dense, hidden × intermediate
        public let outputNorm: Norm  // output.LayerNorm
    }

    public let config: EncoderConfig
    /// The checkpoint's prefix before `embeddings.` (`bert.`, `roberta.`, or empty for a bare backbone).
    public let prefix: String
    public let wordEmbeddings: Tensor  // vocab × hidden
    public let positionEmbeddings: Tensor  // maxPositions × hidden
    public let tokenTypeEmbeddings: Tensor  // typeVocab × hidden
    public let embeddingNorm: Norm
    public let layers: [Layer]
    public let backend: any ComputeBackend

    /// The head in use: the base checkpoint's, or the attached adapter's saved copy.
    public private(set) var pooler: Linear?
    public private(set) var classifier: Linear?
    /// The base checkpoint's head, restored by `detachAdapters()`.
    let basePooler: Linear?
    let baseClassifier: Linear?

    public var isRoberta: Bool { config.modelType == "roberta" }
    public var headDimension: Int { config.hiddenSize / config.headCount }
    /// Whether `classify` can run: a pooler and a label projection, from the base or the adapter.
    public var hasClassificationHead: Bool { pooler != nil && classifier != nil }
    /// Labels of the head in use (an adapter's head may differ from the base config's `num_labels`).
    public var labelCount: Int? { classifier?.outFeatures }
    /// The longest sequence the position table covers (RoBERTa's first positions are reserved).
    public var maxSequenceLength: Int { config.maxPositions - config.positionOffset }

    /// Module paths of the head, as PEFT names them without the backbone prefix.
    var poolerModule: String { isRoberta ? "classifier.dense" : "pooler.dense" }
    var classifierModule: String { isRoberta ? "classifier.out_proj" : "classifier" }

    /// `tensor(name)` returns the Hugging Face-named weight (nil when absent).
    public init(
        config: EncoderConfig, backend: any ComputeBackend, source: String,
        tensor: (String) throws -> Tensor?
    ) throws {
        guard config.modelType == "bert" || config.modelType == "roberta" else {
            throw LoadError(
                .unsupported, file: source, item: "model_type",
                "'\(config.modelType)' is not a BERT or RoBERTa encoder")
        }
        // transformers' "gelu" (and its pure-Python twin) is the exact erf form; the tanh approximations
        // differ by up to 1e-3 and would break parity silently.
        guard ["gelu", "gelu_python"].contains(config.hiddenActivation) else {
            throw LoadError(
                .unsupported, file: source, item: "hidden_act",
                "'\(config.hiddenActivation)' is not supported (only the exact 'gelu')")
        }
        self.config = config
        self.backend = backend
        let h = config.hiddenSize, i = config.intermediateSize

        // The task model stores the backbone under `bert.`/`roberta.`; a bare backbone has no prefix.
        var found: (String, Tensor)?
        for p in [config.modelType + ".", ""] {
            if let t = try tensor(p + "embeddings.word_embeddings.weight") { found = (p, t); break }
        }
        guard let (prefix, words) = found else {
            throw LoadError(
                .missingKey, file: source, item: "\(config.modelType).embeddings.word_embeddings.weight",
                "the model has no word embeddings (neither '\(config.modelType).embeddings.…' nor 'embeddings.…')")
        }
        self.prefix = prefix
        func check(_ name: String, _ t: Tensor, _ shape: [Int]) throws -> Tensor {
            guard t.shape == shape else {
                throw LoadError(
                    .shapeMismatch, file: source, item: name, "shape \(t.shape), expected \(shape) from the config")
            }
            return backend.resident(t)
        }
        func need(_ name: String, _ shape: [Int]) throws -> Tensor {
            guard let t = try tensor(name) else {
                throw LoadError(.missingKey, file: source, item: name, "the model has no weight '\(name)'")
            }
            return try check(name, t, shape)
        }
        func linear(_ module: String, out: Int, in inF: Int) throws -> Linear {
            Linear(weight: try need(module + ".weight", [out, inF]), bias: try need(module + ".bias", [out]))
        }
        // Checkpoints converted from TensorFlow name LayerNorm parameters gamma/beta; transformers renames
        // them on load, so they are accepted here too.
        func norm(_ module: String) throws -> Norm {
            let w = try tensor(module + ".weight") ?? tensor(module + ".gamma")
            let b = try tensor(module + ".bias") ?? tensor(module + ".beta")
            guard let w else {
                throw LoadError(
                    .missingKey, file: source, item: module + ".weight", "the model has no weight '\(module).weight'")
            }
            guard let b else {
                throw LoadError(
                    .missingKey, file: source, item: module + ".bias", "the model has no weight '\(module).bias'")
            }
            return Norm(weight: try check(module + ".weight", w, [h]), bias: try check(module + ".bias", b, [h]))
        }

        wordEmbeddings = try check(prefix + "embeddings.word_embeddings.weight", words, [config.vocabularySize, h])
        positionEmbeddings = try need(prefix + "embeddings.position_embeddings.weight", [config.maxPositions, h])
        tokenTypeEmbeddings = try need(
            prefix + "embeddings.token_type_embeddings.weight", [config.typeVocabularySize, h])
        embeddingNorm = try norm(prefix + "embeddings.LayerNorm")
        var layers: [Layer] = []
        for n in 0..<config.layerCount {
            let p = prefix + "encoder.layer.\(n)."
            let qkv = Linear.fused(
                [
                    (
                        try need(p + "attention.self.query.weight", [h, h]),
                        try need(p + "attention.self.query.bias", [h])
                    ),
                    (try need(p + "attention.self.key.weight", [h, h]), try need(p + "attention.self.key.bias", [h])),
                    (
                        try need(p + "attention.self.value.weight", [h, h]),
                        try need(p + "attention.self.value.bias", [h])
                    ),
                ], on: backend)
            layers.append(
                Layer(
                    qkv: qkv,
                    attentionOutput: try linear(p + "attention.output.dense", out: h, in: h),
                    attentionNorm: try norm(p + "attention.output.LayerNorm"),
                    intermediate: try linear(p + "intermediate.dense", out: i, in: h),
                    output: try linear(p + "output.dense", out: h, in: i),
                    outputNorm: try norm(p + "output.LayerNorm")))
        }
        self.layers = layers

        // The head is optional (a bare backbone has none, or only BERT's pooler); when the checkpoint has
        // the label projection, it must agree with the config's labels.
        func optionalLinear(_ module: String, out: Int) throws -> Linear? {
            guard let w = try tensor(module + ".weight") else { return nil }
            return Linear(weight: try check(module + ".weight", w, [out, h]), bias: try need(module + ".bias", [out]))
        }
        let roberta = config.modelType == "roberta"
        basePooler = try optionalLinear(roberta ? "classifier.dense" : prefix + "pooler.dense", out: h)
        baseClassifier = try optionalLinear(
            roberta ? "classifier.out_proj" : "classifier", out: config.labelNames.count)
        pooler = basePooler
        classifier = baseClassifier
    }

    /// Module paths LoRA adapters use (`bert.encoder.layer.0.attention.self.query`, the same without the
    /// backbone prefix, `classifier.out_proj`, …), mapped to the linear layer and its output block.
    public func linear(forModule module: String) -> (Linear, offset: Int, width: Int)? {
        let path = canonicalModule(module)
        if path == poolerModule { return pooler.map { ($0, 0, $0.outFeatures) } }
        if path == classifierModule { return classifier.map { ($0, 0, $0.outFeatures) } }
        let parts = path.split(separator: ".")
        guard parts.count >= 4, parts[0] == "encoder", parts[1] == "layer", let n = Int(parts[2]),
            n >= 0, n < layers.count
        else { return nil }
        let l = layers[n], h = config.hiddenSize
        switch parts.dropFirst(3).joined(separator: ".") {
        case "attention.self.query": return (l.qkv, 0, h)
        case "attention.self.key": return (l.qkv, h, h)
        case "attention.self.value": return (l.qkv, 2 * h, h)
        case "attention.output.dense": return (l.attentionOutput, 0, h)
        case "intermediate.dense": return (l.intermediate, 0, config.intermediateSize)
        case "output.dense": return (l.output, 0, h)
        default: return nil
        }
    }

    /// Drops the backbone prefix (a task model's `bert.`/`roberta.`) and PEFT's `modules_to_save`
    /// wrapper segment, so adapters trained on the task model and on the bare backbone both resolve.
    func canonicalModule(_ module: String) -> String {
        var path = module
        let own = config.modelType + "."
        if path.hasPrefix(own) { path.removeFirst(own.count) }
        for wrapper in [".modules_to_save", ".original_module"] {
            path = path.replacingOccurrences(of: wrapper, with: "")
        }
        return path
    }

    /// Every linear layer, for merging or clearing adapters (the head in use included).
    public var allLinears: [Linear] {
        layers.flatMap { [$0.qkv, $0.attentionOutput, $0.intermediate, $0.output] }
            + [pooler, classifier].compactMap { $0 }
    }

    /// Installs a head (nil keeps the current part); used by `attach` and `detachAdapters`.
    func setHead(pooler: Linear?, classifier: Linear?) {
        if let pooler { self.pooler = pooler }
        if let classifier { self.classifier = classifier }
    }

    func restoreBaseHead() {
        pooler = basePooler
        classifier = baseClassifier
    }
}
