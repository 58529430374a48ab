import Foundation

extension BertModel {
    /// Classification logits, sequences × labels, for variable-length sequences (each starting with its
    /// [CLS] / <s> token) run packed with no padding. `tokenTypes` defaults to all zeros.
    public func classify(_ batch: [[Int]], tokenTypes: [[Int]]? = nil) -> Tensor {
        precondition(hasClassificationHead, "the encoder has no classification head; check hasClassificationHead first")
        let pooler = pooler!, classifier = classifier!
        // Only the first token of each sequence reaches the head, so the last layer runs only there.
        let first = run(PackedBatch(batch), tokenTypes: tokenTypes, firstOnly: true)
        let B = first.rows, H = config.hiddenSize
        let scratch = Tensor(shape: [B, max(1, pooler.maxRank, classifier.maxRank)])
        let pooled = Tensor(shape: [B, H])
        pooler.forward(first.pointer, rows: B, into: pooled.pointer, backend: backend, scratch: scratch.pointer)
        for j in 0..<pooled.count { pooled[j] = Foundation.tanh(pooled[j]) }
        let logits = Tensor(shape: [B, classifier.outFeatures])
        classifier.forward(pooled.pointer, rows: B, into: logits.pointer, backend: backend, scratch: scratch.pointer)
        return logits
    }

    /// The last layer's hidden states of every token, packed: Σ lengths × hidden, sequences in order.
    public func hiddenStates(_ batch: [[Int]], tokenTypes: [[Int]]? = nil) -> Tensor {
        run(PackedBatch(batch), tokenTypes: tokenTypes, firstOnly: false)
    }

    /// Position ids as transformers numbers them: BERT counts from 0; RoBERTa
    /// (create_position_ids_from_input_ids) gives padding tokens `pad_token_id` and every other token
    /// `pad_token_id` + its 1-based count among the sequence's non-padding tokens.
    public func positionIDs(_ tokens: some Collection<Int>) -> [Int] {
        guard isRoberta else { return Array(0..<tokens.count) }
        let pad = config.padTokenID
        var seen = 0
        return tokens.map { id in
            if id == pad { return pad }
            seen += 1
            return pad + seen
        }
    }

    /// Hidden states after the last layer: every token's row, or with `firstOnly` each sequence's first.
    func run(_ batch: PackedBatch, tokenTypes: [[Int]]?, firstOnly: Bool) -> Tensor {
        let T = batch.tokenCount, B = batch.sequences.count
        let H = config.hiddenSize, I = config.intermediateSize
        precondition(B > 0, "empty batch")
        precondition(
            tokenTypes == nil || tokenTypes!.map(\.count) == batch.sequences.map(\.count),
            "token types must match the sequences' lengths")
        let eps = Float(config.layerNormEpsilon)

        var x = embed(batch, tokenTypes: tokenTypes)

        let maxRank = max(1, allLinears.map(\.maxRank).max() ?? 1)
        let qkv = Tensor(shape: [T, 3 * H]), context = Tensor(shape: [T, H]), delta = Tensor(shape: [T, H])
        let inner = Tensor(shape: [T, I]), scratch = Tensor(shape: [T, maxRank])
        for (n, layer) in layers.enumerated() {
            let reduce = firstOnly && n == layers.count - 1
            layer.qkv.forward(x.pointer, rows: T, into: qkv.pointer, backend: backend, scratch: scratch.pointer)
            attend(qkv: qkv.pointer, batch: batch, firstOnly: reduce, into: context.pointer)
            let rows = reduce ? B : T
            if reduce {
                // Only the first tokens continue: gather their residual rows.
                let kept = Tensor(shape: [B, H])
                for (i, r) in batch.sequences.enumerated() {
                    (kept.pointer + i * H).update(from: x.pointer + r.lowerBound * H, count: H)
                }
                x = kept
            }
            // Post-norm residuals: x = LayerNorm(x + sublayer(x)), summed in `delta` then normalised into x.
            layer.attentionOutput.forward(
                context.pointer, rows: rows, into: delta.pointer, backend: backend, scratch: scratch.pointer)
            backend.add(x.pointer, into: delta.pointer, count: rows * H)
            backend.layerNorm(
                delta.pointer, weight: layer.attentionNorm.weight.pointer, bias: layer.attentionNorm.bias.pointer,
                epsilon: eps, rows: rows, columns: H, into: x.pointer)
            layer.intermediate.forward(
                x.pointer, rows: rows, into: inner.pointer, backend: backend, scratch: scratch.pointer)
            backend.gelu(inner.pointer, count: rows * I)
            layer.output.forward(
                inner.pointer, rows: rows, into: delta.pointer, backend: backend, scratch: scratch.pointer)
            backend.add(x.pointer, into: delta.pointer, count: rows * H)
            backend.layerNorm(
                delta.pointer, weight: layer.outputNorm.weight.pointer, bias: layer.outputNorm.bias.pointer,
                epsilon: eps, rows: rows, columns: H, into: x.pointer)
        }
        return x
    }

    /// Word + position + token-type embeddings, summed then normalised: the first layer's input.
    func embed(_ batch: PackedBatch, tokenTypes: [[Int]]?) -> Tensor {
        let T = batch.tokenCount, H = config.hiddenSize
        let eps = Float(config.layerNormEpsilon)
        // Embeddings: word + position + token type, summed then normalised.
        let summed = Tensor(shape: [T, H])
        for (s, range) in batch.sequences.enumerated() {
            precondition(!range.isEmpty, "sequence \(s) is empty")
            let positions = positionIDs(batch.tokens[range])
            for (k, t) in range.enumerated() {
                let id = batch.tokens[t], p = positions[k], type = tokenTypes?[s][k] ?? 0
                precondition(id >= 0 && id < config.vocabularySize, "token id \(id) outside the vocabulary")
                precondition(
                    p < config.maxPositions,
                    "sequence \(s) is longer than the \(maxSequenceLength) positions the model has")
                precondition(
                    type >= 0 && type < config.typeVocabularySize,
                    "token type \(type) outside 0..<\(config.typeVocabularySize)")
                let row = summed.pointer + t * H
                let w = wordEmbeddings.pointer + id * H, pe = positionEmbeddings.pointer + p * H
                let te = tokenTypeEmbeddings.pointer + type * H
                for j in 0..<H { row[j] = w[j] + pe[j] + te[j] }
            }
        }
        let x = Tensor(shape: [T, H])
        backend.layerNorm(
            summed.pointer, weight: embeddingNorm.weight.pointer, bias: embeddingNorm.bias.pointer,
            epsilon: eps, rows: T, columns: H, into: x.pointer)

        return x
    }

    /// Bidirectional attention of each sequence to itself (the shared kernel, `AttentionLayout`); no mask,
    /// since packing leaves no padding. With `firstOnly`, only each sequence's first token asks (one output
    /// row per sequence).
    func attend(
        qkv: UnsafeMutablePointer<Float>, batch: PackedBatch, firstOnly: Bool, into out: UnsafeMutablePointer<Float>
    ) {
        let H = config.hiddenSize
        var layout = AttentionLayout(
            sequences: batch.sequences, header: nil, causal: false, heads: config.headCount,
            keyValueHeads: config.headCount, headDimension: headDimension, stride: 3 * H,
            queryOffset: 0, keyOffset: H, valueOffset: 2 * H)
        layout.queries = firstOnly ? .first : .all
        layout.forward(qkv, backend: backend, into: out)
    }
}
