import Foundation

extension LlamaModel {
    /// Runs a shared prompt header once and keeps its keys and values.
    public func makePrefixCache(tokens: [Int]) -> PrefixCache {
        precondition(!tokens.isEmpty)
        var keys: [Tensor] = [], values: [Tensor] = []
        _ = run(
            PackedBatch([tokens]), prefix: nil, lastOnly: false,
            collect: { layer, qkv, stride in
                let k = Tensor(shape: [tokens.count, self.keyValueWidth]),
                    v = Tensor(shape: [tokens.count, self.keyValueWidth])
                for t in 0..<tokens.count {
                    (k.pointer + t * self.keyValueWidth).update(
                        from: qkv + t * stride + self.queryWidth, count: self.keyValueWidth)
                    (v.pointer + t * self.keyValueWidth).update(
                        from: qkv + t * stride + self.queryWidth + self.keyValueWidth, count: self.keyValueWidth)
                }
                keys.append(k); values.append(v)
            })
        return PrefixCache(tokens: tokens, keys: keys, values: values)
    }

    /// Forward pass over packed sequences that continue `prefix` (positions start after it). With `seeds`
    /// (one per sequence), every LoRA patch that carries a posterior draws its own weight sample per
    /// sequence; the prefix, computed once, stays at the mean weights, so samplers pass no prefix.
    public func forward(
        _ batch: PackedBatch, prefix: PrefixCache? = nil, output: DecoderOutput, seeds: [UInt64]? = nil
    ) -> Tensor {
        // A cached prefix ran at the mean weights: under a weight sample its keys and values would be wrong.
        precondition(seeds == nil || prefix == nil, "weight samples cannot reuse a prefix cache")
        let noise = seeds.map { SampleSeeds(rows: batch.sequences, seeds: $0) }
        switch output {
        case .lastPositionLogits(let ids):
            let hidden = run(batch, prefix: prefix, lastOnly: true, collect: nil, noise: noise)
            return selectedLogits(hidden, ids: ids, noise: noise?.oneRowEach)
        case .allLogits:
            let hidden = run(batch, prefix: prefix, lastOnly: false, collect: nil, noise: noise)
            let logits = Tensor(shape: [hidden.rows, config.vocabularySize])
            let scratch = Tensor(shape: [hidden.rows, max(1, lmHead.maxRank)])
            lmHead.forward(
                hidden.pointer, rows: hidden.rows, into: logits.pointer, backend: backend, scratch: scratch.pointer,
                noise: noise)
            return logits
        }
    }

    /// The final-norm hidden states: one row per sequence (`lastOnly`) or per token.
    func run(
        _ batch: PackedBatch, prefix: PrefixCache?, lastOnly: Bool,
        collect: ((Int, UnsafeMutablePointer<Float>, Int) -> Void)?, noise: SampleSeeds? = nil
    ) -> Tensor {
        let T = batch.tokenCount, B = batch.sequences.count
        let P = prefix?.length ?? 0
        let H = config.hiddenSize, I = config.intermediateSize
        let qW = queryWidth, kvW = keyValueWidth, stride = qW + 2 * kvW
        rope.reserve(P + (batch.sequences.map(\.count).max() ?? 0))

        var x = Tensor(shape: [T, H])
        for (t, id) in batch.tokens.enumerated() {
            (x.pointer + t * H).update(from: embedding.pointer + id * H, count: H)
        }
        let maxRank = max(1, allLinears.map(\.maxRank).max() ?? 1)
        let normed = Tensor(shape: [T, H]), qkv = Tensor(shape: [T, stride]), attended = Tensor(shape: [T, qW])
        let gateUp = Tensor(shape: [T, 2 * I]), activated = Tensor(shape: [T, I]), delta = Tensor(shape: [T, H])
        let scratch = Tensor(shape: [T, maxRank])
        let eps = Float(config.rmsNormEpsilon)
        let lastRows = batch.sequences.map { $0.upperBound - 1 }

        for (n, layer) in layers.enumerated() {
            let reduce = lastOnly && n == layers.count - 1
            backend.rmsNorm(
                x.pointer, weight: layer.attentionNorm.pointer, epsilon: eps, rows: T, columns: H, into: normed.pointer)
            layer.qkv.forward(
                normed.pointer, rows: T, into: qkv.pointer, backend: backend, scratch: scratch.pointer, noise: noise)
            applyRotary(qkv.pointer, stride: stride, batch: batch, offset: P)
            collect?(n, qkv.pointer, stride)
            let rows = reduce ? B : T
            attend(
                qkv: qkv.pointer, stride: stride, batch: batch, prefix: prefix, layer: n, lastOnly: reduce,
                into: attended.pointer)
            if reduce {
                // Only the scored positions continue: gather their residual rows.
                let kept = Tensor(shape: [B, H])
                for (i, r) in lastRows.enumerated() { (kept.pointer + i * H).update(from: x.pointer + r * H, count: H) }
                x = kept
            }
            let rowNoise = reduce ? noise?.oneRowEach : noise
            layer.output.forward(
                attended.pointer, rows: rows, into: delta.pointer, backend: backend, scratch: scratch.pointer,
                noise: rowNoise)
            backend.add(delta.pointer, into: x.pointer, count: rows * H)
            backend.rmsNorm(
                x.pointer, weight: layer.mlpNorm.pointer, epsilon: eps, rows: rows, columns: H, into: normed.pointer)
            layer.gateUp.forward(
                normed.pointer, rows: rows, into: gateUp.pointer, backend: backend, scratch: scratch.pointer,
                noise: rowNoise)
            backend.siluMultiply(
                gate: gateUp.pointer, up: gateUp.pointer + I, inputStride: 2 * I, rows: rows, columns: I,
                into: activated.pointer)
            layer.down.forward(
                activated.pointer, rows: rows, into: delta.pointer, backend: backend, scratch: scratch.pointer,
                noise: rowNoise)
            backend.add(delta.pointer, into: x.pointer, count: rows * H)
        }
        let out = Tensor(shape: [x.rows, H])
        backend.rmsNorm(x.pointer, weight: finalNorm.pointer, epsilon: eps, rows: x.rows, columns: H, into: out.pointer)
        return out
    }

