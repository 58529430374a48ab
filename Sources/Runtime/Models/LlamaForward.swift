import Foundation

/// The LLaMA forward pass, written once. Per layer:
///
///     h   = x + o_proj(attention(rope(q, k), v)),   [q; k; v] = qkv_proj(rmsNorm(x))
///     x'  = h + down_proj(silu(gate) · up),          [gate; up] = gate_up_proj(rmsNorm(h))
///
/// then a final RMSNorm and the LM head. Scoring, Monte Carlo sampling, prefix caching, training and
/// curvature all run this one pass: scoring with reused buffers and the last layer only at the scored
/// rows, training with a `DecoderTape` that keeps what the backward pass needs.
extension LlamaModel {
    /// How one pass lays out its sequences: positions, the attention layout and the rows it scores.
    struct DecoderPassPlan {
        let batch: PackedBatch
        let layout: AttentionLayout
        /// Each token's RoPE position: its prefix (cached or in-graph header) length plus its index.
        let positions: [Int]
        /// The last row of every scored sequence (all sequences but an in-graph header).
        let scoredRows: [Int]
    }

    func plan(_ batch: PackedBatch, inGraphHeader: Bool, prefix: PrefixCache?) -> DecoderPassPlan {
        precondition(!(inGraphHeader && prefix != nil), "a pass has an in-graph header or a cached prefix, not both")
        let layout = AttentionLayout(
            sequences: batch.sequences, header: inGraphHeader ? 0 : nil, causal: true,
            heads: config.headCount, keyValueHeads: config.keyValueHeadCount, headDimension: config.headDimension,
            stride: queryWidth + 2 * keyValueWidth, queryOffset: 0, keyOffset: queryWidth,
            valueOffset: queryWidth + keyValueWidth)
        let headerLength = inGraphHeader ? batch.sequences[0].count : 0
        var positions = [Int](repeating: 0, count: batch.tokenCount)
        for (i, seq) in batch.sequences.enumerated() {
            let start = (prefix?.length ?? 0) + (inGraphHeader && i > 0 ? headerLength : 0)
            for (k, t) in seq.enumerated() { positions[t] = start + k }
        }
        let scored = batch.sequences.dropFirst(inGraphHeader ? 1 : 0).map { $0.upperBound - 1 }
        return DecoderPassPlan(batch: batch, layout: layout, positions: positions, scoredRows: scored)
    }

    /// Runs a shared prompt header once and keeps its keys and values (after RoPE) for every layer.
    public func makePrefixCache(tokens: [Int]) -> PrefixCache {
        precondition(!tokens.isEmpty)
        let plan = plan(PackedBatch([tokens]), inGraphHeader: false, prefix: nil)
        let tape = DecoderTape(plan: plan, hidden: backend.tensor([0, config.hiddenSize]))
        _ = run(plan, prefix: nil, hiddenRows: .scored, noise: nil, tape: tape)
        let kvW = keyValueWidth, stride = plan.layout.stride
        func block(_ qkv: Tensor, offset: Int) -> Tensor {
            let out = backend.tensor([tokens.count, kvW])
            for t in 0..<tokens.count {
                (out.pointer + t * kvW).update(from: qkv.pointer + t * stride + offset, count: kvW)
            }
            return out
        }
        return PrefixCache(
            tokens: tokens, keys: tape.qkv.map { block($0, offset: queryWidth) },
            values: tape.qkv.map { block($0, offset: queryWidth + kvW) })
    }

