import Foundation
import Loaders
import Posthoc
import Runtime

extension TrainingSession {
    /// Metadata keys that describe how a LoRA-XS adapter's bases were made (kept across --resume).
    static let provenanceKeys = ["bayeval_covariance", "bayeval_projection_error"]

    /// The adapter a run starts from, attached to `model`: the saved one (--resume) or `fresh`.
    static func initialAdapter(
        command c: TrainCommand, model: any AdaptedModel, baseShapes: [String: [Int]],
        fresh: () throws -> LoRAAdapter
    ) throws -> LoRAAdapter {
        let adapter = c.resume ? try LoRAAdapter.load(directory: c.output, baseShapes: baseShapes) : try fresh()
        try model.attach(adapter)
        return adapter
    }

    /// The adapter the run trains, attached: `initial` itself, or (--loraxs, from scratch) a LoRA-XS
    /// adapter projected from the base weights in its place; with what the checkpoint records of how the
    /// bases were made.
    static func trainedAdapter(
        command c: TrainCommand, model: any AdaptedModel, objective: any TrainingObjective, initial: LoRAAdapter
    ) throws -> (LoRAAdapter, provenance: [String: String]) {
        if c.resume { return (initial, initial.metadata.filter { provenanceKeys.contains($0.key) }) }
        guard c.subspace.loraxs else { return (initial, [:]) }
        model.detachAdapters()
        let projection = try c.subspace.projection(seed: c.seed)
        let batches = Trainer.leadingBatches(
            count: c.subspace.covarianceBatches, batchSize: c.batchSize, exampleCount: objective.exampleCount,
            seed: c.seed)
        let started = Date()
        let made:
            (
                adapter: LoRAAdapter, layers: [LoRAXSInitialisation.LayerSummary],
                covariance: LoRAXSInitialisation.CovarianceSource?
            )
        do {
            made = try LoRAXSInitialisation.adapter(
                for: model, replacing: initial, projection: projection, rank: c.rank, objective: objective,
                covarianceBatches: projection.needsInputCovariance ? batches : [], seed: c.seed)
        } catch let error as ProjectionError {
            throw UsageError(file: c.model, item: "--projection \(c.subspace.projectionName)", error.description)
        }
        let errors = made.layers.map(\.reach)
        let mean = errors.reduce(0, +) / Double(max(errors.count, 1))
        var provenance = [
            "bayeval_projection_error": String(
                format:
                    "relative ‖W − P_B·W·P_A‖/‖W‖ (the best core in the subspace) over %d layers: mean %.4f, min %.4f, "
                    + "max %.4f", errors.count, mean,
                errors.min() ?? 0, errors.max() ?? 0)
        ]
        if let source = made.covariance {
            provenance["bayeval_covariance"] =
                "train split, the first \(source.batches) batches of \(c.batchSize) in training order "
                + "(\(source.examples) examples, \(source.tokens) input positions), base model"
        }
        note(
            "LoRA-XS \(c.subspace.projectionName) bases at r=\(c.rank) for \(made.layers.count) layers in "
                + String(format: "%.2f s; ", Date().timeIntervalSince(started))
                + provenance["bayeval_projection_error"]!
                + (provenance["bayeval_covariance"].map { "; covariance from the \($0)" } ?? ""))
        // Every layer of a small model; the three the subspace reaches worst of a large one.
        let shown =
            made.layers.count <= 16
            ? made.layers : Array(made.layers.sorted { $0.reach > $1.reach }.prefix(3))
        if shown.count < made.layers.count { note("  the layers it reaches worst:") }
        for layer in shown {
            note(
                String(
                    format: "  %@ (%d × %d): relative error %.4f", layer.module, layer.outFeatures, layer.inFeatures,
                    layer.reach))
        }
        try model.attach(made.adapter)
        return (made.adapter, provenance)
    }
}
