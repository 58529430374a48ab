import Loaders

/// One adapter layer checked against the linear layer it targets, ready to become a patch. Models build
/// every plan first and apply them only when all succeeded, so a refused adapter changes nothing.
struct LoRAPatchPlan {
    let linear: Linear
    let offset: Int
    let a: Tensor
    let b: Tensor
    let scaling: Float
    /// LoRA-XS: the fixed A₀ the core multiplies (kept so curvature observers can see the core's input).
    let fixedA: Tensor?

    /// `target`: the linear layer, the first output column of the adapted block and its width (nil when
    /// the model has no such module). A LoRA-XS core R sits between fixed A and B (ΔW = s·B·R·A), so it is
    /// folded into A here.
    init(_ layer: LoRALayerWeights, target: (Linear, offset: Int, width: Int)?, model: String, file: String) throws {
        guard let (linear, offset, width) = target else {
            throw LoadError(
                .unknownKey, file: file, item: layer.module,
                "the \(model) model has no adaptable linear layer '\(layer.module)'")
        }
        guard layer.outFeatures == width, layer.inFeatures == linear.inFeatures else {
            throw LoadError(
                .shapeMismatch, file: file, item: layer.module,
                "adapter update is \(layer.outFeatures)×\(layer.inFeatures), "
                    + "the layer is \(width)×\(linear.inFeatures)"
            )
        }
        let a = layer.effectiveA
        self.linear = linear
        self.offset = offset
        self.a = Tensor(shape: [layer.rank, layer.inFeatures], values: a)
        self.b = Tensor(shape: [layer.outFeatures, layer.rank], values: layer.b)
        scaling = Float(layer.scaling)
        fixedA = layer.core == nil ? nil : Tensor(shape: [layer.rank, layer.inFeatures], values: layer.a)
    }

    /// Adds the patch, its tensors in `backend`'s memory.
    func apply(on backend: any ComputeBackend) {
        linear.addPatch(
            outputOffset: offset, a: backend.resident(a), b: backend.resident(b), scaling: scaling,
            fixedA: fixedA.map(backend.resident))
    }
}
