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
        switch try options.loadRun(adapter: path) {
        case .decoder(let run):
            try run.model.attach(run.adapter)
            return try LaplaceSubject(run) { DecoderObjective(model: run.model, examples: $0) }
        case .encoder(let run):
            try run.model.attach(run.adapter)
            return try LaplaceSubject(run) { EncoderObjective(model: run.model, examples: $0) }
        }
    }

}

extension LaplaceSubject {
    /// The subject of a run whose adapter is attached; `objective` makes the curvature objective of examples.
    init<Model>(
        _ run: ModelTaskOptions.LoadedRun<Model>, objective: @escaping ([Model.Example]) -> any TrainingObjective
    ) throws {
        self.init(
            modelPath: run.modelPath, backend: run.backend, adapter: run.adapter,
            parameters: try run.model.adapterParameters(run.adapter), dataDirectory: run.dataDirectory,
            objective: { dataset in
                let examples = try run.prepare(dataset)
                return (objective(examples), examples.map(\.id))
            })
    }
}
