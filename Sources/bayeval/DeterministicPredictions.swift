import Foundation
import Loaders
import Runtime

/// A model with its adapter attached, decoder or encoder, scoring whole splits deterministically: what
/// `calibrate` needs twice (the fit split and the test split) from one load.
struct DeterministicPredictions {
    let modelPath: String
    let dataDirectory: URL
    private let score: (Dataset) throws -> [ExamplePrediction]

    /// Loads as tfb and laplace do (`ModelTaskOptions.loadRun`), so the three agree on model, adapter and data.
    static func load(adapter: String, options: ModelTaskOptions) throws -> Self {
        switch try options.loadRun(adapter: adapter) {
        case .encoder(let run):
            try run.model.attach(run.adapter)
            return Self(run) { examples in
                let probabilities = EncoderEvaluation.probabilities(
                    model: run.model, examples, batchSize: options.batchSize)
                return zip(examples, probabilities).map { ExamplePrediction(id: $0.id, label: $0.label, probs: $1) }
            }
        case .decoder(let run):
            try run.model.attach(run.adapter)
            return Self(run) { examples in
                let scorer = ChoiceScorer(
                    model: run.model, sharedPrefix: PromptPreparation.commonPrefix(of: examples), tokenBudget: 4096,
                    maxSequences: options.batchSize)
                var out: [ExamplePrediction] = []
                _ = try DecoderEvaluation(scorer: scorer).run(examples, record: { out += $0 }, progress: { _ in })
                return out
            }
        }
    }

    private init<Model>(
        _ run: ModelTaskOptions.LoadedRun<Model>, predict: @escaping ([Model.Example]) throws -> [ExamplePrediction]
    ) {
        self.modelPath = run.modelPath
        self.dataDirectory = run.dataDirectory
        self.score = { try predict(try run.prepare($0)) }
    }

    /// The first `limit` examples of a split (all with nil), refusing an empty one.
    func dataset(_ task: TaskName, _ split: Split, limit: Int?) throws -> Dataset {
        var d = try DatasetLoader.load(task: task, split: split, dataDirectory: dataDirectory)
        if let limit { d = d.select(first: limit) }
        guard d.count > 0 else {
            throw UsageError(
                file: d.files.first ?? dataDirectory.path, item: split.rawValue, "the split has no examples")
        }
        return d
    }

    func predictions(_ dataset: Dataset) throws -> [ExamplePrediction] { try score(dataset) }
}
