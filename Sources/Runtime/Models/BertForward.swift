import Foundation

/// The BERT / RoBERTa encoder forward pass, written once. Embeddings (word + position + token type)
/// are summed and normalised; then per layer, with post-norm residuals:
///
///     a  = LayerNorm(x + attention_output(attention(q, k, v))),   [q; k; v] = qkv(x), bidirectional
///     x' = LayerNorm(a + output(gelu(intermediate(a))))
///
/// and the sequence-classification head reads the first token: pooler (dense + tanh), then the label
/// projection. Scoring runs it with reused buffers and the last layer only at the first tokens;
/// training and curvature run it with an `EncoderTape`.
extension BertModel {
    /// Classification logits, sequences × labels, for variable-length sequences (each starting with its
    /// [CLS] / <s> token) run packed with no padding. `tokenTypes` defaults to all zeros. With `noise`
    /// (one seed per sequence), sequence s runs under the weight sample its patches' samplers draw from
    /// noise.seeds[s]; the head stays deterministic, as a decoder's does.
    public func classify(_ batch: [[Int]], tokenTypes: [[Int]]? = nil, noise: SequenceNoise? = nil) -> Tensor {
        precondition(hasClassificationHead, "the encoder has no classification head; check hasClassificationHead first")
        let packed = PackedBatch(batch)
        let noise = noise.map { SampleSeeds(rows: packed.sequences, $0) }
        // Only the first token of each sequence reaches the head, so the last layer runs only there.
        let first = run(packed, tokenTypes: tokenTypes, firstOnly: true, tape: nil, noise: noise)
        return classificationHead(first, noise: noise?.oneRowEach(.first)).logits
    }

    /// The last layer's hidden states of every token, packed: Σ lengths × hidden, sequences in order.
    public func hiddenStates(_ batch: [[Int]], tokenTypes: [[Int]]? = nil) -> Tensor {
        run(PackedBatch(batch), tokenTypes: tokenTypes, firstOnly: false, tape: nil)
    }

    /// Classification forward pass that keeps what `backward` needs.
    public func trainingForward(_ sequences: [[Int]], tokenTypes: [[Int]]? = nil) -> EncoderTape {
        precondition(hasClassificationHead, "the encoder has no classification head")
        let batch = PackedBatch(sequences)
        let tape = EncoderTape(layout: attentionLayout(batch))
        let x = run(batch, tokenTypes: tokenTypes, firstOnly: false, tape: tape)
        tape.first = backend.gatherRows(x, batch.sequences.map(\.lowerBound), width: config.hiddenSize)
        (tape.pooled, tape.logits) = classificationHead(tape.first)
        return tape
    }

