import Foundation

/// The activations a decoder's backward pass needs, kept from its forward pass. Per layer: the residual
/// stream before each block, q/k/v after RoPE, the attention output and the gate/up projections:
/// T·(2·hidden + q + 2·kv + q + 2·intermediate) floats (SmolLM2: 6.9 k floats, 27.6 kB per token and
/// layer, 0.83 MB per token over its 30 layers). Norm outputs, the SiLU product, the LoRA
/// intermediates and the attention probabilities are recomputed in the backward pass instead (each
/// costs a few per cent of a layer's time, and storing them would double the memory).
public final class DecoderTape: @unchecked Sendable {
    /// The header (sequence 0 when present) and the scored sequences, packed.
    let layout: AttentionLayout
    let positions: [Int]
    /// xs[n]: input of layer n (xs[L] is the final residual stream); mids[n]: after its attention block.
    var xs: [Tensor] = []
    var mids: [Tensor] = []
    var qkv: [Tensor] = []
    var attended: [Tensor] = []
    var gateUp: [Tensor] = []
    /// Row of each scored sequence's last token.
    public let scoredRows: [Int]
    /// The final-norm hidden state at each scored row, sequences × hidden.
    public internal(set) var hidden: Tensor

    init(plan: LlamaModel.DecoderPassPlan, hidden: Tensor) {
        layout = plan.layout
        positions = plan.positions
        scoredRows = plan.scoredRows
        self.hidden = hidden
    }

    /// Sequences scored (the header excluded).
    public var count: Int { scoredRows.count }
    /// Packed token rows, header included.
    public var tokenCount: Int { layout.sequences.last?.upperBound ?? 0 }
}

extension LlamaModel {
    /// Module paths of every patched block, for gradient observers.
    public var moduleNames: ModuleNames {
        var names = ModuleNames()
        for n in 0..<layers.count {
            for m in [
                "self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj", "mlp.gate_proj",
                "mlp.up_proj", "mlp.down_proj",
            ] {
                let path = "model.layers.\(n).\(m)"
                if let (linear, offset, _) = linear(forModule: path) { names.add(linear, offset: offset, module: path) }
            }
        }
        names.add(lmHead, offset: 0, module: "lm_head")
        return names
    }

    /// Logits of each scored sequence over its own answer ids (the LM head's rows, LoRA included).
    public func choiceLogits(_ tape: DecoderTape, answerIDs: [[Int]]) -> [[Float]] {
        precondition(answerIDs.count == tape.count, "one answer-id list per scored sequence")
        let H = config.hiddenSize
        return answerIDs.enumerated().map { i, ids in
            let h = tape.hidden.pointer + i * H
            let u = lmHead.patches.map { p in (0..<p.rank).map { r in dot(h, p.a.pointer + r * H, H) } }
            return ids.map { id in
                var z = dot(h, lmHead.weight.pointer + id * H, H)
                for (pi, p) in lmHead.patches.enumerated() {
                    var s: Float = 0
                    for r in 0..<p.rank { s += u[pi][r] * p.b[id * p.rank + r] }
                    z += p.scaling * s
                }
                return z
            }
        }
    }

