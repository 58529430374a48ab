import Loaders

extension BertModel {
    /// Attaches a PEFT adapter: its saved head (`modules_to_save`: `classifier.*`, BERT's pooler) replaces
    /// the base head, and its LoRA updates become patches on the matching linear layers (a LoRA-XS core
    /// is folded into A, as for decoders). Everything is checked before anything changes, so a refused
    /// adapter leaves the model as it was. Modules or saved parameters the model cannot place are errors
    /// naming them: ignoring one would give plausible but wrong logits.
    public func attach(_ adapter: LoRAAdapter) throws {
        let (newPooler, newClassifier, patches) = try attachmentPlan(adapter)
        setHead(pooler: newPooler, classifier: newClassifier)
        patches.forEach { $0.apply(on: backend) }
    }

    /// Throws what `attach` would throw, changing nothing.
    public func checkAttachable(_ adapter: LoRAAdapter) throws { _ = try attachmentPlan(adapter) }

    private func attachmentPlan(_ adapter: LoRAAdapter) throws -> (Linear?, Linear?, [LoRAPatchPlan]) {
        let file = adapter.directory + "/adapter_model.safetensors"
        let (newPooler, newClassifier) = try savedHead(adapter, file: file)
        // Patches must land on the head that will be in use, so resolve against it.
        let headPooler = newPooler ?? pooler, headClassifier = newClassifier ?? classifier
        var patches: [LoRAPatchPlan] = []
        for layer in adapter.layers {
            let path = canonicalModule(layer.module)
            let target: (Linear, offset: Int, width: Int)?
            if path == poolerModule {
                target = headPooler.map { ($0, 0, $0.outFeatures) }
            } else if path == classifierModule {
                target = headClassifier.map { ($0, 0, $0.outFeatures) }
            } else {
                target = linear(forModule: layer.module)
            }
            patches.append(try LoRAPatchPlan(layer, target: target, model: config.modelType, file: file))
        }
        return (newPooler, newClassifier, patches)
    }

    /// Removes every adapter patch and the adapter's head (back to the base model). Patches already
    /// merged into the encoder's weights stay merged.
    public func detachAdapters() {
        allLinears.forEach { $0.removePatches() }
        restoreBaseHead()
    }

    /// Folds every patch into its weight.
    public func mergeAdapters() { allLinears.forEach { $0.mergePatches(backend: backend) } }

    /// The adapter's saved copies of the head, as fresh layers (the base head's weights are never
    /// overwritten, so detaching restores it). nil where the adapter saved no such part.
    func savedHead(_ adapter: LoRAAdapter, file: String) throws -> (pooler: Linear?, classifier: Linear?) {
        var parts: [String: [String: SavedParameter]] = [:]  // module → weight/bias
        for p in adapter.savedParameters {
            let path = canonicalModule(p.name)
            guard let dot = path.lastIndex(of: ".") else {
                throw LoadError(.unsupported, file: file, item: p.name, "saved parameter '\(p.name)' names no module")
            }
            let module = String(path[..<dot]), kind = String(path[path.index(after: dot)...])
            guard module == poolerModule || module == classifierModule, kind == "weight" || kind == "bias" else {
                throw LoadError(
                    .unsupported, file: file, item: p.name,
                    "the adapter saves '\(p.name)'; bayeval applies only the classification head "
                        + "(\(poolerModule), \(classifierModule)) of a \(config.modelType) encoder")
            }
            guard parts[module, default: [:]][kind] == nil else {
                throw LoadError(.overlap, file: file, item: p.name, "the adapter saves '\(module).\(kind)' twice")
            }
            parts[module, default: [:]][kind] = p
        }
        let h = config.hiddenSize
        func build(_ module: String, out: Int?) throws -> Linear? {
            guard let saved = parts[module] else { return nil }
            guard let w = saved["weight"] else {
                throw LoadError(
                    .missingKey, file: file, item: module + ".weight",
                    "the adapter saves '\(module).bias' without its weight")
            }
            guard let b = saved["bias"] else {
                throw LoadError(
                    .missingKey, file: file, item: module + ".bias",
                    "the adapter saves '\(module).weight' without its bias")
            }
            guard w.shape.count == 2, w.shape[1] == h, w.shape[0] > 0, out == nil || w.shape[0] == out else {
                throw LoadError(
                    .shapeMismatch, file: file, item: w.name,
                    "saved weight is \(w.shape), expected [\(out.map(String.init) ?? "labels"), \(h)]")
            }
            guard b.shape == [w.shape[0]] else {
                throw LoadError(
                    .shapeMismatch, file: file, item: b.name, "saved bias is \(b.shape), expected [\(w.shape[0])]")
            }
            return Linear(
                weight: backend.resident(Tensor(shape: w.shape, values: w.values)),
                bias: backend.resident(Tensor(shape: b.shape, values: b.values)))
        }
        // The label count comes from the adapter's projection: it may be trained for another task than the
        // base checkpoint's head (or the base may have none).
        return (try build(poolerModule, out: h), try build(classifierModule, out: nil))
    }
}
