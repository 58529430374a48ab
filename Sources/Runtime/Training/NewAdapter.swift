import Foundation
import Loaders

/// Fresh LoRA adapters for training, initialised as PEFT does: A ~ U(−1/√in, 1/√in) (kaiming-uniform with
/// a = √5), B = 0, so training starts exactly at the base model. Encoders also get a classification head
/// saved with the adapter (`modules_to_save`): the base pooler when it has one (else N(0, 0.02²)) and a
/// label projection drawn from N(0, 0.02²) with zero bias, as transformers initialises a new head.
public enum NewAdapter {
    public static let decoderTargets = [
        "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj", LlamaModel.headModule,
    ]
    public static let encoderTargets = [
        "query", "key", "value", "attention.output.dense", "intermediate.dense", "output.dense",
    ]

    static func loraLayer(
        module: String, inFeatures: Int, outFeatures: Int, rank: Int, alpha: Double,
        rng: inout SplitMix64
    ) -> LoRALayerWeights {
        let bound = 1 / Double(inFeatures).squareRoot()
        let a = (0..<(rank * inFeatures)).map { _ in Float((rng.nextUniform() * 2 - 1) * bound) }
        return LoRALayerWeights(
            module: module, rank: rank, inFeatures: inFeatures, outFeatures: outFeatures,
            scaling: alpha / Double(rank), a: a, b: [Float](repeating: 0, count: outFeatures * rank))
    }

    /// A LoRA adapter on `targets` (suffixes: q_proj, …, lm_head) of every decoder layer.
    public static func decoder(
        _ model: LlamaModel, rank: Int, alpha: Double, targets: [String], baseModel: String?,
        seed: UInt64
    ) throws -> LoRAAdapter {
        try check(rank: rank, alpha: alpha, targets: targets, known: decoderTargets)
        var rng = SplitMix64(seed: seed)
        var layers: [LoRALayerWeights] = []
        for n in 0..<model.layers.count {
            for t in targets where t != LlamaModel.headModule {
                let path =
                    "model.layers.\(n).\(["gate_proj", "up_proj", "down_proj"].contains(t) ? "mlp" : "self_attn").\(t)"
                let (linear, _, width) = model.linear(forModule: path)!
                layers.append(
                    loraLayer(
                        module: path, inFeatures: linear.inFeatures, outFeatures: width, rank: rank, alpha: alpha,
                        rng: &rng))
            }
        }
        if targets.contains(LlamaModel.headModule) {
            layers.append(
                loraLayer(
                    module: LlamaModel.headModule, inFeatures: model.lmHead.inFeatures,
                    outFeatures: model.lmHead.outFeatures,
                    rank: rank, alpha: alpha, rng: &rng))
        }
        let config = AdapterConfig(
            rank: rank, alpha: alpha, targets: targets, taskType: "CAUSAL_LM", baseModel: baseModel)
        return LoRAAdapter.inMemory(config: config, layers: layers, savedParameters: [], directory: "(new adapter)")
    }

    /// A LoRA adapter on `targets` (query, key, value, …) of every encoder layer, plus a new
    /// classification head of `labels` outputs. Module paths carry the task model's backbone prefix
    /// (`bert.`), as `AutoModelForSequenceClassification` names them, so PEFT loads the result.
    public static func encoder(
        _ model: BertModel, labels: Int, rank: Int, alpha: Double, targets: [String],
        baseModel: String?, seed: UInt64
    ) throws -> LoRAAdapter {
        try check(rank: rank, alpha: alpha, targets: targets, known: encoderTargets)
        guard labels >= 2 else {
            throw TrainingError.invalidSetting("a classification head needs at least 2 labels, not \(labels)")
        }
        var rng = SplitMix64(seed: seed)
        let backbone = model.config.modelType + "."
        var layers: [LoRALayerWeights] = []
        for n in 0..<model.layers.count {
            for t in targets {
                let leaf = ["query", "key", "value"].contains(t) ? "attention.self.\(t)" : t
                let path = backbone + "encoder.layer.\(n).\(leaf)"
                let (linear, _, width) = model.linear(forModule: path)!
                layers.append(
                    loraLayer(
                        module: path, inFeatures: linear.inFeatures, outFeatures: width, rank: rank, alpha: alpha,
                        rng: &rng))
            }
        }
        let h = model.config.hiddenSize
        func gaussian(_ count: Int) -> [Float] { (0..<count).map { _ in Float(0.02 * rng.nextGaussian()) } }
        let poolerWeight = model.basePooler?.weight.values ?? gaussian(h * h)
        let poolerBias = model.basePooler?.bias?.values ?? [Float](repeating: 0, count: h)
        let (poolerName, classifierName, saved) =
            model.isRoberta
            ? ("classifier.dense", "classifier.out_proj", ["classifier"])
            : (backbone + "pooler.dense", "classifier", ["classifier", "pooler"])
        let head = [
            SavedParameter(name: poolerName + ".weight", shape: [h, h], values: poolerWeight),
            SavedParameter(name: poolerName + ".bias", shape: [h], values: poolerBias),
            SavedParameter(name: classifierName + ".weight", shape: [labels, h], values: gaussian(labels * h)),
            SavedParameter(
                name: classifierName + ".bias", shape: [labels], values: [Float](repeating: 0, count: labels)),
        ]
        let config = AdapterConfig(
            rank: rank, alpha: alpha, targets: targets, modulesToSave: saved, taskType: "SEQ_CLS", baseModel: baseModel)
        return LoRAAdapter.inMemory(config: config, layers: layers, savedParameters: head, directory: "(new adapter)")
    }

    static func check(rank: Int, alpha: Double, targets: [String], known: [String]) throws {
        guard rank >= 1, rank <= 4096 else {
            throw TrainingError.invalidSetting("--rank must be between 1 and 4096, not \(rank)")
        }
        guard alpha.isFinite, alpha > 0 else {
            throw TrainingError.invalidSetting("--alpha must be a positive number, not \(alpha)")
        }
        guard !targets.isEmpty else { throw TrainingError.invalidSetting("--targets names no module") }
        if let bad = targets.first(where: { !known.contains($0) }) {
            throw TrainingError.invalidSetting(
                "unknown target module '\(bad)'; this model adapts \(known.joined(separator: ", "))")
        }
        guard Set(targets).count == targets.count else {
            throw TrainingError.invalidSetting("--targets names a module twice")
        }
    }
}

public enum TrainingError: Error, CustomStringConvertible {
    case invalidSetting(String)
    /// The loss or the gradient stopped being finite at this update; no update was applied.
    case nonFinite(step: Int, loss: Double, gradientNorm: Double)

    public var description: String {
        switch self {
        case .invalidSetting(let s): return s
        case .nonFinite(let step, let loss, let norm):
            return
                "update \(step + 1): the loss (\(loss)) or gradient norm (\(norm)) is not finite; "
                + "training stopped before applying it"
        }
    }
}