    /// Backward pass from ∂L/∂logits (one row per scored sequence, over its answer ids): accumulates
    /// adapter gradients into `context` and reports every patched block to its observer. Observers need
    /// examples that do not share rows, so they require an empty header.
    public func backward(_ tape: DecoderTape, answerIDs: [[Int]], logitGradients: [[Float]], context: BackwardContext) {
        precondition(
            context.observer == nil || tape.layout.header == nil,
            "gradient observers need sequences without a shared header")
        let H = config.hiddenSize, I = config.intermediateSize, T = tape.tokenCount
        let qkvStride = tape.layout.stride, qW = queryWidth
        let eps = Float(config.rmsNormEpsilon)
        var context = context
        context.examples = tape.layout.sequences

        // The LM head at the scored rows, then the final norm, scattered into the residual gradient.
        let dHidden = headBackward(tape, answerIDs: answerIDs, logitGradients: logitGradients, context: context)
        let dx = Tensor(shape: [T, H])
        let dLast = Tensor(shape: [tape.count, H])
        let last = gatherRows(tape.xs[layers.count], tape.scoredRows, width: H)
        backend.rmsNormBackward(
            last.pointer, weight: finalNorm.pointer, epsilon: eps, outputGradient: dHidden.pointer,
            rows: tape.count, columns: H, into: dLast.pointer)
        for (i, r) in tape.scoredRows.enumerated() {
            for j in 0..<H { dx[r * H + j] += dLast[i * H + j] }
        }

        let maxRank = max(1, allLinears.map(\.maxRank).max() ?? 1)
        let scratch = Tensor(shape: [2 * T * maxRank])
        let normed = Tensor(shape: [T, H]), dNormed = Tensor(shape: [T, H])
        let activated = Tensor(shape: [T, I]), dActivated = Tensor(shape: [T, I]), dGateUp = Tensor(shape: [T, 2 * I])
        let dAttended = Tensor(shape: [T, qW]), dqkv = Tensor(shape: [T, qkvStride])
        for n in stride(from: layers.count - 1, through: 0, by: -1) {
            let layer = layers[n]
            // MLP block: xs[n+1] = mids[n] + down(silu(gate)·up), gate/up = gateUp(rmsNorm(mids[n])).
            let gateUp = tape.gateUp[n]
            backend.siluMultiply(
                gate: gateUp.pointer, up: gateUp.pointer + I, inputStride: 2 * I, rows: T, columns: I,
                into: activated.pointer)
            layer.down.backward(
                input: activated.pointer, rows: T, outputGradient: dx.pointer, inputGradient: dActivated.pointer,
                context: context, backend: backend, scratch: scratch.pointer)
            backend.siluMultiplyBackward(
                gate: gateUp.pointer, up: gateUp.pointer + I, inputStride: 2 * I, outputGradient: dActivated.pointer,
                rows: T, columns: I, gateGradient: dGateUp.pointer, upGradient: dGateUp.pointer + I)
            backend.rmsNorm(
                tape.mids[n].pointer, weight: layer.mlpNorm.pointer, epsilon: eps, rows: T, columns: H,
                into: normed.pointer)
            layer.gateUp.backward(
                input: normed.pointer, rows: T, outputGradient: dGateUp.pointer, inputGradient: dNormed.pointer,
                context: context, backend: backend, scratch: scratch.pointer)
            backend.rmsNormBackward(
                tape.mids[n].pointer, weight: layer.mlpNorm.pointer, epsilon: eps, outputGradient: dNormed.pointer,
                rows: T, columns: H, into: dx.pointer)
            // Attention block: mids[n] = xs[n] + o(attention(rope(qkv(rmsNorm(xs[n]))))).
            layer.output.backward(
                input: tape.attended[n].pointer, rows: T, outputGradient: dx.pointer, inputGradient: dAttended.pointer,
                context: context, backend: backend, scratch: scratch.pointer)
            dqkv.storage.update(repeating: 0)
            tape.layout.backward(
                tape.qkv[n].pointer, outputGradient: dAttended.pointer, backend: backend, into: dqkv.pointer)
            rotate(dqkv.pointer, stride: qkvStride, positions: tape.positions, inverse: true)
            backend.rmsNorm(
                tape.xs[n].pointer, weight: layer.attentionNorm.pointer, epsilon: eps, rows: T, columns: H,
                into: normed.pointer)
            // Below layer 0 nothing trains: its input gradient is not needed.
            layer.qkv.backward(
                input: normed.pointer, rows: T, outputGradient: dqkv.pointer,
                inputGradient: n > 0 ? dNormed.pointer : nil,
                context: context, backend: backend, scratch: scratch.pointer)
            if n > 0 {
                backend.rmsNormBackward(
                    tape.xs[n].pointer, weight: layer.attentionNorm.pointer, epsilon: eps,
                    outputGradient: dNormed.pointer,
                    rows: T, columns: H, into: dx.pointer)
            }
        }
    }

