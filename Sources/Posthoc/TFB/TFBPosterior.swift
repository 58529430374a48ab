import Loaders
import Runtime

/// A TFB posterior put on a model: the adapter, reparametrised (B' = U diag(d), A' = Vᵀ A), replaces any
/// patches, and each A' carries Gaussian noise of standard deviation σ/dᵢ on row i. Changing σ only rewrites
/// the noise scales, so a σ search reuses the same model.
public final class TFBPosterior: @unchecked Sendable {
    public let layers: [TFBLayer]
    public let model: LlamaModel
    public private(set) var sigma: Double
    private var handles: [(Linear, Int)] = []

    public init(adapter: LoRAAdapter, model: LlamaModel, sigma: Double) throws {
        self.layers = try adapter.layers.map(TFBLayer.init)
        self.model = model
        self.sigma = sigma
        let file = adapter.directory + "/adapter_model.safetensors"
        // Every layer is resolved before the model changes: a refused adapter leaves it as it was.
        let targets = try layers.map { l in
            guard let (linear, offset, width) = model.linear(forModule: l.module), width == l.outFeatures,
                  linear.inFeatures == l.inFeatures else {
                throw LoadError(.unknownKey, file: file, item: l.module,
                                "the model has no \(l.outFeatures)×\(l.inFeatures) layer '\(l.module)'")
            }
            return (linear, offset)
        }
        model.detachAdapters()
        for (l, (linear, offset)) in zip(layers, targets) {
            linear.addPatch(outputOffset: offset, a: Tensor(shape: [l.rank, l.inFeatures], values: l.a),
                            b: Tensor(shape: [l.outFeatures, l.rank], values: l.b), scaling: Float(l.scaling))
            handles.append((linear, linear.patches.count - 1))
        }
        setSigma(sigma)
    }

    /// Sets σ for every layer (0 turns the noise off: the mean prediction).
    public func setSigma(_ sigma: Double) {
        self.sigma = sigma
        for (i, (linear, patch)) in handles.enumerated() {
            let sampler = sigma > 0
                ? DiagonalGaussianOnA(standardDeviations: layers[i].standardDeviations(sigma: sigma), key: UInt64(i + 1)) : nil
            linear.setSampler(patch: patch, sampler)
        }
    }
}
