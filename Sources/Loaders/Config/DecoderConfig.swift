/// Hyper-parameters of a LLaMA-family decoder (llama, mistral, qwen2), decoded from `config.json` with
/// explicit keys. Defaults are those of the transformers configuration class of each model type.
public struct DecoderConfig: Sendable, Equatable {
    public var modelType: String
    public var vocabularySize: Int
    public var hiddenSize: Int
    public var intermediateSize: Int
    public var layerCount: Int
    public var headCount: Int
    public var keyValueHeadCount: Int
    public var headDimension: Int
    public var rmsNormEpsilon: Double
    public var rope: RoPEConfig
    public var maxPositions: Int
    public var tieWordEmbeddings: Bool
    /// Bias on q, k and v projections (qwen2 always; llama with `attention_bias`).
    public var attentionBias: Bool
    public var mlpBias: Bool
    public var hiddenActivation: String
    public var slidingWindow: Int?
    public var bosTokenID: Int?
    public var eosTokenIDs: [Int]
    public var padTokenID: Int?

    public init(
        modelType: String, vocabularySize: Int, hiddenSize: Int, intermediateSize: Int,
        layerCount: Int, headCount: Int, keyValueHeadCount: Int, headDimension: Int? = nil,
        rmsNormEpsilon: Double = 1e-6, rope: RoPEConfig = RoPEConfig(theta: 10000),
        maxPositions: Int = 2048, tieWordEmbeddings: Bool = false, attentionBias: Bool = false,
        mlpBias: Bool = false, hiddenActivation: String = "silu", slidingWindow: Int? = nil,
        bosTokenID: Int? = nil, eosTokenIDs: [Int] = [], padTokenID: Int? = nil
    ) {
        self.modelType = modelType; self.vocabularySize = vocabularySize; self.hiddenSize = hiddenSize
        self.intermediateSize = intermediateSize; self.layerCount = layerCount; self.headCount = headCount
        self.keyValueHeadCount = keyValueHeadCount
        self.headDimension = headDimension ?? (headCount > 0 ? hiddenSize / headCount : 0)
        self.rmsNormEpsilon = rmsNormEpsilon; self.rope = rope; self.maxPositions = maxPositions
        self.tieWordEmbeddings = tieWordEmbeddings; self.attentionBias = attentionBias; self.mlpBias = mlpBias
        self.hiddenActivation = hiddenActivation; self.slidingWindow = slidingWindow
        self.bosTokenID = bosTokenID; self.eosTokenIDs = eosTokenIDs; self.padTokenID = padTokenID
    }

    /// The longest prompt the runtime scores exactly: the context, or the sliding window when the model
    /// has one (the runtime attends to the whole prompt, which equals sliding-window attention only up to
    /// the window).
    public var scoringContextLength: Int { min(maxPositions, slidingWindow ?? .max) }

    /// Parameter count of the base model (embeddings, attention, MLP, norms, untied head).
    public var parameterCount: Int {
        let q = hiddenSize * headCount * headDimension
        let kv = 2 * hiddenSize * keyValueHeadCount * headDimension
        let o = headCount * headDimension * hiddenSize
        let bias = attentionBias ? (headCount + 2 * keyValueHeadCount) * headDimension : 0
        let mlp = 3 * hiddenSize * intermediateSize + (mlpBias ? 2 * intermediateSize + hiddenSize : 0)
        let perLayer = q + kv + o + bias + mlp + 2 * hiddenSize
        let embed = vocabularySize * hiddenSize
        return embed + layerCount * perLayer + hiddenSize + (tieWordEmbeddings ? 0 : embed)
    }

