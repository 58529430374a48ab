import Foundation
import Runtime

extension CPUBackend {
    public func attention(
        _ layout: AttentionLayout, qkv: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>
    ) {
        layout.forward(qkv, backend: self, into: out)
    }

    public func attentionBackward(
        _ layout: AttentionLayout, qkv: UnsafePointer<Float>, outputGradient dOut: UnsafePointer<Float>,
        into dqkv: UnsafeMutablePointer<Float>
    ) {
        layout.backward(qkv, outputGradient: dOut, backend: self, into: dqkv)
    }
}

/// The CPU attention kernel: one task per (sequence, head), OpenBLAS products inside each. Probabilities
/// are recomputed in the backward pass instead of stored: they would take Σ n·(P+n) floats per head and
/// layer, more than all other activations together for long prompts, while recomputing costs one small
/// product per head.
extension AttentionLayout {
    /// Scores, masked softmax: probabilities for the asking rows over L = context + n keys, row stride L.
    private func probabilities(
        _ qkv: UnsafePointer<Float>, sequence i: Int, head h: Int,
        backend: CPUBackend, into p: UnsafeMutablePointer<Float>
    ) {
        let d = headDimension, g = h / (heads / keyValueHeads)
        let seq = sequences[i], ctx = contextKeysValues(qkv, sequence: i)
        let n = seq.count, P = ctx.count, L = P + n
        let (first, nq) = askingRows(n)
        let scale = 1 / Float(d).squareRoot()
        let q = qkv + (seq.lowerBound + first) * stride + queryOffset + h * d
        if P > 0 {
            backend.gemm(
                m: nq, n: P, k: d, alpha: scale, a: q, lda: stride, b: ctx.keys + g * d,
                ldb: ctx.stride, transposeB: true, beta: 0, c: p, ldc: L)
        }
        backend.gemm(
            m: nq, n: n, k: d, alpha: scale, a: q, lda: stride, b: qkv + seq.lowerBound * stride + keyOffset + g * d,
            ldb: stride, transposeB: true, beta: 0, c: p + P, ldc: L)
        for r in 0..<nq {
            maskedSoftmaxRow(p + r * L, visible: causal ? P + first + r + 1 : L, count: L)
        }
    }

    /// out = softmax(q·kᵀ/√d) · v per sequence and head: rows × heads·d for `.all`, one row per sequence
    /// otherwise (row stride heads·d).
    func forward(_ qkv: UnsafePointer<Float>, backend: CPUBackend, into out: UnsafeMutablePointer<Float>) {
        let d = headDimension, qW = queryWidth
        nonisolated(unsafe) let (qkv, out) = (qkv, out)
        backend.parallelFor(sequences.count * heads) { task in
            let i = task / self.heads, h = task % self.heads, g = h / (self.heads / self.keyValueHeads)
            let seq = self.sequences[i], ctx = self.contextKeysValues(qkv, sequence: i)
            let n = seq.count, P = ctx.count, L = P + n
            let nq = self.askingRows(n).count
            let p = UnsafeMutablePointer<Float>.allocate(capacity: nq * L)
            defer { p.deallocate() }
            self.probabilities(qkv, sequence: i, head: h, backend: backend, into: p)
            let o = out + (self.queries == .all ? seq.lowerBound : i) * qW + h * d
            if P > 0 {
                backend.gemm(
                    m: nq, n: d, k: P, alpha: 1, a: p, lda: L, b: ctx.values + g * d,
                    ldb: ctx.stride, transposeB: false, beta: 0, c: o, ldc: qW)
            }
            backend.gemm(
                m: nq, n: d, k: n, alpha: 1, a: p + P, lda: L,
                b: qkv + seq.lowerBound * self.stride + self.valueOffset + g * d,
                ldb: self.stride, transposeB: false, beta: P > 0 ? 1 : 0, c: o, ldc: qW)
        }
    }