    /// ∂L/∂hidden at the scored rows from the answer logits; the LM head's LoRA gradients on the way
    /// (only the answer rows of B receive any).
    private func headBackward(
        _ tape: DecoderTape, answerIDs: [[Int]], logitGradients: [[Float]], context: BackwardContext
    ) -> Tensor {
        precondition(
            logitGradients.count == tape.count && zip(logitGradients, answerIDs).allSatisfy { $0.count == $1.count },
            "one logit gradient per answer id and scored sequence")
        let H = config.hiddenSize, B = tape.count
        let dh = Tensor(shape: [B, H])
        for i in 0..<B {
            for (k, id) in answerIDs[i].enumerated() where logitGradients[i][k] != 0 {
                let g = logitGradients[i][k], w = lmHead.weight.pointer + id * H, d = dh.pointer + i * H
                for j in 0..<H { d[j] += g * w[j] }
            }
        }
        let grads = context.gradients[ObjectIdentifier(lmHead)]
        for (pi, p) in lmHead.patches.enumerated() {
            let u = Tensor(shape: [B, p.rank]), du = Tensor(shape: [B, p.rank])
            backend.linear(
                tape.hidden.pointer, rows: B, inFeatures: H, weight: p.a.pointer, outFeatures: p.rank, into: u.pointer)
            for i in 0..<B {
                for (k, id) in answerIDs[i].enumerated() {
                    let g = p.scaling * logitGradients[i][k]
                    for r in 0..<p.rank {
                        du[i * p.rank + r] += g * p.b[id * p.rank + r]
                        grads?.patchB[pi][id * p.rank + r] += g * u[i * p.rank + r]
                    }
                }
            }
            if let grads {
                backend.gemmTransposedA(
                    m: p.rank, n: H, k: B, alpha: 1, a: du.pointer, lda: p.rank, b: tape.hidden.pointer, ldb: H,
                    beta: 1, c: grads.patchA[pi].pointer, ldc: H)
            }
            if let observer = context.observer {
                // The head's output gradient is dense over the vocabulary for observers (zero off the answers).
                let dy = Tensor(shape: [B, p.outFeatures])
                for i in 0..<B {
                    for (k, id) in answerIDs[i].enumerated() {
                        dy[i * p.outFeatures + id] += p.scaling * logitGradients[i][k]
                    }
                }
                let v = p.coreInput(tape.hidden.pointer, rows: B, inFeatures: H, backend: backend)
                withExtendedLifetime((v, u, du, dy)) {
                    observer.observe(
                        LoRABackwardEvent(
                            module: "lm_head", rows: B, examples: (0..<B).map { $0..<($0 + 1) }, rank: p.rank,
                            inFeatures: H,
                            outFeatures: p.outFeatures, input: tape.hidden.pointer, loraAOutputGradient: du.pointer,
                            loraBInput: u.pointer,
                            loraBOutputGradient: dy.pointer, outputGradientStride: p.outFeatures, scaling: p.scaling,
                            outputIndex: context.outputIndex, coreInput: v.map { UnsafePointer($0.pointer) }))
                }
            }
            backend.gemm(
                m: B, n: H, k: p.rank, alpha: 1, a: du.pointer, lda: p.rank, b: p.a.pointer, ldb: H,
                transposeB: false, beta: 1, c: dh.pointer, ldc: H)
        }
        return dh
    }
}

@inline(__always)
func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
    var s: Float = 0
    for j in 0..<n { s += a[j] * b[j] }
    return s
}

/// The given rows of a row-major matrix `width` wide, in the given order (an embedding gather).
func gatherRows(_ x: Tensor, _ rows: [Int], width: Int) -> Tensor {
    let out = Tensor(shape: [rows.count, width])
    for (i, r) in rows.enumerated() { (out.pointer + i * width).update(from: x.pointer + r * width, count: width) }
    return out
}
