import Loaders

extension LlamaModel {
    /// Adds the adapter's LoRA updates as patches on the matching linear layers (LoRA-XS cores folded into
    /// A), and puts in place the LM head the adapter saved (`modules_to_save`, or PEFT's copy of a targeted
    /// head), since peft loads it over the base head. Everything is checked before anything changes, so a
    /// refused adapter leaves the model as it was; a module the model does not have, or a saved parameter
    /// bayeval cannot apply, is an error naming it.
    public func attach(_ adapter: LoRAAdapter) throws {
        let (head, plans) = try attachmentPlan(adapter)
        lmHead = head
        plans.forEach { $0.apply(on: backend) }
    }

    /// Throws what `attach` would throw, changing nothing.
    public func checkAttachable(_ adapter: LoRAAdapter) throws { _ = try attachmentPlan(adapter) }

    private func attachmentPlan(_ adapter: LoRAAdapter) throws -> (head: Linear, patches: [LoRAPatchPlan]) {
        let file = adapter.directory + "/adapter_model.safetensors"
        let head = try savedHead(adapter, file: file) ?? lmHead
        let plans = try adapter.layers.map { layer in
            let target =
                layer.module == Self.headModule ? (head, 0, config.vocabularySize) : linear(forModule: layer.module)
            return try LoRAPatchPlan(layer, target: target, model: config.modelType, file: file)
        }
        return (head, plans)
    }

    /// Removes every adapter patch and any saved head (back to the base model). Patches already merged
    /// stay merged.
    public func detachAdapters() {
        allLinears.forEach { $0.removePatches() }
        lmHead = baseLMHead
    }

    /// Folds every patch into its weight; the head in use (merged, or an adapter's saved one) becomes the
    /// base head, so a later detach keeps the whole merged model. A tied head being merged first gets a
    /// weight of its own: merging into the shared table would change the input embeddings too.
    public func mergeAdapters() {
        if lmHead.weight === embedding, !lmHead.patches.isEmpty {
            let tied = lmHead
            lmHead = lmHead.withOwnWeight()
            tied.removePatches()
        }
        allLinears.forEach { $0.mergePatches(backend: backend) }
        baseLMHead = lmHead
    }

    /// A fresh head from the adapter's saved `lm_head.weight` when it differs from the head in use; nil when
    /// the adapter saves none or an unchanged copy (peft saves the base weight of a targeted head). Saved
    /// unchanged copies of other base weights are accepted; anything else would be silently ignored, so it
    /// is refused.
    func savedHead(_ adapter: LoRAAdapter, file: String) throws -> Linear? {
        var head: Linear?
        for p in adapter.savedParameters {
            let name = p.baseName ?? p.name
            if name == "lm_head.weight" {
                let shape = [config.vocabularySize, config.hiddenSize]
                guard p.shape == shape else {
                    throw LoadError(
                        .shapeMismatch, file: file, item: p.name, "saved head is \(p.shape), expected \(shape)")
                }
                if !baseLMHead.weight.holds(p.values) {
                    head = Linear(weight: backend.resident(Tensor(shape: p.shape, values: p.values)))
                }
            } else if name == "model.embed_tokens.weight", embedding.holds(p.values) {
                continue
            } else {
                throw LoadError(
                    .unsupported, file: file, item: p.name,
                    "the adapter saves '\(p.name)'; bayeval applies only a saved lm_head to a "
                        + "\(config.modelType) decoder (changed embeddings and classification heads such as "
                        + "'score' are not supported), and ignoring it would give wrong probabilities")
            }
        }
        return head
    }
}