    /// Given ∂L/∂out (rows × heads·d), writes ∂L/∂q, ∂L/∂k, ∂L/∂v into `dqkv` (same layout as qkv;
    /// its k and v blocks must be zero on entry). One task per (sequence, key-value head) so the heads
    /// sharing a key block accumulate into it in turn; header gradients from other sequences go to
    /// per-task buffers and are summed at the end.
    func backward(
        _ qkv: UnsafePointer<Float>, outputGradient dOut: UnsafePointer<Float>,
        backend: CPUBackend, into dqkv: UnsafeMutablePointer<Float>
    ) {
        precondition(
            queries == .all && cached == nil, "the backward pass needs every row's output and no cached prefix")
        let d = headDimension, qW = queryWidth, group = heads / keyValueHeads
        let headerRows = header.map { sequences[$0].count } ?? 0
        let tasks = sequences.count * keyValueHeads
        let headerGrad = UnsafeMutablePointer<Float>.allocate(capacity: max(1, tasks * headerRows * d * 2))
        headerGrad.initialize(repeating: 0, count: max(1, tasks * headerRows * d * 2))
        defer { headerGrad.deallocate() }
        let scale = 1 / Float(d).squareRoot()
        nonisolated(unsafe) let (qkv, dOut, dqkv, hg) = (qkv, dOut, dqkv, headerGrad)
        backend.parallelFor(tasks) { task in
            let i = task / self.keyValueHeads, g = task % self.keyValueHeads
            let seq = self.sequences[i], ctx = self.context(of: i)
            let n = seq.count, P = ctx.count, L = P + n
            let p = UnsafeMutablePointer<Float>.allocate(capacity: 2 * n * L)
            defer { p.deallocate() }
            let dp = p + n * L
            let kCtx = qkv + ctx.lowerBound * self.stride + self.keyOffset + g * d
            let vCtx = qkv + ctx.lowerBound * self.stride + self.valueOffset + g * d
            let kOwn = qkv + seq.lowerBound * self.stride + self.keyOffset + g * d
            let vOwn = qkv + seq.lowerBound * self.stride + self.valueOffset + g * d
            let dkOwn = dqkv + seq.lowerBound * self.stride + self.keyOffset + g * d
            let dvOwn = dqkv + seq.lowerBound * self.stride + self.valueOffset + g * d
            let dkCtx = hg + task * headerRows * d * 2, dvCtx = dkCtx + headerRows * d
            for h in (g * group)..<((g + 1) * group) {
                self.probabilities(qkv, sequence: i, head: h, backend: backend, into: p)
                let dO = dOut + seq.lowerBound * qW + h * d
                let q = qkv + seq.lowerBound * self.stride + self.queryOffset + h * d
                let dq = dqkv + seq.lowerBound * self.stride + self.queryOffset + h * d
                // ∂L/∂P = ∂L/∂O · Vᵀ
                if P > 0 {
                    backend.gemm(
                        m: n, n: P, k: d, alpha: 1, a: dO, lda: qW, b: vCtx, ldb: self.stride, transposeB: true,
                        beta: 0, c: dp, ldc: L)
                }
                backend.gemm(
                    m: n, n: n, k: d, alpha: 1, a: dO, lda: qW, b: vOwn, ldb: self.stride, transposeB: true, beta: 0,
                    c: dp + P, ldc: L)
                // ∂L/∂V += Pᵀ · ∂L/∂O
                if P > 0 {
                    backend.gemmTransposedA(
                        m: P, n: d, k: n, alpha: 1, a: p, lda: L, b: dO, ldb: qW, beta: 1, c: dvCtx, ldc: d)
                }
                backend.gemmTransposedA(
                    m: n, n: d, k: n, alpha: 1, a: p + P, lda: L, b: dO, ldb: qW, beta: 1, c: dvOwn, ldc: self.stride)
                // Softmax backward, in place in dp: ∂L/∂S = P ⊙ (∂L/∂P − Σ_j P·∂L/∂P),
                // times the score scale.
                for r in 0..<n {
                    let pr = p + r * L, dr = dp + r * L
                    var dot: Float = 0
                    for j in 0..<L { dot += pr[j] * dr[j] }
                    for j in 0..<L { dr[j] = pr[j] * (dr[j] - dot) * scale }
                }
                // ∂L/∂Q = ∂L/∂S · K ; ∂L/∂K += ∂L/∂Sᵀ · Q
                if P > 0 {
                    backend.gemm(
                        m: n, n: d, k: P, alpha: 1, a: dp, lda: L, b: kCtx, ldb: self.stride, transposeB: false,
                        beta: 0, c: dq, ldc: self.stride)
                    backend.gemmTransposedA(
                        m: P, n: d, k: n, alpha: 1, a: dp, lda: L, b: q, ldb: self.stride, beta: 1, c: dkCtx, ldc: d)
                }
                backend.gemm(
                    m: n, n: d, k: n, alpha: 1, a: dp + P, lda: L, b: kOwn, ldb: self.stride, transposeB: false,
                    beta: P > 0 ? 1 : 0, c: dq, ldc: self.stride)
                backend.gemmTransposedA(
                    m: n, n: d, k: n, alpha: 1, a: dp + P, lda: L, b: q, ldb: self.stride, beta: 1, c: dkOwn,
                    ldc: self.stride)
            }
        }
        guard let header, headerRows > 0 else { return }
        let rows = sequences[header]
        for task in 0..<tasks where task / keyValueHeads != header {
            let g = task % keyValueHeads
            let dk = headerGrad + task * headerRows * d * 2, dv = dk + headerRows * d
            for (r, row) in rows.enumerated() {
                let k = dqkv + row * stride + keyOffset + g * d, v = dqkv + row * stride + valueOffset + g * d
                for j in 0..<d { k[j] += dk[r * d + j]; v[j] += dv[r * d + j] }
            }
        }
    }
}