    /// Rotates q and k of every token by its position: the prefix length plus its index in its sequence.
    func applyRotary(_ qkv: UnsafeMutablePointer<Float>, stride: Int, batch: PackedBatch, offset: Int) {
        let heads = config.headCount, kvHeads = config.keyValueHeadCount, qW = queryWidth
        nonisolated(unsafe) let qkv = qkv
        rope.withTables { cos, sin in
            nonisolated(unsafe) let (cos, sin) = (cos, sin)
            backend.parallelFor(batch.sequences.count) { s in
                let seq = batch.sequences[s]
                for t in seq {
                    let row = qkv + t * stride
                    let position = offset + (t - seq.lowerBound)
                    self.rope.apply(row, heads: heads, position: position, cos: cos, sin: sin)
                    self.rope.apply(row + qW, heads: kvHeads, position: position, cos: cos, sin: sin)
                }
            }
        }
    }

    /// Causal attention of each sequence to the prefix and to its own earlier tokens (the shared kernel,
    /// `AttentionLayout`). With `lastOnly`, only each sequence's last token asks (one output row per sequence).
    func attend(
        qkv: UnsafeMutablePointer<Float>, stride: Int, batch: PackedBatch, prefix: PrefixCache?,
        layer: Int, lastOnly: Bool, into out: UnsafeMutablePointer<Float>
    ) {
        var layout = AttentionLayout(
            sequences: batch.sequences, header: nil, causal: true, heads: config.headCount,
            keyValueHeads: config.keyValueHeadCount, headDimension: config.headDimension, stride: stride,
            queryOffset: 0, keyOffset: queryWidth, valueOffset: queryWidth + keyValueWidth)
        layout.queries = lastOnly ? .last : .all
        if let prefix, prefix.length > 0 {
            layout.cached = .init(
                keys: prefix.keys[layer].pointer, values: prefix.values[layer].pointer, rows: prefix.length)
        }
        withExtendedLifetime(prefix) { layout.forward(qkv, backend: backend, into: out) }
    }

    /// Logits of only the requested vocabulary rows: never the full-vocabulary projection.
    func selectedLogits(_ hidden: Tensor, ids: [Int], noise: SampleSeeds? = nil) -> Tensor {
        let H = config.hiddenSize, K = ids.count, rows = hidden.rows
        let w = Tensor(shape: [K, H])
        for (k, id) in ids.enumerated() { (w.pointer + k * H).update(from: lmHead.weight.pointer + id * H, count: H) }
        let logits = Tensor(shape: [rows, K])
        backend.linear(
            hidden.pointer, rows: rows, inFeatures: H, weight: w.pointer, outFeatures: K, into: logits.pointer)
        for p in lmHead.patches {
            let t = Tensor(shape: [rows, p.rank]), b = Tensor(shape: [K, p.rank])
            for (k, id) in ids.enumerated() {
                (b.pointer + k * p.rank).update(from: p.b.pointer + id * p.rank, count: p.rank)
            }
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
