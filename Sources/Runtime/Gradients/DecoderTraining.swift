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
    /// What a `DecoderTape` keeps per token, over every layer.
    public var tapeBytesPerToken: Int {
        let c = config
        return MemoryLayout<Float>.size * layers.count
            * (2 * c.hiddenSize + 2 * queryWidth + 2 * keyValueWidth + 2 * c.intermediateSize)
    }

    /// The tape a pass over `header + s` for each of `suffixes` keeps, with the header's forward run once:
    /// the pass runs the header in the graph (`trainingForward(header:sequences:)`), then copies its rows
    /// in front of every sequence. A causal header sees nothing after it, so its rows are the ones each
    /// sequence's own pass computes, and the tape is ready for what needs examples not to share rows:
    /// per-example backward passes and gradient observers (each example's KFAC input factor counts the
    /// header's tokens, and its gradient flows into them). Saves the header's forward on all but one
    /// sequence; the backward is per example in any case.
    public func curvatureForward(header: [Int], suffixes: [[Int]]) -> DecoderTape {
        let shared = trainingForward(header: header, sequences: suffixes)
        guard !header.isEmpty else { return shared }
        let full = plan(PackedBatch(suffixes.map { header + $0 }), inGraphHeader: false, prefix: nil)
        let tape = DecoderTape(plan: full, hidden: shared.hidden)
        // Row of the shared pass that each row of the expanded tape copies.
        let headerRows = Array(shared.layout.sequences[0])
        let source = shared.layout.sequences.dropFirst().flatMap { headerRows + Array($0) }
        // One kept tensor at a time, each shared one released once copied, so the two tapes never coexist.
        func expanded(_ tensors: inout [Tensor]) -> [Tensor] {
            var out: [Tensor] = []
            out.reserveCapacity(tensors.count)
            for i in tensors.indices {
                out.append(backend.gatherRows(tensors[i], source, width: tensors[i].columns))
                tensors[i] = Tensor(shape: [0])
            }
            return out
        }
        tape.xs = expanded(&shared.xs)
        tape.mids = expanded(&shared.mids)
        tape.qkv = expanded(&shared.qkv)
        tape.attended = expanded(&shared.attended)
        tape.gateUp = expanded(&shared.gateUp)
        return tape
    }

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
        names.add(lmHead, offset: 0, module: Self.headModule)
        return names
    }

    /// Logits of each scored sequence over its own answer ids (the LM head's rows, LoRA included).
    public func choiceLogits(_ tape: DecoderTape, answerIDs: [[Int]]) -> [[Float]] {
        precondition(answerIDs.count == tape.count, "one answer-id list per scored sequence")
        return answerIDs.enumerated().map { i, ids in
            selectedLogits(backend.gatherRows(tape.hidden, [i], width: config.hiddenSize), ids: ids).values
        }
    }

    /// Backward pass from ∂L/∂logits (one row per scored sequence, over its answer ids): accumulates
    /// adapter gradients into `context` and reports every patched block to its observer. Observers need
    /// examples that do not share rows, so they require an empty header.
    public func backward(_ tape: DecoderTape, answerIDs: [[Int]], logitGradients: [[Float]], context: BackwardContext) {
        backward(tape, answerIDs: answerIDs, passes: [(context.outputIndex, logitGradients)], context: context)
    }

    /// Several backward passes over one tape in one sweep of the layers (a curvature pass's K logits or
    /// loss-Hessian columns): each pass has its output index (for observers) and its ∂L/∂logits. The passes'
    /// gradients are stacked, so every product with a weight runs once over all of them; elementwise steps
    /// run per pass on the shared activations, which are recomputed once per layer rather than once per pass.
    /// Observers see each block's events for every pass before the block below.
    public func backward(
        _ tape: DecoderTape, answerIDs: [[Int]], passes: [(outputIndex: Int?, logitGradients: [[Float]])],
        context: BackwardContext
    ) {
        precondition(
            context.observer == nil || tape.layout.header == nil,
            "gradient observers need sequences without a shared header")
        guard !passes.isEmpty else { return }
        let H = config.hiddenSize, I = config.intermediateSize, T = tape.tokenCount, P = passes.count
        let qkvStride = tape.layout.stride, qW = queryWidth
        let eps = Float(config.rmsNormEpsilon)
        var context = context
        context.examples = tape.layout.sequences
        let indices = passes.map(\.outputIndex)

        // Per pass: the LM head at the scored rows, then the final norm, scattered into its residual gradient.
        let dx = backend.tensor([P * T, H])
        let last = backend.gatherRows(tape.xs[layers.count], tape.scoredRows, width: H)
        let dLast = backend.tensor([tape.count, H])
        for (q, pass) in passes.enumerated() {
            var passContext = context
            passContext.outputIndex = pass.outputIndex
            let dHidden = headBackward(
                tape, answerIDs: answerIDs, logitGradients: pass.logitGradients, context: passContext)
            backend.zero(dLast.pointer, count: dLast.count)
            backend.rmsNormBackward(
                last.pointer, weight: finalNorm.pointer, epsilon: eps, outputGradient: dHidden.pointer,
                rows: tape.count, columns: H, into: dLast.pointer)
            backend.addRows(dLast.pointer, width: H, rows: tape.scoredRows, into: dx.pointer + q * T * H)
        }
        if context.observer?.observesOnlyTheHead == true && context.gradients.isEmpty { return }

        let maxRank = max(1, allLinears.map(\.maxRank).max() ?? 1)
        let scratch = backend.tensor([(1 + P) * T * maxRank])
        let normed = backend.tensor([T, H]), dNormed = backend.tensor([P * T, H])
        let activated = backend.tensor([T, I]), dActivated = backend.tensor([P * T, I]),
            dGateUp = backend.tensor([P * T, 2 * I])
        let dAttended = backend.tensor([P * T, qW]), dqkv = backend.tensor([P * T, qkvStride])
        /// The MLP block's backward and the output projection's over `R` rows (per pass: dx and dAttended hold
        /// one block of R rows each), from the layer's saved activations at those rows.
        func mlpAndOutputBackward(
            _ layer: Layer, rows R: Int, gateUp: UnsafePointer<Float>, mid: UnsafePointer<Float>,
            attended: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>, dAttended: UnsafeMutablePointer<Float>
        ) {
            // MLP block: xs[n+1] = mids[n] + down(silu(gate)·up), gate/up = gateUp(rmsNorm(mids[n])).
            backend.siluMultiply(
                gate: gateUp, up: gateUp + I, inputStride: 2 * I, rows: R, columns: I, into: activated.pointer)
            layer.down.backward(
                input: activated.pointer, rows: R, outputGradient: dx, inputGradient: dActivated.pointer,
                context: context, backend: backend, scratch: scratch.pointer, passes: indices)
            for q in 0..<P {
                backend.siluMultiplyBackward(
                    gate: gateUp, up: gateUp + I, inputStride: 2 * I, outputGradient: dActivated.pointer + q * R * I,
                    rows: R, columns: I, gateGradient: dGateUp.pointer + q * R * 2 * I,
                    upGradient: dGateUp.pointer + q * R * 2 * I + I)
            }
            backend.rmsNorm(mid, weight: layer.mlpNorm.pointer, epsilon: eps, rows: R, columns: H, into: normed.pointer)
            layer.gateUp.backward(
                input: normed.pointer, rows: R, outputGradient: dGateUp.pointer, inputGradient: dNormed.pointer,
                context: context, backend: backend, scratch: scratch.pointer, passes: indices)
            for q in 0..<P {
                backend.rmsNormBackward(
                    mid, weight: layer.mlpNorm.pointer, epsilon: eps, outputGradient: dNormed.pointer + q * R * H,
                    rows: R, columns: H, into: dx + q * R * H)
            }
            // Attention block: mids[n] = xs[n] + o(attention(rope(qkv(rmsNorm(xs[n]))))).
            layer.output.backward(
                input: attended, rows: R, outputGradient: dx, inputGradient: dAttended, context: context,
                backend: backend, scratch: scratch.pointer, passes: indices)
        }

        for n in stride(from: layers.count - 1, through: 0, by: -1) {
            let layer = layers[n]
            if n == layers.count - 1 && !needsEveryRow(layer, context) {
                // The top layer's output matters at the scored rows only, so its MLP and output projection see
                // a zero gradient elsewhere: run them at those rows (one per sequence of the T packed rows) and scatter back.
                let rows = tape.scoredRows, R = rows.count
                let passRows = (0..<P).flatMap { q in rows.map { q * T + $0 } }
                let dxRows = backend.gatherRows(dx, passRows, width: H)
                let dAttendedRows = backend.tensor([P * R, qW])
                let gateUp = backend.gatherRows(tape.gateUp[n], rows, width: 2 * I)
                let mid = backend.gatherRows(tape.mids[n], rows, width: H)
                let attended = backend.gatherRows(tape.attended[n], rows, width: qW)
                mlpAndOutputBackward(
                    layer, rows: R, gateUp: gateUp.pointer, mid: mid.pointer, attended: attended.pointer,
                    dx: dxRows.pointer, dAttended: dAttendedRows.pointer)
                // dx held its values at these rows only (now in dxRows); dAttended is still the fresh zero
                // tensor: the top layer is the loop's first.
                backend.zero(dx.pointer, count: dx.count)
                backend.addRows(dxRows.pointer, width: H, rows: passRows, into: dx.pointer)
                backend.addRows(dAttendedRows.pointer, width: qW, rows: passRows, into: dAttended.pointer)
            } else {
                mlpAndOutputBackward(
                    layer, rows: T, gateUp: tape.gateUp[n].pointer, mid: tape.mids[n].pointer,
                    attended: tape.attended[n].pointer, dx: dx.pointer, dAttended: dAttended.pointer)
            }
            backend.zero(dqkv.pointer, count: dqkv.count)
            for q in 0..<P {
                let dq = dqkv.pointer + q * T * qkvStride
                backend.attentionBackward(
                    tape.layout, qkv: tape.qkv[n].pointer, outputGradient: dAttended.pointer + q * T * qW, into: dq)
                rotate(dq, positions: tape.positions, inverse: true)
            }
            backend.rmsNorm(
                tape.xs[n].pointer, weight: layer.attentionNorm.pointer, epsilon: eps, rows: T, columns: H,
                into: normed.pointer)
            // Below layer 0 nothing trains: its input gradient is not needed.
            layer.qkv.backward(
                input: normed.pointer, rows: T, outputGradient: dqkv.pointer,
                inputGradient: n > 0 ? dNormed.pointer : nil,
                context: context, backend: backend, scratch: scratch.pointer, passes: indices)
            if n > 0 {
                for q in 0..<P {
                    backend.rmsNormBackward(
                        tape.xs[n].pointer, weight: layer.attentionNorm.pointer, epsilon: eps,
                        outputGradient: dNormed.pointer + q * T * H, rows: T, columns: H,
                        into: dx.pointer + q * T * H)
                }
            }
        }
    }

    /// Whether the layer's MLP or output projection is adapted, trained or observed: then its backward must
    /// run at every row (its gradients and events come from all of them), not only at the scored ones.
    /// Internal so that tests can tell which path a fixture takes.
    func needsEveryRow(_ layer: Layer, _ context: BackwardContext) -> Bool {
        [layer.down, layer.gateUp, layer.output].contains { linear in
            let id = ObjectIdentifier(linear)
            return !linear.patches.isEmpty || context.gradients[id] != nil || context.wholeLayers.contains(id)
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
        let dh = backend.tensor([B, H])
        // Per sequence: its logit gradient g (1 × K) over its own K answer rows of the head.
        let g = zip(logitGradients, answerIDs).map { backend.tensor([1, $1.count], values: $0) }
        for i in 0..<B {
            let ids = answerIDs[i], w = backend.gatherRows(lmHead.weight, ids, width: H)
            backend.gemm(
                m: 1, n: H, k: ids.count, alpha: 1, a: g[i].pointer, lda: ids.count, b: w.pointer, ldb: H,
                transposeB: false, beta: 0, c: dh.pointer + i * H, ldc: H)
        }
        let grads = context.gradients[ObjectIdentifier(lmHead)]
        for (pi, p) in lmHead.patches.enumerated() {
            let r = p.rank
            let u = backend.tensor([B, r]), du = backend.tensor([B, r])
            backend.linear(
                tape.hidden.pointer, rows: B, inFeatures: H, weight: p.a.pointer, outFeatures: r, into: u.pointer)
            for i in 0..<B {
                let ids = answerIDs[i], K = ids.count, b = backend.gatherRows(p.b, ids, width: r)
                // ∂L/∂u = s·g·B[ids] ;  ∂L/∂B[ids] += s·gᵀ·u
                backend.gemm(
                    m: 1, n: r, k: K, alpha: p.scaling, a: g[i].pointer, lda: K, b: b.pointer, ldb: r,
                    transposeB: false, beta: 0, c: du.pointer + i * r, ldc: r)
                if let grads {
                    let dB = backend.tensor([K, r])
                    backend.gemmTransposedA(
                        m: K, n: r, k: 1, alpha: p.scaling, a: g[i].pointer, lda: K, b: u.pointer + i * r, ldb: r,
                        beta: 0, c: dB.pointer, ldc: r)
                    backend.addRows(dB.pointer, width: r, rows: ids, into: grads.patchB[pi].pointer)
                }
            }
            if let grads {
                backend.gemmTransposedA(
                    m: r, n: H, k: B, alpha: 1, a: du.pointer, lda: r, b: tape.hidden.pointer, ldb: H,
                    beta: 1, c: grads.patchA[pi].pointer, ldc: H)
            }
            if let observer = context.observer {
                observeHead(
                    p, tape, answerIDs: answerIDs, logitGradients: logitGradients, du: du, context: context,
                    observer: observer)
            }
            backend.gemm(
                m: B, n: H, k: r, alpha: 1, a: du.pointer, lda: r, b: p.a.pointer, ldb: H,
                transposeB: false, beta: 1, c: dh.pointer, ldc: H)
        }
        return dh
    }

    /// The LM head's event, seen as curvlinops sees a head applied at every position (its `expand`): the
    /// input is the final-norm hidden state of every token of every example, and the output gradients are
    /// zero except at the scored rows (dense over the vocabulary, zero off the answers). So KFAC's input
    /// factor counts every position, as laplace-torch's does, and gradients are unchanged.
    private func observeHead(
        _ p: Linear.LoRAPatch, _ tape: DecoderTape, answerIDs: [[Int]], logitGradients: [[Float]], du: Tensor,
        context: BackwardContext, observer: GradientObserver
    ) {
        let H = config.hiddenSize, T = tape.tokenCount, r = p.rank, V = p.outFeatures
        let hidden = backend.tensor([T, H])
        backend.rmsNorm(
            tape.xs[layers.count].pointer, weight: finalNorm.pointer, epsilon: Float(config.rmsNormEpsilon), rows: T,
            columns: H, into: hidden.pointer)
        let u = backend.tensor([T, r]), duAll = backend.tensor([T, r]), dy = backend.tensor([T, V])
        backend.linear(hidden.pointer, rows: T, inFeatures: H, weight: p.a.pointer, outFeatures: r, into: u.pointer)
        backend.addRows(du.pointer, width: r, rows: tape.scoredRows, into: duAll.pointer)
        for (i, row) in tape.scoredRows.enumerated() {
            let scaled = backend.tensor([answerIDs[i].count], values: logitGradients[i].map { p.scaling * $0 })
            withExtendedLifetime(scaled) {
                backend.addRows(scaled.pointer, width: 1, rows: answerIDs[i], into: dy.pointer + row * V)
            }
        }
        let v = p.coreInput(hidden.pointer, rows: T, inFeatures: H, backend: backend)
        withExtendedLifetime((v, hidden, u, duAll, dy)) {
            observer.observe(
                LoRABackwardEvent(
                    module: Self.headModule, rows: T, examples: tape.layout.sequences, rank: r, inFeatures: H,
                    outFeatures: V, input: hidden.pointer, loraAOutputGradient: duAll.pointer, loraBInput: u.pointer,
                    loraBOutputGradient: dy.pointer, outputGradientStride: V, scaling: p.scaling,
                    outputIndex: context.outputIndex, coreInput: v.map { UnsafePointer($0.pointer) }))
        }
    }
}
