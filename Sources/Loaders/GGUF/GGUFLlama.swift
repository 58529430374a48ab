/// Hyper-parameters of a llama-arch GGUF file (`llama.*` metadata).
public struct GGUFLlamaHyperParameters: Sendable, Equatable {
    public var blockCount: Int
    public var embeddingLength: Int
    public var feedForwardLength: Int
    public var headCount: Int
    public var headCountKV: Int
    public var contextLength: Int
    public var vocabSize: Int
    public var ropeDimensionCount: Int
    /// Float32 as stored (`rope.freq_base`; 10000 when absent, llama.cpp's default).
    public var ropeFreqBase: Float
    public var rmsNormEpsilon: Float
    /// From `rope.scaling.type` / `rope.scaling.factor` (or the older `rope.scale_linear`) and the
    /// `rope_freqs.weight` tensor, which is how llama.cpp's converter stores llama3 scaling.
    public var ropeScaling: RoPEConfig.Scaling
    /// True when the file has no `output.weight`: the LM head reuses `token_embd.weight`.
    public var tiedEmbeddings: Bool

    public var headDim: Int { embeddingLength / headCount }
    public var rope: RoPEConfig { RoPEConfig(theta: Double(ropeFreqBase), scaling: ropeScaling) }

    public init(
        blockCount: Int, embeddingLength: Int, feedForwardLength: Int, headCount: Int, headCountKV: Int,
        contextLength: Int, vocabSize: Int, ropeDimensionCount: Int, ropeFreqBase: Float,
        rmsNormEpsilon: Float, ropeScaling: RoPEConfig.Scaling = .none, tiedEmbeddings: Bool
    ) {
        self.blockCount = blockCount; self.embeddingLength = embeddingLength
        self.feedForwardLength = feedForwardLength; self.headCount = headCount; self.headCountKV = headCountKV
        self.contextLength = contextLength; self.vocabSize = vocabSize; self.ropeDimensionCount = ropeDimensionCount
        self.ropeFreqBase = ropeFreqBase; self.rmsNormEpsilon = rmsNormEpsilon
        self.ropeScaling = ropeScaling; self.tiedEmbeddings = tiedEmbeddings
    }
}

/// A decoded tensor with its row-major (PyTorch) shape.
public struct GGUFFloatTensor: Sendable, Equatable {
    public var shape: [Int]
    public var values: [Float]

    public init(shape: [Int], values: [Float]) {
        self.shape = shape
        self.values = values
    }
}

extension GGUFFile {
    /// Reads `llama.*` hyper-parameters. Requires `general.architecture == "llama"`.
    public func llamaHyperParameters() throws -> GGUFLlamaHyperParameters {
        guard let arch = architecture else {
            throw LoadError(.missingKey, file: path, item: "general.architecture", "missing")
        }
        guard arch == "llama" else {
            throw LoadError(
                .unsupported, file: path, item: "general.architecture",
                "architecture '\(arch)' is not llama")
        }
        func int(_ key: String, default value: Int? = nil) throws -> Int {
            guard let v = metadata["llama." + key] else {
                if let value { return value }
                throw LoadError(.missingKey, file: path, item: "llama." + key, "missing")
            }
            guard let i = v.int, i > 0 else {
                throw LoadError(.invalidValue, file: path, item: "llama." + key, "must be a positive integer, got \(v)")
            }
            return i
        }
        func float(_ key: String, default value: Float? = nil) throws -> Float {
            guard let v = metadata["llama." + key] else {
                if let value { return value }
                throw LoadError(.missingKey, file: path, item: "llama." + key, "missing")
            }
            guard let f = v.float, f.isFinite, f > 0 else {
                throw LoadError(.invalidValue, file: path, item: "llama." + key, "must be a positive number, got \(v)")
            }
            return f
        }
        let embedding = try int("embedding_length")
        let heads = try int("attention.head_count")
        let kvHeads = try int("attention.head_count_kv", default: heads)
        guard embedding % heads == 0, (embedding / heads) % 2 == 0 else {
            throw LoadError(
                .invalidValue, file: path, item: "llama.attention.head_count",
                "\(heads) heads do not split embedding_length \(embedding) into heads of even size")
        }
        guard heads % kvHeads == 0 else {
            throw LoadError(
                .invalidValue, file: path, item: "llama.attention.head_count_kv",
                "\(kvHeads) key/value heads do not divide \(heads) query heads")
        }
        let vocabFallback = metadata["tokenizer.ggml.tokens"]?.array?.count ?? tensor("token_embd.weight")?.shape.first
        let ropeDimensions = try int("rope.dimension_count", default: embedding / heads)
        guard ropeDimensions == embedding / heads else {
            throw LoadError(
                .unsupported, file: path, item: "llama.rope.dimension_count",
                "rotary embedding over \(ropeDimensions) of \(embedding / heads) head dimensions "
                    + "(partial rotary) is not supported")
        }
        return GGUFLlamaHyperParameters(
            blockCount: try int("block_count"), embeddingLength: embedding,
            feedForwardLength: try int("feed_forward_length"), headCount: heads, headCountKV: kvHeads,
            contextLength: try int("context_length"), vocabSize: try int("vocab_size", default: vocabFallback),
            ropeDimensionCount: ropeDimensions,
            ropeFreqBase: try float("rope.freq_base", default: 10000),
            rmsNormEpsilon: try float("attention.layer_norm_rms_epsilon"),
            ropeScaling: try ropeScaling(pairs: ropeDimensions / 2, linearFactor: float),
            tiedEmbeddings: tensor("output.weight") == nil)
    }

