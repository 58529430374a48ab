import Foundation

/// What `bayeval inspect` reports about a path: a plain, encodable summary built here so the CLI only
/// renders it.
public struct Inspection: Codable, Sendable, Equatable {
    public enum Kind: String, Codable, Sendable {
        case safetensors, gguf
        case modelDirectory = "model-directory"
        case adapterDirectory = "adapter-directory"
    }

    public struct Dimensions: Codable, Sendable, Equatable {
        public var hiddenSize: Int?
        public var layers: Int?
        public var attentionHeads: Int?
        public var keyValueHeads: Int?
        public var headDimension: Int?
        public var intermediateSize: Int?
        public var vocabularySize: Int?
        public var contextLength: Int?
        public var ropeTheta: Double?
        public var ropeScaling: String?
        public var tiedEmbeddings: Bool?
        public var labels: [String]?
    }

    public struct Adapter: Codable, Sendable, Equatable {
        public var kind: String
        public var peftType: String
        public var taskType: String?
        public var rank: Int
        public var alpha: Double
        public var scaling: Double
        public var rsLoRA: Bool
        public var targetModules: [String]
        public var targetPattern: String?
        public var modulesToSave: [String]
        public var adaptedLayers: [String]
        public var savedParameters: [String]
        public var trainableParameters: Int
        public var hasBLoBRho: Bool
        public var hasLoRAXSCores: Bool
        public var baseModel: String?
    }

    public var path: String
    public var kind: Kind
    public var architecture: String?
    public var dimensions: Dimensions?
    public var parameterCount: Int?
    public var tensorCount: Int?
    /// Stored element type → number of tensors of that type.
    public var dtypes: [String: Int]
    public var adapter: Adapter?
    public var metadata: [String: String]
    public var tokenizer: String?

    public init(path: String, kind: Kind) {
        self.path = path
        self.kind = kind
        dtypes = [:]
        metadata = [:]
    }
}

extension Inspection.Dimensions {
    init(_ c: ModelConfig) {
        switch c {
        case .decoder(let d):
            self.init(
                hiddenSize: d.hiddenSize, layers: d.layerCount, attentionHeads: d.headCount,
                keyValueHeads: d.keyValueHeadCount, headDimension: d.headDimension,
                intermediateSize: d.intermediateSize, vocabularySize: d.vocabularySize,
                contextLength: d.maxPositions, ropeTheta: d.rope.theta,
                ropeScaling: Self.describe(d.rope.scaling), tiedEmbeddings: d.tieWordEmbeddings)
        case .encoder(let e):
            self.init(
                hiddenSize: e.hiddenSize, layers: e.layerCount, attentionHeads: e.headCount,
                headDimension: e.hiddenSize / max(e.headCount, 1), intermediateSize: e.intermediateSize,
                vocabularySize: e.vocabularySize, contextLength: e.maxPositions, labels: e.labelNames)
        }
    }

    static func describe(_ s: RoPEConfig.Scaling) -> String {
        switch s {
        case .none: "none"
        case .linear(let f): "linear ×\(f)"
        case .llama3(let f, let lo, let hi, let orig): "llama3 ×\(f) (low \(lo), high \(hi), original \(orig))"
        case .frequencyDivisors(let d): "per-frequency divisors \(d.min() ?? 1)…\(d.max() ?? 1) (GGUF rope_freqs)"
        }
    }
}
