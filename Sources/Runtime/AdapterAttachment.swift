import Loaders

extension LlamaModel {
    /// Adds the adapter's LoRA updates as patches on the matching linear layers. A LoRA-XS core R sits
    /// between fixed A and B (ΔW = s·B·R·A), so it is folded into A here. Any module the model does not
    /// have is an error naming it.
    public func attach(_ adapter: LoRAAdapter) throws {
        let file = adapter.directory + "/adapter_model.safetensors"
        for layer in adapter.layers {
            guard let (linear, offset, width) = linear(forModule: layer.module) else {
                throw LoadError(.unknownKey, file: file, item: layer.module,
                                "the model has no adaptable linear layer '\(layer.module)'")
            }
            guard layer.outFeatures == width, layer.inFeatures == linear.inFeatures else {
                throw LoadError(.shapeMismatch, file: file, item: layer.module,
                                "adapter update is \(layer.outFeatures)×\(layer.inFeatures), the layer is \(width)×\(linear.inFeatures)")
            }
            var a = layer.a
            if let core = layer.core {
                a = Self.multiply(core, rows: layer.rank, inner: layer.rank, by: layer.a, columns: layer.inFeatures)
            }
            linear.addPatch(outputOffset: offset, a: Tensor(shape: [layer.rank, layer.inFeatures], values: a),
                            b: Tensor(shape: [layer.outFeatures, layer.rank], values: layer.b), scaling: Float(layer.scaling))
        }
    }

    /// Removes every adapter patch (back to the base model).
    public func detachAdapters() { allLinears.forEach { $0.removePatches() } }

    /// Folds every patch into its weight.
    public func mergeAdapters() { allLinears.forEach { $0.mergePatches(backend: backend) } }

    /// Small dense product for folding cores: (rows×inner)·(inner×columns).
    static func multiply(_ x: [Float], rows: Int, inner: Int, by y: [Float], columns: Int) -> [Float] {
        var out = [Float](repeating: 0, count: rows * columns)
        for r in 0..<rows {
            for k in 0..<inner {
                let s = x[r * inner + k]
                for c in 0..<columns { out[r * columns + c] += s * y[k * columns + c] }
            }
        }
        return out
    }
}