    /// llama.cpp applies `rope_freqs.weight` (one divisor per rotary pair) and a linear factor together:
    /// angle = position · θ^(−2i/d) / (freqs[i] · factor). Other scaling types (yarn, longrope) are refused
    /// rather than run with plain rope.
    private func ropeScaling(
        pairs: Int, linearFactor float: (String, Float?) throws -> Float
    ) throws
        -> RoPEConfig.Scaling
    {
        let typeKey = "llama.rope.scaling.type"
        let type = metadata[typeKey].map { $0.string ?? "\($0)" } ?? "none"
        var factor = 1.0
        switch type {
        case "none":
            if metadata["llama.rope.scale_linear"] != nil { factor = Double(try float("rope.scale_linear", nil)) }
        case "linear":
            factor = Double(try float("rope.scaling.factor", nil))
        default:
            throw LoadError(
                .unsupported, file: path, item: typeKey,
                "rope scaling type '\(type)' is not supported (supported: none, linear, and llama3 "
                    + "as rope_freqs.weight)")
        }
        guard tensor("rope_freqs.weight") != nil else { return factor == 1 ? .none : .linear(factor: factor) }
        let divisors = try floats("rope_freqs.weight")
        guard divisors.count == pairs else {
            throw LoadError(
                .shapeMismatch, file: path, item: "rope_freqs.weight",
                "has \(divisors.count) values, expected one per rotary pair (\(pairs))")
        }
        guard let bad = divisors.firstIndex(where: { !($0.isFinite && $0 > 0) }) else {
            return .frequencyDivisors(divisors.map { Double($0) * factor })
        }
        throw LoadError(
            .invalidValue, file: path, item: "rope_freqs.weight",
            "value \(bad) is \(divisors[bad]); rope frequency factors must be positive")
    }

    /// Every tensor of a llama-arch file decoded to Float32 under its Hugging Face name, with Q/K rows put
    /// back in Hugging Face order; tensors are decoded in parallel. With tied embeddings there is no
    /// `lm_head.weight` entry (it is `model.embed_tokens.weight`; not duplicated to save memory).
    /// `rope_freqs.weight` (llama 3 rope scaling factors; HF derives them from the config) is read into
    /// `hyperParameters.ropeScaling`, not returned as a weight; any other tensor without an HF name is an error.
    public func llamaTensors() throws -> (hyperParameters: GGUFLlamaHyperParameters, tensors: [String: GGUFFloatTensor])
    {
        let hp = try llamaHyperParameters()
        let plans = try tensors.filter { $0.name != "rope_freqs.weight" }.map { try llamaPlan($0.name, hp) }
        let decoded = decodeInParallel(plans.map(\.job))
        var out: [String: GGUFFloatTensor] = [:]
        out.reserveCapacity(plans.count)
        for (plan, values) in zip(plans, decoded) {
            out[plan.hfName] = GGUFFloatTensor(shape: plan.job.info.shape, values: plan.finish(values))
        }
        return (hp, out)
    }

    /// One tensor of a llama-arch file in Hugging Face layout, e.g. `llamaTensor("blk.0.attn_q.weight", hp)`
    /// gives `model.layers.0.self_attn.q_proj.weight` with its rows un-permuted.
    public func llamaTensor(
        _ ggufName: String, _ hp: GGUFLlamaHyperParameters
    ) throws -> (hfName: String, tensor: GGUFFloatTensor) {
        let plan = try llamaPlan(ggufName, hp)
        let values = [Float](unsafeUninitializedCapacity: plan.job.info.elementCount) { buf, n in
            if let base = buf.baseAddress { decode(plan.job.info, rowMap: plan.job.rowMap, into: base) }
            n = plan.job.info.elementCount
        }
        return (plan.hfName, GGUFFloatTensor(shape: plan.job.info.shape, values: plan.finish(values)))
    }

    /// How one GGUF tensor becomes its HF counterpart: a decode job (with a row map for Q/K matrices) and,
    /// for Q/K biases (one GGUF row), an element permutation applied after decoding.
    struct LlamaPlan {
        let hfName: String
        let job: DecodeJob
        let biasHeads: Int
        func finish(_ values: [Float]) -> [Float] {
            guard biasHeads > 0 else { return values }
            // Cannot fail: llamaPlan checked that the length splits into biasHeads even-sized heads.
            return GGUFLlamaLayout.unpermute(values, rows: values.count, columns: 1, heads: biasHeads) ?? values
        }
    }

    func llamaPlan(_ name: String, _ hp: GGUFLlamaHyperParameters) throws -> LlamaPlan {
        _ = try requireTensor(name)
        guard let hf = GGUFLlamaLayout.hfName(forGGUF: name) else {
            throw LoadError(.unknownKey, file: path, item: name, "tensor has no Hugging Face llama counterpart")
        }
        let info = try decodable(name)
        let heads =
            name.hasSuffix(".attn_q.weight") || name.hasSuffix(".attn_q.bias")
            ? hp.headCount
            : name.hasSuffix(".attn_k.weight") || name.hasSuffix(".attn_k.bias") ? hp.headCountKV : 0
        guard heads > 0 else { return LlamaPlan(hfName: hf, job: DecodeJob(info: info, rowMap: nil), biasHeads: 0) }
        // A bias is a single GGUF row of `rows` elements; a weight has `rows` rows.
        let isVector = info.dims.count == 1
        let rows = isVector ? info.elementCount : info.rowCount
        guard info.dims.count <= 2, rows == heads * hp.headDim,
            let map = GGUFLlamaLayout.unpermuteRowMap(rows: rows, heads: heads)
        else {
            throw LoadError(
                .shapeMismatch, file: path, item: name,
                "shape \(info.shape) does not hold \(heads) heads of \(hp.headDim) rows")
        }
        return LlamaPlan(
            hfName: hf, job: DecodeJob(info: info, rowMap: isVector ? nil : map),
            biasHeads: isVector ? heads : 0)
    }
}
