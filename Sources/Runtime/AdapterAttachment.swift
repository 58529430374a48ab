import Loaders

extension LlamaModel {
    /// Adds the adapter's LoRA updates as patches on the matching linear layers (LoRA-XS cores folded into
    /// A). Every layer is checked before any patch is added; a module the model does not have is an error
    /// naming it.
    public func attach(_ adapter: LoRAAdapter) throws {
        let file = adapter.directory + "/adapter_model.safetensors"
        let plans = try adapter.layers.map {
            try LoRAPatchPlan($0, target: linear(forModule: $0.module), model: config.modelType, file: file)
        }
        plans.forEach { $0.apply() }
    }

    /// Removes every adapter patch (back to the base model).
    public func detachAdapters() { allLinears.forEach { $0.removePatches() } }

    /// Folds every patch into its weight.
    public func mergeAdapters() { allLinears.forEach { $0.mergePatches(backend: backend) } }
}
