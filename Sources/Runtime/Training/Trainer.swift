import Foundation
import Loaders

/// What one training example contributes: a loss term whose gradients a backward pass accumulates.
public protocol TrainingObjective: AnyObject {
    var exampleCount: Int { get }
    /// The memory the forward tape of the example at `index` takes, so a curvature pass can bound what
    /// a batch's tapes hold (`curvature(tapeBudget:)`); 0 (the default) leaves batches to `batchSize`.
    func tapeBytes(_ index: Int) -> Int
    /// Forward and backward over the examples at `indices` (one packed batch), accumulating the
    /// gradient of weight · Σᵢ CEᵢ. Returns Σᵢ CEᵢ and how many were predicted right.
    func accumulate(_ indices: [Int], weight: Double, parameters: AdapterParameters) -> (lossSum: Double, correct: Int)
    /// One batch of a curvature pass (see `curvature`): the batch's outputs to `context.observer`, then one
    /// backward pass per target output.
    func backwardForCurvature(_ indices: [Int], target: CurvatureTarget, context: BackwardContext)
    /// The choice logits and labels of the examples at `indices`, forward only, at the model's current
    /// weights (a weight-sampled predictive sets them first).
    func choiceLogits(_ indices: [Int]) -> (logits: [[Float]], labels: [Int])
    /// A forward pass over the examples at `indices` in which every adaptable linear layer sees every
    /// token's row (no last-layer shortcut, no shared header), for input observers such as W-SVD's
    /// covariance.
    func forwardAllPositions(_ indices: [Int])
}

extension TrainingObjective {
    public func tapeBytes(_ index: Int) -> Int { 0 }
}

/// Multiple choice with a decoder: cross-entropy over each prompt's K answer tokens at its last position.
/// The prompt header every example shares runs once per batch and stays in the graph.
public final class DecoderObjective: TrainingObjective {
    public let model: LlamaModel
    public let header: [Int]
    public let examples: [PreparedExample]

    public init(model: LlamaModel, examples: [PreparedExample]) {
        self.model = model
        self.examples = examples
        header = PromptPreparation.commonPrefix(of: examples)
    }

    public var exampleCount: Int { examples.count }
    public func tapeBytes(_ index: Int) -> Int { examples[index].tokens.count * model.tapeBytesPerToken }

    public func choiceLogits(_ indices: [Int]) -> (logits: [[Float]], labels: [Int]) {
        let batch = indices.map { examples[$0] }
        return (model.choiceLogits(batch, noise: nil), batch.map(\.label))
    }

    public func forwardAllPositions(_ indices: [Int]) {
        // Every row through every layer and the LM head (what a hook on lm_head would see as well).
        _ = model.forward(PackedBatch(indices.map { examples[$0].tokens }), output: .allLogits)
    }

    public func accumulate(
        _ indices: [Int], weight: Double, parameters: AdapterParameters
    ) -> (lossSum: Double, correct: Int) {
        let batch = indices.map { examples[$0] }
        let tape = model.trainingForward(
            header: header, sequences: batch.map { Array($0.tokens.dropFirst(header.count)) })
        let ids = batch.map(\.answerTokens)
        let logits = model.choiceLogits(tape, answerIDs: ids)
        let (loss, grads) = LogitGradients.crossEntropy(logits: logits, labels: batch.map(\.label), weight: weight)
        model.backward(tape, answerIDs: ids, logitGradients: grads, context: parameters.context())
        return (loss * Double(batch.count), correctCount(logits, batch.map(\.label)))
    }
}

/// Sequence classification with an encoder's head.
public final class EncoderObjective: TrainingObjective {
    public let model: BertModel
    public let examples: [EncoderEvaluation.Prepared]

    public init(model: BertModel, examples: [EncoderEvaluation.Prepared]) {
        self.model = model
        self.examples = examples
    }

    public var exampleCount: Int { examples.count }
    public func tapeBytes(_ index: Int) -> Int { examples[index].tokens.count * model.tapeBytesPerToken }

    public func choiceLogits(_ indices: [Int]) -> (logits: [[Float]], labels: [Int]) {
        let batch = indices.map { examples[$0] }
        let logits = model.classify(batch.map(\.tokens), tokenTypes: batch.map(\.types))
        let c = logits.columns
        return ((0..<batch.count).map { Array(logits.values[($0 * c)..<(($0 + 1) * c)]) }, batch.map(\.label))
    }

    public func forwardAllPositions(_ indices: [Int]) {
        let batch = indices.map { examples[$0] }
        _ = model.hiddenStates(batch.map(\.tokens), tokenTypes: batch.map(\.types))
    }

    public func accumulate(
        _ indices: [Int], weight: Double, parameters: AdapterParameters
    ) -> (lossSum: Double, correct: Int) {
        let batch = indices.map { examples[$0] }
        let tape = model.trainingForward(batch.map(\.tokens), tokenTypes: batch.map(\.types))
        let c = tape.logits.columns
        let logits = (0..<batch.count).map { Array(tape.logits.values[($0 * c)..<(($0 + 1) * c)]) }
        let (loss, grads) = LogitGradients.crossEntropy(logits: logits, labels: batch.map(\.label), weight: weight)
        model.backward(
            tape, logitGradients: Tensor(shape: tape.logits.shape, values: grads.flatMap { $0 }),
            context: parameters.context())
        return (loss * Double(batch.count), correctCount(logits, batch.map(\.label)))
    }
}

