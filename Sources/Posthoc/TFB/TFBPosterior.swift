import Loaders
import Runtime

/// A TFB posterior put on a model: the adapter, reparametrised (B' = U diag(d), A' = Vᵀ A), replaces any
/// attached adapter, and each A' carries Gaussian noise of standard deviation σ/dᵢ on row i. Changing σ
/// only rewrites the noise scales, so a σ search reuses the same model.
public final class TFBPosterior: @unchecked Sendable {
    public let layers: [TFBLayer]
    public let model: any AdaptedModel
    public private(set) var sigma: Double
    private var handles: [(Linear, Int)] = []

    public init(adapter: LoRAAdapter, model: any AdaptedModel, sigma: Double) throws {
        self.layers = try adapter.layers.map(TFBLayer.init)
        self.model = model
        self.sigma = sigma
        // The reparametrised adapter keeps the original's saved modules (a head): attached like any adapter,
        // checked whole before the model changes, so a refused one leaves the model as it was.
        let reparametrised = LoRAAdapter.inMemory(
            config: adapter.config,
            layers: layers.map {
                LoRALayerWeights(
                    module: $0.module, rank: $0.rank, inFeatures: $0.inFeatures, outFeatures: $0.outFeatures,
                    scaling: $0.scaling, a: $0.a, b: $0.b)
            },
            savedParameters: adapter.savedParameters, directory: adapter.directory, metadata: adapter.metadata)
        try model.checkAttachable(reparametrised)
        model.detachAdapters()
        try model.attach(reparametrised)
        // attach succeeded, so every layer has its patch.
        handles = layers.map { model.patch(forModule: $0.module)! }
        setSigma(sigma)
    }

    /// Sets σ for every layer (0 turns the noise off: the mean prediction).
    public func setSigma(_ sigma: Double) {
        self.sigma = sigma
        for (i, (linear, patch)) in handles.enumerated() {
            let sampler =
                sigma > 0
                ? DiagonalGaussianOnA(
                    standardDeviations: layers[i].standardDeviations(sigma: sigma), key: UInt64(i + 1)) : nil
            linear.setSampler(patch: patch, sampler)
        }
    }
}
