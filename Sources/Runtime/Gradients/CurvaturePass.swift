import Foundation

/// Where a curvature pass starts its backward passes: (a) the loss of the true labels (empirical Fisher),
/// (b) the loss of labels drawn from the model's own predictive (Monte Carlo Fisher), (c) every answer
/// logit in turn (Jacobian rows: a predictive's J), (d) every column of a square root S of the
/// cross-entropy Hessian in turn (S·Sᵀ = diag(p) − ppᵀ, K − 1 columns for K classes), so that Σ over the
/// passes of g·gᵀ is the generalised Gauss–Newton, as curvlinops' type-2 KFAC and laplace-torch's GGN see it
/// (they take the K columns of diag(√p) − p√pᵀ; any square root gives the same sum).
public enum CurvatureTarget: Sendable {
    case trueLabels
    case sampledLabels(seed: UInt64)
    case logits
    case lossHessianSquareRoot
}

extension TrainingObjective {
    /// Streams backward events for the examples at `indices` to `observer`, batch by batch, so an
    /// accumulator sees the whole dataset without it ever being held: first each batch's outputs
    /// (`observe(batch:)`: logits, probabilities, labels, loss), then its backward events. Each example's
    /// loss enters with weight 1 (sums, not means), examples never share rows (a decoder's shared header runs its
    /// forward once per batch, then is copied into each example's rows), and with
    /// `.logits` every batch runs one forward pass and one backward pass per answer position (a decoder runs
    /// them all in one sweep of its layers), events tagged with it. The parameters' gradient buffers are left
    /// alone unless `accumulatingGradients`.
    /// `afterBatch` runs once a batch's events are all in (an accumulator consumes what it kept for that
    /// batch), with the batch's indices and how many examples are done. A batch holds at most `batchSize`
    /// examples and, past its first, only as many as keep its tapes within `tapeBudget` bytes (a decoder's
    /// tape is the bulk of a curvature pass's memory: 0.83 MB per token for SmolLM2, ~6 MB for an 8B model;
    /// the backward's own buffers add ~4 % of that per pass).
    public func curvature(
        _ indices: [Int], target: CurvatureTarget, batchSize: Int, tapeBudget: Int = 256 << 20,
        parameters: AdapterParameters, observer: GradientObserver, accumulatingGradients: Bool = false,
        afterBatch: (_ batch: [Int], _ done: Int) throws -> Void = { _, _ in }
    ) rethrows {
        var start = 0
        while start < indices.count {
            var end = start + 1, bytes = tapeBytes(indices[start])
            while end < indices.count && end - start < batchSize && bytes + tapeBytes(indices[end]) <= tapeBudget {
                bytes += tapeBytes(indices[end])
                end += 1
            }
            let batch = Array(indices[start..<end])
            let context = parameters.context(observer: observer, accumulating: accumulatingGradients)
            backwardForCurvature(batch, target: target, context: context)
            try afterBatch(batch, end)
            start = end
        }
    }
}

extension CurvatureBatch {
    init(examples: [Int], logits: [[Float]], labels: [Int]) {
        // −log p(y) as log-sum-exp − z_y: exact where p(y) underflows to 0.
        let loss = zip(logits, labels).reduce(0.0) { sum, row in
            let (z, y) = row
            let m = Double(z.max() ?? 0)
            return sum + m + Foundation.log(z.reduce(0) { $0 + Foundation.exp(Double($1) - m) }) - Double(z[y])
        }
        self.init(
            examples: examples, logits: logits, probabilities: logits.map(LogitGradients.softmax), labels: labels,
            loss: loss)
    }
}

/// Logit gradients for one batch and target: one list per backward pass, tagged with its output index.
/// `examples` are the rows' dataset indices (sampled labels are keyed by them).
func curvatureGradients(
    _ logits: [[Float]], labels: [Int], examples: [Int], target: CurvatureTarget
)
    -> [(outputIndex: Int?, logitGradients: [[Float]])]
{
    switch target {
    case .trueLabels:
        return [(nil, LogitGradients.crossEntropy(logits: logits, labels: labels, weight: 1).gradients)]
    case .sampledLabels(let seed):
        let drawn = LogitGradients.sampledLabels(logits: logits, examples: examples, seed: seed)
        return [(nil, LogitGradients.crossEntropy(logits: logits, labels: drawn, weight: 1).gradients)]
    case .logits:
        let widest = logits.map(\.count).max() ?? 0
        return (0..<widest).map { k in (k, LogitGradients.unit(k, classes: logits.map(\.count))) }
    case .lossHessianSquareRoot:
        let columns = LogitGradients.lossHessianSquareRoot(logits: logits)
        // One-class rows have a zero Hessian, but their pass still runs (with zero gradients): the KFAC input
        // factor counts every fit example from its first pass.
        guard !columns.isEmpty else { return [(0, logits.map { [Float](repeating: 0, count: $0.count) })] }
        return columns.enumerated().map { c, column in (c, column) }
    }
}

extension DecoderObjective {
    /// One batch of a curvature pass; `context` says where gradients go (usually nowhere) and who observes.
    public func backwardForCurvature(_ indices: [Int], target: CurvatureTarget, context: BackwardContext) {
        let batch = indices.map { examples[$0] }
        // The shared header's forward runs once per batch; the tape still holds it for every example.
        let shared = batch.count > 1 ? header : []
        let tape = model.curvatureForward(
            header: shared, suffixes: batch.map { Array($0.tokens.dropFirst(shared.count)) })
        let ids = batch.map(\.answerTokens)
        let logits = model.choiceLogits(tape, answerIDs: ids)
        context.observer?.observe(batch: CurvatureBatch(examples: indices, logits: logits, labels: batch.map(\.label)))
        // Every pass in one sweep of the layers (stacked products).
        let passes = curvatureGradients(logits, labels: batch.map(\.label), examples: indices, target: target)
        model.backward(tape, answerIDs: ids, passes: passes, context: context)
    }
}

extension EncoderObjective {
    /// One batch of a curvature pass; `context` says where gradients go (usually nowhere) and who observes.
    public func backwardForCurvature(_ indices: [Int], target: CurvatureTarget, context: BackwardContext) {
        let batch = indices.map { examples[$0] }
        let tape = model.trainingForward(batch.map(\.tokens), tokenTypes: batch.map(\.types))
        let c = tape.logits.columns
        let logits = (0..<batch.count).map { Array(tape.logits.values[($0 * c)..<(($0 + 1) * c)]) }
        context.observer?.observe(batch: CurvatureBatch(examples: indices, logits: logits, labels: batch.map(\.label)))
        for (k, grads) in curvatureGradients(logits, labels: batch.map(\.label), examples: indices, target: target) {
            var context = context
            context.outputIndex = k
            model.backward(
                tape, logitGradients: Tensor(shape: tape.logits.shape, values: grads.flatMap { $0 }), context: context)
        }
    }
}
