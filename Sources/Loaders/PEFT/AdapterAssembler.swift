/// Groups an adapter file's tensors by module and checks every shape: A is rank × in, B is out × rank,
/// rho matches A, a LoRA-XS core is rank × rank, and in/out equal the base layer's when it is known.
struct AdapterAssembler {
    let file: SafeTensorsFile
    let config: AdapterConfig
    let base: BaseShapeIndex?

    private struct Parts {
        var a: SafeTensorInfo?
        var b: SafeTensorInfo?
        var rho: SafeTensorInfo?
        var core: SafeTensorInfo?
    }

    func assemble(directory: String) throws -> LoRAAdapter {
        var modules: [String: Parts] = [:]
        var saved: [SavedParameter] = []
        for info in file.tensors {
            guard let key = AdapterKey.parse(info.name) else {
                throw LoadError(
                    .unknownKey, file: file.path, item: info.name,
                    "not a LoRA part bayeval knows (lora_A/B.weight, lora_A_rho, lora_latent_mapping, "
                        + "or a saved weight/bias)"
                )
            }
            guard info.dtype.isFloatingPoint else {
                throw LoadError(
                    .unsupportedDType, file: file.path, item: info.name,
                    "adapter tensors must be floating point, found \(info.dtype.rawValue)")
            }
            switch key.role {
            case .loraA: modules[key.module, default: Parts()].a = info
            case .loraB: modules[key.module, default: Parts()].b = info
            case .loraARho: modules[key.module, default: Parts()].rho = info
            case .latentCore: modules[key.module, default: Parts()].core = info
            case .fullParameter(let p):
                saved.append(try savedParameter(key: key, parameter: p, info: info))
            }
        }
        let layers = try modules.keys.sorted().map { try layer($0, modules[$0]!) }
        guard !layers.isEmpty || !saved.isEmpty else {
            throw LoadError(.missingKey, file: file.path, item: "", "the adapter holds no LoRA tensors")
        }
        return LoRAAdapter(
            directory: directory, config: config, layers: layers,
            savedParameters: saved.sorted { $0.name < $1.name }, metadata: file.metadata)
    }

    private func savedParameter(key: AdapterKey, parameter: String, info: SafeTensorInfo) throws -> SavedParameter {
        let name = key.module + "." + parameter
        var baseName: String? = nil
        if let base {
            if let (n, shape) = base.resolve(name) {
                guard shape == info.shape else {
                    throw LoadError(
                        .shapeMismatch, file: file.path, item: info.name,
                        "saved shape \(info.shape) does not fit base parameter '\(n)' of shape \(shape)")
                }
                baseName = n
            } else if !config.isModuleToSave(key.module) {
                throw LoadError(
                    .unknownKey, file: file.path, item: info.name,
                    "no base parameter '\(name)' and '\(key.module)' is not in modules_to_save")
            }
        }
        return SavedParameter(name: name, baseName: baseName, shape: info.shape, values: try file.floats(info.name))
    }

    private func layer(_ module: String, _ p: Parts) throws -> LoRALayerWeights {
        guard let a = p.a else {
            throw LoadError(
                .missingKey, file: file.path, item: module + ".lora_A.weight",
                "lora_B without lora_A for module '\(module)'")
        }
        guard let b = p.b else {
            throw LoadError(
                .missingKey, file: file.path, item: module + ".lora_B.weight",
                "lora_A without lora_B for module '\(module)'")
        }
        guard a.shape.count == 2, b.shape.count == 2 else {
            throw LoadError(
                .shapeMismatch, file: file.path, item: a.name,
                "lora_A \(a.shape) and lora_B \(b.shape) must be matrices")
        }
        let (rank, alpha) = config.rankAndAlpha(for: module)
        let (inFeatures, outFeatures) = (a.shape[1], b.shape[0])
        guard a.shape[0] == b.shape[1] else {
            throw LoadError(
                .shapeMismatch, file: file.path, item: a.name,
                "lora_A \(a.shape) and lora_B \(b.shape) disagree on the rank (\(a.shape[0]) vs \(b.shape[1]))")
        }
        guard a.shape[0] == rank else {
            throw LoadError(
                .shapeMismatch, file: file.path, item: a.name,
                "lora_A \(a.shape) has rank \(a.shape[0]) but adapter_config.json says r = \(rank)")
        }
        if let rho = p.rho, rho.shape != a.shape {
            throw LoadError(
                .shapeMismatch, file: file.path, item: rho.name, "lora_A_rho \(rho.shape) must match lora_A \(a.shape)")
        }
        if let core = p.core, core.shape != [rank, rank] {
            throw LoadError(
                .shapeMismatch, file: file.path, item: core.name,
                "the LoRA-XS core \(core.shape) must be [\(rank), \(rank)]")
        }
        if !config.targets(module: module) {
            throw LoadError(
                .unknownKey, file: file.path, item: a.name, "module '\(module)' is not selected by target_modules")
        }
        var baseWeight: String? = nil
        if let base {
            guard let (name, shape) = base.resolve(module + ".weight") else {
                throw LoadError(
                    .unknownKey, file: file.path, item: a.name,
                    "no base module '\(module)' in the base model (it has no '\(module).weight')")
            }
            let expected = config.fanInFanOut ? [inFeatures, outFeatures] : [outFeatures, inFeatures]
            guard shape == expected else {
                throw LoadError(
                    .shapeMismatch, file: file.path, item: a.name,
                    "lora_A \(a.shape) × lora_B \(b.shape) give a \(expected) update "
                        + "but base weight '\(name)' is \(shape)"
                )
            }
            baseWeight = name
        }
        return LoRALayerWeights(
            module: module, baseWeight: baseWeight, rank: rank, inFeatures: inFeatures, outFeatures: outFeatures,
            scaling: config.scaling(rank: rank, alpha: alpha),
            a: try file.floats(a.name), b: try file.floats(b.name),
            aRho: try p.rho.map { try file.floats($0.name) }, core: try p.core.map { try file.floats($0.name) })
    }
}
