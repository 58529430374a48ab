import Foundation

/// Builds an `Inspection` for a safetensors file, a GGUF file, a model directory or an adapter directory.
public enum Inspector {
    public static func inspect(path: String) throws -> Inspection {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw LoadError(.io, file: path, item: "", "no such file or directory")
        }
        if isDirectory.boolValue {
            let has = { FileManager.default.fileExists(atPath: (path as NSString).appendingPathComponent($0)) }
            if has("adapter_config.json") { return try adapterDirectory(path) }
            if has("config.json") { return try modelDirectory(path) }
            throw LoadError(
                .unsupported, file: path, item: "",
                "a directory must hold config.json (a model) or adapter_config.json (a PEFT adapter)")
        }
        if try isGGUF(path) { return try GGUFInspector.inspect(path: path) }
        return try safetensorsFile(path)
    }

    static func isGGUF(_ path: String) throws -> Bool {
        let f = try MappedFile(path: path)
        return f.count >= 4 && f.bytes.loadUnaligned(as: UInt32.self) == UInt32(littleEndian: 0x4655_4747)
    }

    static func countDTypes(_ tensors: [SafeTensorInfo], into out: inout [String: Int]) {
        for t in tensors { out[t.dtype.rawValue, default: 0] += 1 }
    }

    static func safetensorsFile(_ path: String) throws -> Inspection {
        let f = try SafeTensorsFile(path: path)
        var r = Inspection(path: path, kind: .safetensors)
        r.tensorCount = f.tensors.count
        r.parameterCount = f.tensors.reduce(0) { $0 + $1.elementCount }
        r.metadata = f.metadata
        countDTypes(f.tensors, into: &r.dtypes)
        return r
    }

    static func modelDirectory(_ path: String) throws -> Inspection {
        let config = try ModelConfig.load(directory: path)
        var r = Inspection(path: path, kind: .modelDirectory)
        r.architecture = config.modelType
        r.dimensions = .init(config)
        r.parameterCount = config.parameterCount
        if let ckpt = try? SafeTensorsCheckpoint(directory: path) {
            let infos = ckpt.names.compactMap { ckpt.info($0) }
            r.tensorCount = infos.count
            // The stored count is the truth when weights are present (buffers like position_ids excluded).
            r.parameterCount = infos.filter { $0.dtype.isFloatingPoint }.reduce(0) { $0 + $1.elementCount }
            countDTypes(infos, into: &r.dtypes)
        }
        let tok = (path as NSString).appendingPathComponent("tokenizer.json")
        if FileManager.default.fileExists(atPath: tok) { r.tokenizer = "tokenizer.json" }
        return r
    }

    static func adapterDirectory(_ path: String) throws -> Inspection {
        // Shapes are checked against the base model when its directory is at hand.
        let config = try AdapterConfig.load(path: (path as NSString).appendingPathComponent("adapter_config.json"))
        var baseShapes: [String: [Int]]? = nil
        if let base = config.baseModelNameOrPath, let ckpt = try? SafeTensorsCheckpoint(directory: base) {
            baseShapes = Dictionary(
                uniqueKeysWithValues: ckpt.names.compactMap { n in ckpt.info(n).map { (n, $0.shape) } })
        }
        let a = try LoRAAdapter.load(directory: path, baseShapes: baseShapes)
        var r = Inspection(path: path, kind: .adapterDirectory)
        r.metadata = a.metadata
        let file = try SafeTensorsFile(path: (path as NSString).appendingPathComponent("adapter_model.safetensors"))
        r.tensorCount = file.tensors.count
        r.parameterCount = file.tensors.reduce(0) { $0 + $1.elementCount }
        countDTypes(file.tensors, into: &r.dtypes)
        var names: [String] = []
        var pattern: String? = nil
        switch a.config.targets {
        case .names(let n): names = n.sorted()
        case .pattern(let p): pattern = p
        }
        r.adapter = .init(
            kind: a.kind.rawValue, peftType: a.config.peftType, taskType: a.config.taskType, rank: a.config.rank,
            alpha: a.config.alpha, scaling: a.config.scaling(rank: a.config.rank, alpha: a.config.alpha),
            rsLoRA: a.config.useRSLoRA, targetModules: names, targetPattern: pattern,
            modulesToSave: a.config.modulesToSave, adaptedLayers: a.layers.map(\.module),
            savedParameters: a.savedParameters.map(\.name), trainableParameters: a.trainableParameterCount,
            hasBLoBRho: a.kind == .blob, hasLoRAXSCores: a.kind == .loraXS,
            baseModel: a.config.baseModelNameOrPath)
        return r
    }
}