    /// Forward pass over packed sequences that continue `prefix` (positions start after it). With `noise`
    /// (one seed per sequence), every LoRA patch that carries a posterior draws its own weight sample per
    /// sequence; the prefix, computed once, stays at the mean weights, so samplers pass no prefix.
    public func forward(
        _ batch: PackedBatch, prefix: PrefixCache? = nil, output: DecoderOutput, noise: SequenceNoise? = nil
    ) -> Tensor {
        // A cached prefix ran at the mean weights: under a weight sample its keys and values would be wrong.
        precondition(noise == nil || prefix == nil, "weight samples cannot reuse a prefix cache")
        let noise = noise.map { SampleSeeds(rows: batch.sequences, $0) }
        let plan = plan(batch, inGraphHeader: false, prefix: prefix)
        switch output {
        case .lastPositionLogits(let ids):
            let hidden = run(plan, prefix: prefix, hiddenRows: .scored, noise: noise, tape: nil)
            return selectedLogits(hidden, ids: ids, noise: noise?.oneRowEach(.last))
        case .allLogits:
            let hidden = run(plan, prefix: prefix, hiddenRows: .all, noise: noise, tape: nil)
            let logits = backend.tensor([hidden.rows, config.vocabularySize])
            let scratch = backend.tensor([hidden.rows, max(1, lmHead.maxRank)])
            lmHead.forward(
                hidden.pointer, rows: hidden.rows, into: logits.pointer, backend: backend, scratch: scratch.pointer,
                noise: noise)
            return logits
        }
    }

    /// Forward pass that keeps what the backward pass needs. `header` (may be empty) runs once and every
    /// sequence continues it, as the scorer's prefix cache does, but here its keys and values stay in
    /// the graph, so gradients reach the header's tokens through every sequence that attends to them.
    public func trainingForward(header: [Int], sequences: [[Int]]) -> DecoderTape {
        precondition(!sequences.isEmpty && sequences.allSatisfy { !$0.isEmpty }, "empty sequence")
        let plan = plan(
            PackedBatch(header.isEmpty ? sequences : [header] + sequences), inGraphHeader: !header.isEmpty,
            prefix: nil)
        let tape = DecoderTape(plan: plan, hidden: backend.tensor([plan.scoredRows.count, config.hiddenSize]))
        tape.hidden = run(plan, prefix: nil, hiddenRows: .scored, noise: nil, tape: tape)
        return tape
    }

    /// Which rows a pass returns final-norm hidden states for.
    enum HiddenRows { case all, scored }

    /// The pass itself. Without a tape, buffers are reused across layers and, when only the scored rows
    /// are wanted, the last layer runs only there. With a tape, every layer's activations are kept and
    /// every row runs every layer (the backward pass needs them all).
    func run(
        _ plan: DecoderPassPlan, prefix: PrefixCache?, hiddenRows: HiddenRows, noise: SampleSeeds?,
        tape: DecoderTape?
    ) -> Tensor {
        precondition(tape == nil || noise == nil, "weight samples are for prediction, not for a taped pass")
        let batch = plan.batch, T = batch.tokenCount
        let H = config.hiddenSize, I = config.intermediateSize, qW = queryWidth, stride = plan.layout.stride
        rope.reserve((plan.positions.max() ?? 0) + 1)
        let keep = tape != nil
        // Reused buffers (a taped pass allocates a fresh one per layer for what it keeps).
        func buffer(_ shared: Tensor) -> Tensor { keep ? backend.tensor(shared.shape) : shared }

        var x = backend.gatherRows(embedding, batch.tokens, width: H)
        let maxRank = max(1, allLinears.map(\.maxRank).max() ?? 1)
        let normed = backend.tensor([T, H]), sharedQKV = backend.tensor([T, stride])
        let sharedAttended = backend.tensor([T, qW]), sharedGateUp = backend.tensor([T, 2 * I])
        let activated = backend.tensor([T, I]), delta = backend.tensor([T, H])
        let scratch = backend.tensor([T, maxRank])
        let eps = Float(config.rmsNormEpsilon)

        var reduced = false
        for (n, layer) in layers.enumerated() {
            // The last layer of an untaped pass runs only at the scored rows when only they are wanted.
            let reduce = !keep && hiddenRows == .scored && n == layers.count - 1
            reduced = reduced || reduce
            if let tape { tape.xs.append(x); x = backend.copy(x) }
            backend.rmsNorm(
                x.pointer, weight: layer.attentionNorm.pointer, epsilon: eps, rows: T, columns: H, into: normed.pointer)
            let qkv = buffer(sharedQKV)
            layer.qkv.forward(
                normed.pointer, rows: T, into: qkv.pointer, backend: backend, scratch: scratch.pointer, noise: noise)
            rotate(qkv.pointer, positions: plan.positions, inverse: false)
            let attended = buffer(sharedAttended)
            var layout = plan.layout
            if let prefix, prefix.length > 0 {
                layout.cached = .init(
                    keys: prefix.keys[n].pointer, values: prefix.values[n].pointer, rows: prefix.length)
            }
            layout.queries = reduce ? .last : .all
            withExtendedLifetime(prefix) { backend.attention(layout, qkv: qkv.pointer, into: attended.pointer) }
            tape?.qkv.append(qkv); tape?.attended.append(attended)
            // Only the scored positions continue past a reduced attention: gather their residual rows.
            if reduce { x = backend.gatherRows(x, plan.scoredRows, width: H) }
            let rows = reduce ? plan.scoredRows.count : T
            let rowNoise = reduce ? noise?.oneRowEach(.last) : noise
            layer.output.forward(
                attended.pointer, rows: rows, into: delta.pointer, backend: backend, scratch: scratch.pointer,
                noise: rowNoise)
            backend.add(delta.pointer, into: x.pointer, count: rows * H)
            if let tape { tape.mids.append(x); x = backend.copy(x) }
            backend.rmsNorm(
                x.pointer, weight: layer.mlpNorm.pointer, epsilon: eps, rows: rows, columns: H, into: normed.pointer)
            let gateUp = buffer(sharedGateUp)
            layer.gateUp.forward(
                normed.pointer, rows: rows, into: gateUp.pointer, backend: backend, scratch: scratch.pointer,
                noise: rowNoise)
            tape?.gateUp.append(gateUp)
            backend.siluMultiply(
                gate: gateUp.pointer, up: gateUp.pointer + I, inputStride: 2 * I, rows: rows, columns: I,
                into: activated.pointer)
            layer.down.forward(
                activated.pointer, rows: rows, into: delta.pointer, backend: backend, scratch: scratch.pointer,
                noise: rowNoise)
            backend.add(delta.pointer, into: x.pointer, count: rows * H)
        }
        tape?.xs.append(x)
        // A reduced pass already holds only the scored rows.
        if hiddenRows == .scored && !reduced { x = backend.gatherRows(x, plan.scoredRows, width: H) }
        let out = backend.tensor([x.rows, H])
        backend.rmsNorm(x.pointer, weight: finalNorm.pointer, epsilon: eps, rows: x.rows, columns: H, into: out.pointer)
        return out
    }

