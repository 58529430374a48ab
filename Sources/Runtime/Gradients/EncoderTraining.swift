import Foundation

/// The activations an encoder's backward pass needs. Per layer: its input, q/k/v, the attention
/// context, both pre-norm sums and the pre-activation of the MLP: T·(8·hidden + intermediate) floats
/// (MiniLM-L6: 4.6 k floats, 18 kB per token and layer). GELU outputs and attention probabilities
/// are recomputed in the backward pass.
public final class EncoderTape: @unchecked Sendable {
    let layout: AttentionLayout
    var xs: [Tensor] = []
    var qkv: [Tensor] = []
    var context: [Tensor] = []
    var attentionSum: [Tensor] = []  // attention output + residual, before its LayerNorm
    var attentionNormed: [Tensor] = []
    var intermediate: [Tensor] = []  // before GELU
    var outputSum: [Tensor] = []  // MLP output + residual, before its LayerNorm
    /// The first token's final hidden state and the pooled (tanh) vector, one row per sequence.
    var first = Tensor(shape: [0])
    var pooled = Tensor(shape: [0])
    /// Classification logits, sequences × labels.
    public internal(set) var logits = Tensor(shape: [0])

    init(layout: AttentionLayout) { self.layout = layout }

    public var count: Int { layout.sequences.count }
}

extension BertModel {
    /// What an `EncoderTape` keeps per token, over every layer.
    public var tapeBytesPerToken: Int {
        MemoryLayout<Float>.size * layers.count * (8 * config.hiddenSize + config.intermediateSize)
    }

    /// Module paths of every patched block (and the head), for gradient observers.
    public var moduleNames: ModuleNames {
        var names = ModuleNames()
        for n in 0..<layers.count {
            for m in [
                "attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense",
                "intermediate.dense", "output.dense",
            ] {
                let path = prefix + "encoder.layer.\(n).\(m)"
                if let (linear, offset, _) = linear(forModule: path) { names.add(linear, offset: offset, module: path) }
            }
        }
        if let pooler { names.add(pooler, offset: 0, module: isRoberta ? poolerModule : prefix + poolerModule) }
        if let classifier { names.add(classifier, offset: 0, module: classifierModule) }
        return names
    }

    /// Backward pass from ∂L/∂logits (sequences × labels): accumulates adapter and head gradients into
    /// `context` and reports every patched block to its observer.
    public func backward(_ tape: EncoderTape, logitGradients: Tensor, context: BackwardContext) {
        let pooler = pooler!, classifier = classifier!
        let B = tape.count, H = config.hiddenSize, I = config.intermediateSize
        let T = tape.layout.sequences.last!.upperBound
        precondition(logitGradients.shape == tape.logits.shape, "logit gradients must be sequences × labels")
        let eps = Float(config.layerNormEpsilon)
        let maxRank = max(1, allLinears.map(\.maxRank).max() ?? 1)
        let scratch = backend.tensor([2 * T * maxRank])

        // Head: one row per sequence.
        var headContext = context
        headContext.examples = (0..<B).map { $0..<($0 + 1) }
        let dPooled = backend.tensor([B, H]), dFirst = backend.tensor([B, H])
        classifier.backward(
            input: tape.pooled.pointer, rows: B, outputGradient: logitGradients.pointer, inputGradient: dPooled.pointer,
            context: headContext, backend: backend, scratch: scratch.pointer)
        backend.tanhBackward(output: tape.pooled.pointer, gradient: dPooled.pointer, count: dPooled.count)
        pooler.backward(
            input: tape.first.pointer, rows: B, outputGradient: dPooled.pointer, inputGradient: dFirst.pointer,
            context: headContext, backend: backend, scratch: scratch.pointer)
        let dx = backend.tensor([T, H])
        for (i, seq) in tape.layout.sequences.enumerated() {
            (dx.pointer + seq.lowerBound * H).update(from: dFirst.pointer + i * H, count: H)
        }

        var context = context
        context.examples = tape.layout.sequences
        let dSum = backend.tensor([T, H]), dNormed = backend.tensor([T, H]), dContext = backend.tensor([T, H])
        let activated = backend.tensor([T, I]), dInner = backend.tensor([T, I]), dqkv = backend.tensor([T, 3 * H])
        for n in stride(from: layers.count - 1, through: 0, by: -1) {
            let layer = layers[n]
            // xs[n+1] = LN₂(output(gelu(inner)) + aNorm), inner = intermediate(aNorm)
            backend.zero(dSum.pointer, count: dSum.count)
            backend.layerNormBackward(
                tape.outputSum[n].pointer, weight: layer.outputNorm.weight.pointer, epsilon: eps,
                outputGradient: dx.pointer, rows: T, columns: H, into: dSum.pointer)
            backend.copy(tape.intermediate[n].pointer, into: activated.pointer, count: T * I)
            backend.gelu(activated.pointer, count: T * I)
            layer.output.backward(
                input: activated.pointer, rows: T, outputGradient: dSum.pointer, inputGradient: dInner.pointer,
                context: context, backend: backend, scratch: scratch.pointer)
            backend.geluBackward(tape.intermediate[n].pointer, gradient: dInner.pointer, count: T * I)
            layer.intermediate.backward(
                input: tape.attentionNormed[n].pointer, rows: T, outputGradient: dInner.pointer,
                inputGradient: dNormed.pointer, context: context, backend: backend, scratch: scratch.pointer)
            backend.add(dSum.pointer, into: dNormed.pointer, count: T * H)  // the residual path
            // aNorm = LN₁(attentionOutput(context) + xs[n])
            backend.zero(dSum.pointer, count: dSum.count)
            backend.layerNormBackward(
                tape.attentionSum[n].pointer, weight: layer.attentionNorm.weight.pointer, epsilon: eps,
                outputGradient: dNormed.pointer, rows: T, columns: H, into: dSum.pointer)
            layer.attentionOutput.backward(
                input: tape.context[n].pointer, rows: T, outputGradient: dSum.pointer,
                inputGradient: dContext.pointer, context: context, backend: backend, scratch: scratch.pointer)
            backend.zero(dqkv.pointer, count: dqkv.count)
            backend.attentionBackward(
                tape.layout, qkv: tape.qkv[n].pointer, outputGradient: dContext.pointer, into: dqkv.pointer)
            // Below layer 0 nothing trains (embeddings are frozen).
            layer.qkv.backward(
                input: tape.xs[n].pointer, rows: T, outputGradient: dqkv.pointer,
                inputGradient: n > 0 ? dx.pointer : nil,
                context: context, backend: backend, scratch: scratch.pointer)
            if n > 0 { backend.add(dSum.pointer, into: dx.pointer, count: T * H) }
        }
    }
}
