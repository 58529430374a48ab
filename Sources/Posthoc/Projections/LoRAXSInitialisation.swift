import Foundation
import Loaders
import Runtime

/// A fresh LoRA-XS adapter: each LoRA layer of a new adapter (from `NewAdapter`, which also gives an
/// encoder its head) replaced by bases projected from the layer's base weight, lora_A = the absorbed
/// core·A and lora_B = B, with a trainable core R ~ N(0, 1e-5²) between them, as upstream initialises
/// it: training starts a hair away from the base model.
public enum LoRAXSInitialisation {
    public static let coreStandardDeviation = 1e-5

    /// What the projection made of one layer.
    public struct LayerSummary: Sendable {
        public let module: String
        public let outFeatures: Int
        public let inFeatures: Int
        /// ‖W − P_B·W·P_A‖_F / ‖W‖_F, the subspace's reach (`ProjectedBases.reach`), before training.
        public let reach: Double
    }

    /// What a W-SVD covariance was computed on, for the checkpoint's record.
    public struct CovarianceSource: Sendable {
        public let batches: Int
        public let examples: Int
        /// Inputs the first adapted layer saw (token positions).
        public let tokens: Int
    }

    /// A LoRA-XS adapter for `model` in place of `fresh` (a new LoRA adapter, B = 0): when the projection
    /// needs input covariances they are accumulated over `covarianceBatches` forward passes of
    /// `objective` with `fresh` attached, so the inputs are the base model's (an encoder's fresh head
    /// lets the pass run); the model is left with no adapter attached.
    public static func adapter(
        for model: any AdaptedModel, replacing fresh: LoRAAdapter, projection: any SubspaceProjection, rank: Int,
        objective: any TrainingObjective, covarianceBatches: [[Int]], seed: UInt64
    ) throws -> (adapter: LoRAAdapter, layers: [LayerSummary], covariance: CovarianceSource?) {
        var covariances: [ObjectIdentifier: InputCovariance] = [:]
        var source: CovarianceSource?
        if projection.needsInputCovariance {
            guard !covarianceBatches.joined().isEmpty else {
                throw ProjectionError.noInputCovariance(module: fresh.layers.first?.module ?? "every layer")
            }
            try model.attach(fresh)
            defer { model.detachAdapters() }
            covariances = inputCovariances(of: model, modules: fresh.layers.map(\.module)) {
                for batch in covarianceBatches where !batch.isEmpty { objective.forwardAllPositions(batch) }
            }
            let first = fresh.layers.first.flatMap { model.linear(forModule: $0.module) }.map { ObjectIdentifier($0.0) }
            source = CovarianceSource(
                batches: covarianceBatches.count, examples: covarianceBatches.joined().count,
                tokens: first.flatMap { covariances[$0]?.tokens } ?? 0)
        }
        let (adapter, layers) = try self.adapter(
            replacingLayersOf: fresh, projection: projection, rank: rank, resolve: model.linear(forModule:),
            covariances: covariances, seed: seed)
        return (adapter, layers, source)
    }

    /// The input covariance of each linear layer holding one of `modules` (modules that share a fused
    /// layer, q and v, share its covariance) over the forward passes `run` makes; the observers are
    /// removed afterwards.
    public static func inputCovariances(
        of model: any AdaptedModel, modules: [String], during run: () throws -> Void
    ) rethrows -> [ObjectIdentifier: InputCovariance] {
        var covariances: [ObjectIdentifier: InputCovariance] = [:]
        var observed: [Linear] = []
        for module in modules {
            guard let (linear, _, _) = model.linear(forModule: module), covariances[ObjectIdentifier(linear)] == nil
            else { continue }
            let covariance = InputCovariance(dimension: linear.inFeatures)
            covariances[ObjectIdentifier(linear)] = covariance
            linear.inputObserver = covariance
            observed.append(linear)
        }
        defer { for linear in observed { linear.inputObserver = nil } }
        try run()
        return covariances
    }

    /// `resolve`: the model's linear layer (and output block) of a module path. `covariances`: the
    /// input covariance of each linear layer, needed when `projection.needsInputCovariance`.
    public static func adapter(
        replacingLayersOf fresh: LoRAAdapter, projection: any SubspaceProjection, rank: Int,
        resolve: (String) -> (Linear, offset: Int, width: Int)?,
        covariances: [ObjectIdentifier: InputCovariance] = [:], seed: UInt64
    ) throws -> (adapter: LoRAAdapter, layers: [LayerSummary]) {
        var rng = SplitMix64(seed: seed)
        var layers: [LoRALayerWeights] = [], summaries: [LayerSummary] = []
        for fresh in fresh.layers {
            guard let (linear, offset, width) = resolve(fresh.module) else {
                preconditionFailure("\(fresh.module): the fresh adapter names a layer the model does not have")
            }
            // α/r of the fresh layer is the LoRA-XS layer's scaling only at the same r.
            precondition(fresh.rank == rank, "\(fresh.module): a rank-\(fresh.rank) fresh layer for rank \(rank)")
            // A layer's random stream follows from its name alone, not from which other layers are targeted.
            let index = Int(truncatingIfNeeded: fnv1a(fresh.module) >> 1)
            let weight = DoubleMatrix(
                rows: width, columns: linear.inFeatures, floats: linear.weight.pointer + offset * linear.inFeatures)
            let layer = ProjectionLayer(
                module: fresh.module, index: index, weight: weight,
                inputCovariance: covariances[ObjectIdentifier(linear)]?.estimate)
            if projection.needsInputCovariance, layer.inputCovariance == nil {
                throw ProjectionError.noInputCovariance(module: fresh.module)
            }
            let bases = try projection.project(layer, rank: rank)
            let stored = bases.absorbed
            let core = (0..<(rank * rank)).map { _ in Float(coreStandardDeviation * rng.nextGaussian()) }
            layers.append(
                LoRALayerWeights(
                    module: fresh.module, rank: rank, inFeatures: linear.inFeatures, outFeatures: width,
                    scaling: fresh.scaling, a: stored.a.floats, b: stored.b.floats, core: core))
            summaries.append(
                LayerSummary(
                    module: fresh.module, outFeatures: width, inFeatures: linear.inFeatures,
                    reach: try bases.reach(of: weight)))
        }
        let adapter = LoRAAdapter.inMemory(
            config: fresh.config, layers: layers, savedParameters: fresh.savedParameters, directory: fresh.directory)
        return (adapter, summaries)
    }
}

/// FNV-1a over a string's UTF-8 bytes: a stable 64-bit name hash (Swift's `hashValue` is seeded per process).
func fnv1a(_ s: String) -> UInt64 {
    var h: UInt64 = 0xcbf2_9ce4_8422_2325
    for byte in s.utf8 { h = (h ^ UInt64(byte)) &* 0x100_0000_01b3 }
    return h
}