    /// The head on each sequence's first-token hidden state: pooled = tanh(pooler(first)), then the labels.
    /// `noise` samples the LoRA patches a head may carry (PEFT targets the pooler's `dense` too); a saved
    /// module (the classifier) has none and stays deterministic.
    func classificationHead(_ first: Tensor, noise: SampleSeeds? = nil) -> (pooled: Tensor, logits: Tensor) {
        let pooler = pooler!, classifier = classifier!
        let B = first.rows, H = config.hiddenSize
        let scratch = backend.tensor([B, max(1, pooler.maxRank, classifier.maxRank)])
        let pooled = backend.tensor([B, H])
        pooler.forward(
            first.pointer, rows: B, into: pooled.pointer, backend: backend, scratch: scratch.pointer, noise: noise)
        backend.tanh(pooled.pointer, count: pooled.count)
        let logits = backend.tensor([B, classifier.outFeatures])
        classifier.forward(
            pooled.pointer, rows: B, into: logits.pointer, backend: backend, scratch: scratch.pointer, noise: noise)
        return (pooled, logits)
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
    /// Without a tape, buffers are reused across layers (and `firstOnly` runs the last layer only at the
    /// first tokens); with one, every layer's activations are kept for the backward pass.
    /// `noise`: each sequence's weight sample (prediction only, never with a tape).
    func run(
        _ batch: PackedBatch, tokenTypes: [[Int]]?, firstOnly: Bool, tape: EncoderTape?, noise: SampleSeeds? = nil
    ) -> Tensor {
        let T = batch.tokenCount, B = batch.sequences.count
        let H = config.hiddenSize, I = config.intermediateSize
        precondition(B > 0, "empty batch")
        precondition(
            tokenTypes == nil || tokenTypes!.map(\.count) == batch.sequences.map(\.count),
            "token types must match the sequences' lengths")
        precondition(tape == nil || !firstOnly, "a taped pass keeps every row")
        precondition(tape == nil || noise == nil, "weight samples are for prediction, not for a taped pass")
        let eps = Float(config.layerNormEpsilon)
        let keep = tape != nil
        func buffer(_ shared: Tensor) -> Tensor { keep ? backend.tensor(shared.shape) : shared }

        var x = embed(batch, tokenTypes: tokenTypes)
        let layout = attentionLayout(batch)
        let maxRank = max(1, allLinears.map(\.maxRank).max() ?? 1)
        let sharedQKV = backend.tensor([T, 3 * H]), sharedContext = backend.tensor([T, H])
        let sharedSum = backend.tensor([T, H]), sharedInner = backend.tensor([T, I])
        let activated = keep ? backend.tensor([T, I]) : sharedInner, scratch = backend.tensor([T, maxRank])
        for (n, layer) in layers.enumerated() {
            let reduce = firstOnly && n == layers.count - 1
            tape?.xs.append(x)
            let qkv = buffer(sharedQKV), context = buffer(sharedContext)
            layer.qkv.forward(
                x.pointer, rows: T, into: qkv.pointer, backend: backend, scratch: scratch.pointer, noise: noise)
            var asking = layout
            asking.queries = reduce ? .first : .all
            backend.attention(asking, qkv: qkv.pointer, into: context.pointer)
            tape?.qkv.append(qkv); tape?.context.append(context)
            // Only the first tokens continue past a reduced attention: gather their residual rows.
            if reduce { x = backend.gatherRows(x, batch.sequences.map(\.lowerBound), width: H) }
            let rows = reduce ? B : T
            // Past a reduced attention each sequence is one row.
            let rowNoise = reduce ? noise?.oneRowEach(.first) : noise
            // Post-norm residuals: x = LayerNorm(x + sublayer(x)); an untaped pass normalises back into x.
            let attentionSum = buffer(sharedSum)
            layer.attentionOutput.forward(
                context.pointer, rows: rows, into: attentionSum.pointer, backend: backend, scratch: scratch.pointer,
                noise: rowNoise)
            backend.add(x.pointer, into: attentionSum.pointer, count: rows * H)
            if keep { x = backend.tensor([T, H]) }
            backend.layerNorm(
                attentionSum.pointer, weight: layer.attentionNorm.weight.pointer,
                bias: layer.attentionNorm.bias.pointer, epsilon: eps, rows: rows, columns: H, into: x.pointer)
            tape?.attentionSum.append(attentionSum); tape?.attentionNormed.append(x)
            let inner = buffer(sharedInner)
            layer.intermediate.forward(
                x.pointer, rows: rows, into: inner.pointer, backend: backend, scratch: scratch.pointer, noise: rowNoise)
            tape?.intermediate.append(inner)  // before GELU: a taped pass activates a copy
            if keep { backend.copy(inner.pointer, into: activated.pointer, count: rows * I) }
            backend.gelu(activated.pointer, count: rows * I)
            let outputSum = buffer(sharedSum)
            layer.output.forward(
                activated.pointer, rows: rows, into: outputSum.pointer, backend: backend, scratch: scratch.pointer,
                noise: rowNoise)
            backend.add(x.pointer, into: outputSum.pointer, count: rows * H)
            tape?.outputSum.append(outputSum)
            if keep { x = backend.tensor([T, H]) }
            backend.layerNorm(
                outputSum.pointer, weight: layer.outputNorm.weight.pointer, bias: layer.outputNorm.bias.pointer,
                epsilon: eps, rows: rows, columns: H, into: x.pointer)
        }
        tape?.xs.append(x)
        return x
    }

    /// Word + position + token-type embeddings, summed then normalised: the first layer's input.
    func embed(_ batch: PackedBatch, tokenTypes: [[Int]]?) -> Tensor {
        let T = batch.tokenCount, H = config.hiddenSize
        let eps = Float(config.layerNormEpsilon)
        // Embeddings: word + position + token type, summed then normalised.
        var positions: [Int] = [], types: [Int] = []
        for (s, range) in batch.sequences.enumerated() {
            precondition(!range.isEmpty, "sequence \(s) is empty")
            positions += positionIDs(batch.tokens[range])
            types += tokenTypes?[s] ?? Array(repeating: 0, count: range.count)
        }
        precondition(
            batch.tokens.allSatisfy { $0 >= 0 && $0 < config.vocabularySize }, "token id outside the vocabulary")
        precondition(
            positions.allSatisfy { $0 < config.maxPositions },
            "a sequence is longer than the \(maxSequenceLength) positions the model has")
        precondition(
            types.allSatisfy { $0 >= 0 && $0 < config.typeVocabularySize },
            "token type outside 0..<\(config.typeVocabularySize)")
        let summed = backend.gatherRows(wordEmbeddings, batch.tokens, width: H)
        for (table, rows) in [(positionEmbeddings, positions), (tokenTypeEmbeddings, types)] {
            let part = backend.gatherRows(table, rows, width: H)
            backend.add(part.pointer, into: summed.pointer, count: T * H)
        }
        let x = backend.tensor([T, H])
        backend.layerNorm(
            summed.pointer, weight: embeddingNorm.weight.pointer, bias: embeddingNorm.bias.pointer,
            epsilon: eps, rows: T, columns: H, into: x.pointer)

        return x
    }

    /// Bidirectional attention of each sequence to itself (the shared kernel, `AttentionLayout`); no mask,
    /// since packing leaves no padding.
    func attentionLayout(_ batch: PackedBatch) -> AttentionLayout {
        let H = config.hiddenSize
        return AttentionLayout(
            sequences: batch.sequences, header: nil, causal: false, heads: config.headCount,
            keyValueHeads: config.headCount, headDimension: headDimension, stride: 3 * H,
            queryOffset: 0, keyOffset: H, valueOffset: 2 * H)
    }
}
