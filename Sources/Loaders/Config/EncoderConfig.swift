/// Hyper-parameters of a BERT or RoBERTa encoder, decoded from `config.json` with explicit keys.
public struct EncoderConfig: Sendable, Equatable {
    public var modelType: String
    public var vocabularySize: Int
    public var hiddenSize: Int
    public var layerCount: Int
    public var headCount: Int
    public var intermediateSize: Int
    public var hiddenActivation: String
    public var maxPositions: Int
    public var typeVocabularySize: Int
    public var layerNormEpsilon: Double
    public var padTokenID: Int
    public var positionEmbeddingType: String
    /// Classification labels (`id2label`, else `num_labels`); a base encoder has the transformers default 2.
    public var labelNames: [String]
    public var problemType: String?

    /// RoBERTa numbers positions from `pad_token_id + 1` (its embeddings reserve the first rows).
    public var positionOffset: Int { modelType == "roberta" ? padTokenID + 1 : 0 }

    public var parameterCount: Int {
        let embed = (vocabularySize + maxPositions + typeVocabularySize) * hiddenSize + 2 * hiddenSize
        let attention = 4 * (hiddenSize * hiddenSize + hiddenSize) + 2 * hiddenSize
        let mlp = 2 * hiddenSize * intermediateSize + intermediateSize + hiddenSize + 2 * hiddenSize
        return embed + layerCount * (attention + mlp)
    }

    func validate(file: String) throws {
        for (k, v) in [
            ("vocab_size", vocabularySize), ("hidden_size", hiddenSize), ("num_hidden_layers", layerCount),
            ("num_attention_heads", headCount), ("intermediate_size", intermediateSize),
            ("max_position_embeddings", maxPositions),
        ] where v <= 0 {
            throw LoadError(.invalidValue, file: file, item: k, "must be positive, is \(v)")
        }
        guard hiddenSize % headCount == 0 else {
            throw LoadError(
                .invalidValue, file: file, item: "num_attention_heads",
                "\(headCount) does not divide hidden_size \(hiddenSize)")
        }
        guard positionEmbeddingType == "absolute" else {
            throw LoadError(
                .unsupported, file: file, item: "position_embedding_type",
                "'\(positionEmbeddingType)' is not supported (only 'absolute')")
        }
    }
}

extension EncoderConfig: Decodable {
    enum Keys: String, CodingKey {
        case modelType = "model_type", vocabSize = "vocab_size", hiddenSize = "hidden_size"
        case layers = "num_hidden_layers", heads = "num_attention_heads", intermediate = "intermediate_size"
        case act = "hidden_act", maxPositions = "max_position_embeddings", typeVocab = "type_vocab_size"
        case eps = "layer_norm_eps", pad = "pad_token_id", positionType = "position_embedding_type"
        case id2label, numLabels = "num_labels", problemType = "problem_type"
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: Keys.self)
        modelType = try c.decode(String.self, forKey: .modelType)
        let roberta = modelType == "roberta"
        vocabularySize = try c.decode(Int.self, forKey: .vocabSize)
        hiddenSize = try c.decodeIfPresent(Int.self, forKey: .hiddenSize) ?? 768
        layerCount = try c.decodeIfPresent(Int.self, forKey: .layers) ?? 12
        headCount = try c.decodeIfPresent(Int.self, forKey: .heads) ?? 12
        intermediateSize = try c.decodeIfPresent(Int.self, forKey: .intermediate) ?? 3072
        hiddenActivation = try c.decodeIfPresent(String.self, forKey: .act) ?? "gelu"
        maxPositions = try c.decodeIfPresent(Int.self, forKey: .maxPositions) ?? 512
        typeVocabularySize = try c.decodeIfPresent(Int.self, forKey: .typeVocab) ?? 2
        layerNormEpsilon = try c.decodeIfPresent(Double.self, forKey: .eps) ?? 1e-12
        padTokenID = try c.decodeIfPresent(Int.self, forKey: .pad) ?? (roberta ? 1 : 0)
        positionEmbeddingType = try c.decodeIfPresent(String.self, forKey: .positionType) ?? "absolute"
        problemType = try c.decodeIfPresent(String.self, forKey: .problemType)
        if let map = try c.decodeIfPresent([String: String].self, forKey: .id2label) {
            var names = [String](repeating: "", count: map.count)
            for (k, v) in map {
                guard let i = Int(k), i >= 0, i < map.count else {
                    throw DecodingError.dataCorrupted(
                        .init(
                            codingPath: [Keys.id2label, AnyKey(k)],
                            debugDescription: "id2label keys must be 0..<\(map.count)"))
                }
                names[i] = v
            }
            labelNames = names
        } else {
            let n = try c.decodeIfPresent(Int.self, forKey: .numLabels) ?? 2
            labelNames = (0..<n).map { "LABEL_\($0)" }
        }
    }
}