    /// RoPE on the q and k blocks of every qkv row at its position, or its inverse (the backward).
    func rotate(_ qkv: UnsafeMutablePointer<Float>, positions: [Int], inverse: Bool) {
        backend.rotate(
            qkv, stride: queryWidth + 2 * keyValueWidth, positions: positions,
            blocks: [(0, config.headCount), (queryWidth, config.keyValueHeadCount)], rotary: rope, inverse: inverse)
    }

    /// Logits of only the requested vocabulary rows: never the full-vocabulary projection.
    func selectedLogits(_ hidden: Tensor, ids: [Int], noise: SampleSeeds? = nil) -> Tensor {
        let H = config.hiddenSize, K = ids.count, rows = hidden.rows
        let w = backend.gatherRows(lmHead.weight, ids, width: H)
        let logits = backend.tensor([rows, K])
        backend.linear(
            hidden.pointer, rows: rows, inFeatures: H, weight: w.pointer, outFeatures: K, into: logits.pointer)
        for p in lmHead.patches {
            let t = backend.tensor([rows, p.rank]), b = backend.gatherRows(p.b, ids, width: p.rank)
            backend.linear(
                hidden.pointer, rows: rows, inFeatures: H, weight: p.a.pointer, outFeatures: p.rank, into: t.pointer)
            if let noise, let sampler = p.sampler {
                p.addSample(
                    sampler, x: hidden.pointer, inFeatures: H, rows: noise, u: t.pointer, y: logits.pointer, ldy: K,
                    outputRows: ids, backend: backend)
            }
            backend.gemm(
                m: rows, n: K, k: p.rank, alpha: p.scaling, a: t.pointer, lda: p.rank, b: b.pointer, ldb: p.rank,
                transposeB: true, beta: 1, c: logits.pointer, ldc: K)
        }
        return logits
    }
}
