import Foundation
import Loaders

/// Classification with an encoder's sequence-classification head: texts (or text pairs) tokenized with
/// the tokenizer's own template, run in length-sorted packed batches, softmax over the head's labels.
public struct EncoderEvaluation {
    public let model: BertModel
    public let tokenizer: any Tokenizer
    public var batchSize: Int
    public var chunkSize = 128

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
    public func chunks(_ examples: [Prepared]) -> ScoringChunks {
        .byLength(examples.map(\.tokens.count), size: chunkSize)
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
            var chunk: [ExamplePrediction] = []
            for batchStart in stride(from: 0, to: members.count, by: batchSize) {
                let batch = Array(members[batchStart..<min(members.count, batchStart + batchSize)])
                let logits = model.classify(batch.map(\.tokens), tokenTypes: batch.map(\.types))
                let k = logits.columns
                for (row, e) in batch.enumerated() {
                    let probs = DecoderEvaluation.softmax(Array(logits.storage[(row * k)..<((row + 1) * k)]))
                    if probs == nil { summary.nonFinite += 1 }
                    chunk.append(ExamplePrediction(id: e.id, label: e.label, probs: probs))
                    summary.promptTokens += e.tokens.count
                }
                progress(done + chunk.count)
            }
            summary.computedTokens = summary.promptTokens
            try record(chunk)
            done += members.count
        }
        summary.examples = done
        summary.seconds = Date().timeIntervalSince(start)
        return summary
    }
}
