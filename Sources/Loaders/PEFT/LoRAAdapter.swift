import Foundation

/// The weights of one adapted linear layer, in PEFT's layout.
public struct LoRALayerWeights: Sendable, Equatable {
    /// Module path as the adapter names it (`model.layers.0.self_attn.q_proj`).
    public let module: String
    /// The base checkpoint's weight this layer adapts (prefixes can differ: `bert.encoder…` vs `encoder…`);
    /// nil when no base shapes were given.
    public let baseWeight: String?
    public let rank: Int
    public let inFeatures: Int
    public let outFeatures: Int
    public let scaling: Double
    public var a: [Float]  // rank × in
    public var b: [Float]  // out × rank
    public var aRho: [Float]?  // rank × in, BLoB
    public var core: [Float]?  // rank × rank, LoRA-XS
}

extension LoRALayerWeights {
    /// The A the layer's update multiplies: R·A₀ for a LoRA-XS core R between the fixed A₀ and B, else A.
    public var effectiveA: [Float] {
        guard let core else { return a }
        var out = [Float](repeating: 0, count: rank * inFeatures)
        core.withUnsafeBufferPointer { r in
            a.withUnsafeBufferPointer { a0 in
                out.withUnsafeMutableBufferPointer { o in
                    LoRAXS.fold(
                        core: r.baseAddress!, fixedA: a0.baseAddress!, rank: rank, inFeatures: inFeatures,
                        into: o.baseAddress!)
                }
            }
        }
        return out
    }
}

/// LoRA-XS: ΔW = s·B·R·A₀ with only the r × r core R trained. The runtime folds R into A₀ once, so every
/// product with the layer costs what plain LoRA's does; one routine so the fold is the same everywhere.
public enum LoRAXS {
    /// out (rank × in) = R (rank × rank) · A₀ (rank × in), accumulated in Float row by row.
    public static func fold(
        core: UnsafePointer<Float>, fixedA: UnsafePointer<Float>, rank: Int, inFeatures: Int,
        into out: UnsafeMutablePointer<Float>
    ) {
        for i in 0..<rank {
            let row = out + i * inFeatures
            row.update(repeating: 0, count: inFeatures)
            for k in 0..<rank {
                let c = core[i * rank + k], a = fixedA + k * inFeatures
                for j in 0..<inFeatures { row[j] += c * a[j] }
            }
        }
    }
}

/// A saved whole parameter: a `modules_to_save` head or a base layer PEFT stored with the adapter.
public struct SavedParameter: Sendable, Equatable {
    public let name: String
    public let baseName: String?
    public let shape: [Int]
    public let values: [Float]
}

/// A PEFT LoRA adapter directory: `adapter_config.json` + `adapter_model.safetensors`, every key mapped
/// to its base module and every shape checked, against the base model's shapes when they are given.
public struct LoRAAdapter: Sendable {
    public enum Kind: String, Sendable { case lora = "LoRA", blob = "BLoB", loraXS = "LoRA-XS" }

    public let directory: String
    public let config: AdapterConfig
    public let layers: [LoRALayerWeights]
    public let savedParameters: [SavedParameter]
    public let metadata: [String: String]

    public var kind: Kind {
        if layers.contains(where: { $0.core != nil }) { return .loraXS }
        if layers.contains(where: { $0.aRho != nil }) { return .blob }
        return .lora
    }

    public var trainableParameterCount: Int {
        layers.reduce(0) { acc, l in
            acc + (l.core != nil ? l.rank * l.rank : l.a.count + l.b.count)
        }
            + savedParameters.filter { $0.baseName == nil || config.isModuleToSave($0.name) }.reduce(0) {
                $0 + $1.values.count
            }
    }

    public func layer(_ module: String) -> LoRALayerWeights? { layers.first { $0.module == module } }

    /// `baseShapes`: the base model's parameter names → row-major shapes (from a checkpoint or GGUF).
    public static func load(directory: String, baseShapes: [String: [Int]]? = nil) throws -> LoRAAdapter {
        let fm = FileManager.default
        let configPath = (directory as NSString).appendingPathComponent("adapter_config.json")
        let weightsPath = (directory as NSString).appendingPathComponent("adapter_model.safetensors")
        guard fm.fileExists(atPath: configPath) else {
            throw LoadError(
                .missingKey, file: directory, item: "adapter_config.json",
                "not a PEFT adapter directory: no adapter_config.json")
        }
        let config = try AdapterConfig.load(path: configPath)
        guard fm.fileExists(atPath: weightsPath) else {
            let bin = (directory as NSString).appendingPathComponent("adapter_model.bin")
            if fm.fileExists(atPath: bin) {
                throw LoadError(
                    .unsupported, file: bin, item: "adapter_model.bin",
                    "pickled adapters are not read (they can run code); convert it once with Python: "
                        + "`from safetensors.torch import save_file; import torch; "
                        + "save_file(torch.load('adapter_model.bin'), 'adapter_model.safetensors')`")
            }
            throw LoadError(
                .missingKey, file: directory, item: "adapter_model.safetensors", "the adapter has no weights file")
        }
        let file = try SafeTensorsFile(path: weightsPath)
        let base = baseShapes.map(BaseShapeIndex.init)
        return try AdapterAssembler(file: file, config: config, base: base).assemble(directory: directory)
    }
}

/// Finds a module's weight among the base model's names, tolerating the prefixes that differ between a
/// task model and its backbone checkpoint (`bert.`, `roberta.`, `model.`).
struct BaseShapeIndex {
    let shapes: [String: [Int]]
    static let prefixes = ["bert.", "roberta.", "model.", "transformer."]

    func resolve(_ parameter: String) -> (name: String, shape: [Int])? {
        if let s = shapes[parameter] { return (parameter, s) }
        for p in Self.prefixes {
            if parameter.hasPrefix(p), let s = shapes[String(parameter.dropFirst(p.count))] {
                return (String(parameter.dropFirst(p.count)), s)
            }
            if let s = shapes[p + parameter] { return (p + parameter, s) }
        }
        return nil
    }
}
