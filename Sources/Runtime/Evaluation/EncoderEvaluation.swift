import Foundation
import Loaders

/// Classification with an encoder's sequence-classification head: texts (or text pairs) tokenized with
/// the tokenizer's own template, run in length-sorted packed batches, softmax over the head's labels.
public struct EncoderEvaluation {
    public let model: BertModel
    public let tokenizer: any Tokenizer
    public var batchSize: Int
    public var chunkSize = Self.defaultChunkSize
    public static let defaultChunkSize = 128

    public struct Prepared: Sendable {
        public let id: String
        public let label: Int
        public let tokens: [Int]
        public let types: [Int]
    }

    public init(model: BertModel, tokenizer: any Tokenizer, batchSize: Int) {
        self.model = model
        self.tokenizer = tokenizer
        self.batchSize = max(1, batchSize)
    }

    /// Checks that the head fits the task and every input fits the model.
    public func prepare(_ dataset: Dataset) throws -> [Prepared] {
        let file = dataset.files.first ?? dataset.task.rawValue
        guard model.hasClassificationHead, let labels = model.labelCount else {
            throw UsageError(
                file: file, item: dataset.task.rawValue,
                "this encoder has no classification head: evaluate it with an adapter that saves one "
                    + "(modules_to_save), or train one with `bayeval train`"
            )
        }
        guard !dataset.task.isMultipleChoice else {
            throw UsageError(
                file: file, item: dataset.task.rawValue,
                "multiple-choice tasks need a decoder; encoders classify "
                    + TaskName.allCases.filter { !$0.isMultipleChoice }.map(\.rawValue).joined(separator: ", ")
            )
        }
        guard labels == dataset.task.labelNames.count else {
            throw UsageError(
                file: file, item: "classifier",
                "the classification head has \(labels) labels but \(dataset.task.rawValue) has "
                    + "\(dataset.task.labelNames.count) (\(dataset.task.labelNames.joined(separator: ", ")))"
            )
        }
        return try dataset.examples.map { e in
            let input = EncoderInput(e)
            let (ids, types) = tokenizer.encodeWithTypes(input.text, pair: input.pair, addSpecialTokens: true)
            guard !ids.isEmpty, ids.count <= model.maxSequenceLength else {
                throw UsageError(
                    file: file, item: e.id,
                    "the input is \(ids.count) tokens; the model takes at most \(model.maxSequenceLength)")
            }
            if let bad = ids.first(where: { $0 < 0 || $0 >= model.config.vocabularySize }) {
                throw UsageError(
                    file: file, item: e.id,
                    "token id \(bad) is outside the model's vocabulary: tokenizer and model do not match")
            }
            return Prepared(id: e.id, label: input.label, tokens: ids, types: types)
        }
    }

    /// How `run` orders and chunks `examples`.
    public func chunks(_ examples: [Prepared]) -> ScoringChunks { Self.chunks(examples, size: chunkSize) }

    static func chunks(_ examples: [Prepared], size: Int) -> ScoringChunks {
        .byLength(examples.map(\.tokens.count), size: size)
    }

    /// Probabilities of `examples`, in their order, batched exactly as `run` batches them (so equal to its
    /// predictions bit for bit), under the patches' means or, with `seeds` (one per example), under those
    /// weight samples. nil where the logits are not finite.
    public static func probabilities(
        model: BertModel, _ examples: [Prepared], batchSize: Int, chunkSize: Int = defaultChunkSize
    ) -> [[Double]?] {
        var out = [[Double]?](repeating: nil, count: examples.count)
        let chunks = chunks(examples, size: chunkSize)
        for c in 0..<chunks.count {
            let positions = Array(chunks.chunk(c))
            let probs = batchProbabilities(model: model, positions.map { examples[$0] }, batchSize: batchSize)
            for (p, q) in zip(positions, probs) { out[p] = q }
        }
        return out
    }

    /// The examples in batches of `batchSize`, in the order given.
    static func batchProbabilities(model: BertModel, _ members: [Prepared], batchSize: Int) -> [[Double]?] {
        stride(from: 0, to: members.count, by: batchSize).flatMap { start in
            let batch = Array(members[start..<min(members.count, start + batchSize)])
            return model.choiceLogits(batch, noise: nil).map(DecoderEvaluation.softmax)
        }
    }

    public func run(
        _ examples: [Prepared], record: ([ExamplePrediction]) throws -> Void,
        progress: (Int) -> Void
    ) throws -> DecoderEvaluation.Summary {
        var summary = DecoderEvaluation.Summary()
        let start = Date()
        let chunks = chunks(examples)
        var done = 0
        for c in 0..<chunks.count {
            let members = chunks.chunk(c).map { examples[$0] }
            let probs = Self.batchProbabilities(model: model, members, batchSize: batchSize)
            let chunk = zip(members, probs).map { ExamplePrediction(id: $0.id, label: $0.label, probs: $1) }
            summary.nonFinite += probs.filter { $0 == nil }.count
            summary.promptTokens += members.reduce(0) { $0 + $1.tokens.count }
            progress(done + chunk.count)
            summary.computedTokens = summary.promptTokens
            try record(chunk)
            done += members.count
        }
        summary.examples = done
        summary.seconds = Date().timeIntervalSince(start)
        return summary
    }
}