    /// Checks the relations the runtime relies on; `file` names the config in the error.
    func validate(file: String) throws {
        func fail(_ item: String, _ msg: String) -> LoadError { LoadError(.invalidValue, file: file, item: item, msg) }
        for (k, v) in [
            ("vocab_size", vocabularySize), ("hidden_size", hiddenSize), ("intermediate_size", intermediateSize),
            ("num_hidden_layers", layerCount), ("num_attention_heads", headCount),
            ("num_key_value_heads", keyValueHeadCount), ("head_dim", headDimension),
        ] where v <= 0 {
            throw fail(k, "must be positive, is \(v)")
        }
        guard headCount % keyValueHeadCount == 0 else {
            throw fail("num_key_value_heads", "\(keyValueHeadCount) does not divide num_attention_heads \(headCount)")
        }
        guard headDimension % 2 == 0 else {
            throw fail("head_dim", "rotary embeddings need an even head_dim, got \(headDimension)")
        }
        guard rmsNormEpsilon > 0 else { throw fail("rms_norm_eps", "must be positive") }
        guard rope.theta > 0 else { throw fail("rope_theta", "must be positive") }
    }
}

extension DecoderConfig: Decodable {
    enum Keys: String, CodingKey {
        case modelType = "model_type", vocabSize = "vocab_size", hiddenSize = "hidden_size"
        case intermediateSize = "intermediate_size", layers = "num_hidden_layers", heads = "num_attention_heads"
        case kvHeads = "num_key_value_heads", headDim = "head_dim", rmsEps = "rms_norm_eps"
        case ropeTheta = "rope_theta", ropeScaling = "rope_scaling", ropeParameters = "rope_parameters"
        case maxPositions = "max_position_embeddings", tie = "tie_word_embeddings"
        case attentionBias = "attention_bias", mlpBias = "mlp_bias", act = "hidden_act"
        case slidingWindow = "sliding_window", useSlidingWindow = "use_sliding_window"
        case bos = "bos_token_id", eos = "eos_token_id", pad = "pad_token_id"
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: Keys.self)
        let type = try c.decode(String.self, forKey: .modelType)
        let heads = try c.decode(Int.self, forKey: .heads)
        let hidden = try c.decode(Int.self, forKey: .hiddenSize)
        // qwen2 always has q/k/v bias; llama and mistral only when the config asks for it.
        let bias = type == "qwen2" ? true : try c.decodeIfPresent(Bool.self, forKey: .attentionBias) ?? false
        var window: Int? = nil
        if type == "mistral" { window = try c.decodeIfPresent(Int.self, forKey: .slidingWindow) }
        if type == "qwen2", try c.decodeIfPresent(Bool.self, forKey: .useSlidingWindow) == true {
            window = try c.decodeIfPresent(Int.self, forKey: .slidingWindow)
        }
        let eos: [Int]
        if let many = try? c.decodeIfPresent([Int].self, forKey: .eos) {
            eos = many
        } else {
            eos = try c.decodeIfPresent(Int.self, forKey: .eos).map { [$0] } ?? []
        }
        self.init(
            modelType: type,
            vocabularySize: try c.decode(Int.self, forKey: .vocabSize),
            hiddenSize: hidden,
            intermediateSize: try c.decode(Int.self, forKey: .intermediateSize),
            layerCount: try c.decode(Int.self, forKey: .layers),
            headCount: heads,
            keyValueHeadCount: try c.decodeIfPresent(Int.self, forKey: .kvHeads) ?? heads,
            headDimension: try c.decodeIfPresent(Int.self, forKey: .headDim),
            rmsNormEpsilon: try c.decodeIfPresent(Double.self, forKey: .rmsEps) ?? 1e-6,
            rope: try RoPEConfig.decode(
                from: c, thetaKey: .ropeTheta, scalingKey: .ropeScaling,
                parametersKey: .ropeParameters,
                defaultTheta: type == "qwen2" || type == "mistral" ? 1_000_000 : 10_000),
            maxPositions: try c.decodeIfPresent(Int.self, forKey: .maxPositions) ?? (type == "llama" ? 2048 : 32768),
            tieWordEmbeddings: try c.decodeIfPresent(Bool.self, forKey: .tie) ?? false,
            attentionBias: bias,
            mlpBias: try c.decodeIfPresent(Bool.self, forKey: .mlpBias) ?? false,
            hiddenActivation: try c.decodeIfPresent(String.self, forKey: .act) ?? "silu",
            slidingWindow: window,
            bosTokenID: try c.decodeIfPresent(Int.self, forKey: .bos),
            eosTokenIDs: eos,
            padTokenID: try c.decodeIfPresent(Int.self, forKey: .pad))
    }
}
