import Foundation
import Loaders
import Runtime

/// A model with its adapter attached, decoder or encoder, scoring whole splits deterministically: what
/// `calibrate` needs twice (the fit split and the test split) from one load.
struct DeterministicPredictions {
    let modelPath: String
    let dataDirectory: URL
    private let score: (Dataset) throws -> [ExamplePrediction]

    static func load(adapter: String, options: ModelTaskOptions) throws -> Self {
        let config = try AdapterConfig.load(path: (adapter as NSString).appendingPathComponent("adapter_config.json"))
        let modelPath = try options.resolveModel(adapter: adapter, config: config)
        let backend = options.device.makeBackend(threads: options.threads)
        let tokenizer = try TokenizerLoader.load(modelPath: modelPath)
        let dataDirectory = try options.dataDir.map { URL(fileURLWithPath: $0) } ?? DataDirectory.locate()
        if try ModelTaskOptions.isEncoder(modelPath) {
            let loaded = try ModelLoader.loadEncoder(path: modelPath, backend: backend)
            try loaded.model.attach(try LoRAAdapter.load(directory: adapter, baseShapes: loaded.parameterShapes))
            let evaluation = EncoderEvaluation(model: loaded.model, tokenizer: tokenizer, batchSize: options.batchSize)
            return Self(modelPath: modelPath, dataDirectory: dataDirectory) { dataset in
                var out: [ExamplePrediction] = []
                _ = try evaluation.run(try evaluation.prepare(dataset), record: { out += $0 }, progress: { _ in })
                return out
            }
        }
        let loaded = try ModelLoader.loadDecoder(path: modelPath, backend: backend)
        try loaded.model.attach(try LoRAAdapter.load(directory: adapter, baseShapes: loaded.parameterShapes))
        let model = loaded.model
        return Self(modelPath: modelPath, dataDirectory: dataDirectory) { dataset in
            var preparation = PromptPreparation(
                tokenizer: tokenizer, task: dataset.task, options: options.promptOptions,
                contextLength: model.config.scoringContextLength, vocabularySize: model.config.vocabularySize)
            let prepared = try preparation.prepare(dataset)
            let scorer = ChoiceScorer(
                model: model, sharedPrefix: PromptPreparation.commonPrefix(of: prepared), tokenBudget: 4096,
                maxSequences: options.batchSize)
            var out: [ExamplePrediction] = []
            _ = try DecoderEvaluation(scorer: scorer).run(prepared, record: { out += $0 }, progress: { _ in })
            return out
        }
    }

    init(modelPath: String, dataDirectory: URL, score: @escaping (Dataset) throws -> [ExamplePrediction]) {
        self.modelPath = modelPath
        self.dataDirectory = dataDirectory
        self.score = score
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