func correctCount(_ logits: [[Float]], _ labels: [Int]) -> Int {
    zip(logits, labels).filter { z, y in z.indices.max { z[$0] < z[$1] } == y }.count
}

/// Mini-batch AdamW training: each update sums the gradients of `batchSize × accumulation` examples
/// (run as `accumulation` packed batches), clips their global norm, and steps with the scheduled rate.
public final class Trainer {
    public struct Update: Sendable {
        public let step: Int
        public let loss: Double
        public let accuracy: Double
        public let gradientNorm: Double
        public let learningRate: Float
        /// Indices of the training examples this update used.
        public let indices: [Int]
        public let seconds: Double
    }

    public let objective: TrainingObjective
    public let parameters: AdapterParameters
    public let optimizer: AdamW
    public let schedule: LinearSchedule
    public let batchSize: Int
    public let accumulation: Int
    /// Global gradient-norm clip (transformers' `max_grad_norm`); 0 disables it.
    public var maxGradientNorm: Double
    public let seed: UInt64

    public init(
        objective: TrainingObjective, parameters: AdapterParameters, optimizer: AdamW, schedule: LinearSchedule,
        batchSize: Int, accumulation: Int, maxGradientNorm: Double, seed: UInt64
    ) {
        self.objective = objective
        self.parameters = parameters
        self.optimizer = optimizer
        self.schedule = schedule
        self.batchSize = batchSize
        self.accumulation = accumulation
        self.maxGradientNorm = maxGradientNorm
        self.seed = seed
    }

    public var examplesPerUpdate: Int { batchSize * accumulation }
    /// The shuffled order of the epoch last asked for (most updates stay within one epoch).
    private var cachedOrder: (epoch: Int, order: [Int]) = (-1, [])

    /// Examples of update `step`: a window of the stream of epochs, each a seeded shuffle of the
    /// training set (epoch e uses seed + e), so a resumed run sees exactly what the uninterrupted one would.
    public func examples(forStep step: Int) -> [Int] {
        let n = objective.exampleCount
        var out: [Int] = []
        var position = step * examplesPerUpdate
        while out.count < examplesPerUpdate {
            let epoch = position / n
            if epoch != cachedOrder.epoch {
                cachedOrder = (epoch, Self.order(epoch: epoch, exampleCount: n, seed: seed))
            }
            out.append(cachedOrder.order[position % n])
            position += 1
        }
        return out
    }

    /// The order epoch `epoch` visits the training examples in: a shuffle seeded with seed + epoch (what
    /// a W-SVD covariance pass before training also walks).
    public static func order(epoch: Int, exampleCount n: Int, seed: UInt64) -> [Int] {
        SeededShuffle.shuffled(Array(0..<n), seed: seed &+ UInt64(epoch))
    }

    /// The first `count` batches of `batchSize` in the order training visits the examples (within
    /// epoch 0: a small training set gives fewer), as upstream's loader hands them to a covariance pass.
    public static func leadingBatches(count: Int, batchSize: Int, exampleCount n: Int, seed: UInt64) -> [[Int]] {
        let covered = order(epoch: 0, exampleCount: n, seed: seed).prefix(count * batchSize)
        return stride(from: 0, to: covered.count, by: batchSize).map {
            Array(covered[$0..<min(covered.count, $0 + batchSize)])
        }
    }

    /// One optimizer update (update number `optimizer.steps`). Throws `TrainingError.nonFinite` without
    /// touching the parameters when the loss or the gradient is NaN or infinite.
    public func update() throws -> Update {
        let start = Date()
        let step = optimizer.steps
        let indices = examples(forStep: step)
        parameters.zeroGradients()
        var lossSum = 0.0, correct = 0
        let weight = 1 / Double(indices.count)
        for micro in stride(from: 0, to: indices.count, by: batchSize) {
            let r = objective.accumulate(
                Array(indices[micro..<min(indices.count, micro + batchSize)]), weight: weight, parameters: parameters)
            lossSum += r.lossSum
            correct += r.correct
        }
        parameters.finishGradients()
        let loss = lossSum / Double(indices.count)
        let norm = parameters.gradientSquaredNorm.squareRoot()
        guard loss.isFinite, norm.isFinite else {
            throw TrainingError.nonFinite(step: step, loss: loss, gradientNorm: norm)
        }
        if maxGradientNorm > 0, norm > maxGradientNorm {
            let scale = Float(maxGradientNorm / (norm + 1e-6))
            for p in parameters.parameters { for j in 0..<p.gradient.count { p.gradient[j] *= scale } }
        }
        let lr = schedule.learningRate(step: step)
        optimizer.step(parameters, learningRate: lr)
        return Update(
            step: step + 1, loss: loss, accuracy: Double(correct) / Double(indices.count), gradientNorm: norm,
            learningRate: lr, indices: indices, seconds: Date().timeIntervalSince(start))
    }
}
