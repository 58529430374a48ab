import Foundation
import Loaders
import Posthoc
import Runtime

/// The model and adapter a Laplace run is over, loaded and attached, whichever architecture: a decoder
/// scores prompted choices, an encoder classifies with its saved head. `objective` turns a dataset into
/// the examples a curvature pass runs over, with their ids and (a decoder's) answer tokens.
struct LaplaceSubject {
    let modelPath: String
    let backend: any ComputeBackend
    let adapter: LoRAAdapter
    let parameters: AdapterParameters
    let dataDirectory: URL
    let objective: (Dataset) throws -> Objective

    struct Objective {
        let objective: any TrainingObjective
        let ids: [String]
        let labels: [Int]
        /// Per example the vocabulary ids its choices are scored by; empty for an encoder.
        let answerTokens: [[Int]]
    }

    static func load(adapter path: String, options: ModelTaskOptions) throws -> LaplaceSubject {
        switch try options.loadRun(adapter: path) {
        case .decoder(let run):
            try run.model.attach(run.adapter)
            return try LaplaceSubject(run, answers: { $0.map(\.answerTokens) }) {
                DecoderObjective(model: run.model, examples: $0)
            }
        case .encoder(let run):
            try run.model.attach(run.adapter)
            return try LaplaceSubject(run, answers: { _ in [] }) { EncoderObjective(model: run.model, examples: $0) }
        }
    }

}

extension LaplaceSubject {
    /// The subject of a run whose adapter is attached; `objective` makes the curvature objective of examples.
    init<Model>(
        _ run: ModelTaskOptions.LoadedRun<Model>, answers: @escaping ([Model.Example]) -> [[Int]],
        objective: @escaping ([Model.Example]) -> any TrainingObjective
    ) throws {
        self.init(
            modelPath: run.modelPath, backend: run.backend, adapter: run.adapter,
            parameters: try run.model.adapterParameters(run.adapter), dataDirectory: run.dataDirectory,
            objective: { dataset in
                let examples = try run.prepare(dataset)
                return Objective(
                    objective: objective(examples), ids: examples.map(\.id), labels: examples.map(\.label),
                    answerTokens: answers(examples))
            })
    }
}

extension LaplaceSubject.Objective {
    /// The answer tokens of these examples, each once, in the order first met: the LM head rows an `lm-head`
    /// posterior fitted on them is over (a task's fixed choices, "A", "B", … in their order).
    var answerRows: [Int] {
        var seen: Set<Int> = [], rows: [Int] = []
        for tokens in answerTokens { for t in tokens where seen.insert(t).inserted { rows.append(t) } }
        return rows
    }

    /// Refuses examples scored by a token outside an `lm-head` layout's rows (their variance would be
    /// missing, not wrong by a little); `file` and `split` name what was refused.
    func requireAnswers(in layout: LaplaceLayout, file: String, split: String) throws {
        guard layout.subset == .lmHead else { return }
        let held = Set(layout.answerRows)
        if let missing = answerRows.first(where: { !held.contains($0) }) {
            throw UsageError(
                file: file, item: split,
                "an answer token (\(missing)) is outside the LM head rows \(layout.answerRows) the lm-head posterior "
                    + "is over (the fit examples' answers); fit and test on tasks with the same choices")
        }
    }
}
