import Foundation
import Loaders
import Runtime

/// The model and adapter a Laplace run is over, loaded and attached, whichever architecture: a decoder
/// scores prompted choices, an encoder classifies with its saved head. `objective` turns a dataset into
/// the examples a curvature pass runs over, with their ids.
struct LaplaceSubject {
    let modelPath: String
    let backend: any ComputeBackend
    let adapter: LoRAAdapter
    let parameters: AdapterParameters
    let dataDirectory: URL
    let objective: (Dataset) throws -> (objective: any TrainingObjective, ids: [String])

    static func load(adapter path: String, options: ModelTaskOptions) throws -> LaplaceSubject {
        let config = try AdapterConfig.load(path: (path as NSString).appendingPathComponent("adapter_config.json"))
        let modelPath = try options.resolveModel(adapter: path, config: config)
        let isEncoder: Bool
        if ModelLoader.isGGUF(modelPath) {
            isEncoder = false
        } else if case .encoder = try ModelConfig.load(directory: modelPath) {
            isEncoder = true
        } else {
            isEncoder = false
        }
        guard isEncoder else {
            let run = try options.loadDecoderRun(adapter: path, command: "laplace")
            try run.model.attach(run.adapter)
            var preparation = run.preparation
            let model = run.model
            return LaplaceSubject(
                modelPath: run.modelPath, backend: run.backend, adapter: run.adapter,
                parameters: try model.adapterParameters(run.adapter), dataDirectory: run.dataDirectory,
                objective: { dataset in
                    let examples = try preparation.prepare(dataset)
                    return (DecoderObjective(model: model, examples: examples), examples.map(\.id))
                })
        }
        let backend = options.device.makeBackend(threads: options.threads)
        let loaded = try ModelLoader.loadEncoder(path: modelPath, backend: backend)
        let lora = try LoRAAdapter.load(directory: path, baseShapes: loaded.parameterShapes)
        try loaded.model.attach(lora)
        let evaluation = EncoderEvaluation(
            model: loaded.model, tokenizer: try TokenizerLoader.load(modelPath: modelPath),
            batchSize: options.batchSize)
        return LaplaceSubject(
            modelPath: modelPath, backend: backend, adapter: lora,
            parameters: try loaded.model.adapterParameters(lora),
            dataDirectory: try options.dataDir.map { URL(fileURLWithPath: $0) } ?? DataDirectory.locate(),
            objective: { dataset in
                let examples = try evaluation.prepare(dataset)
                return (EncoderObjective(model: loaded.model, examples: examples), examples.map(\.id))
            })
    }
}
