import Foundation

extension AdapterConfig {
    /// A plain LoRA configuration as `bayeval train` writes it.
    public init(
        rank: Int, alpha: Double, targets: [String], modulesToSave: [String] = [], taskType: String?,
        baseModel: String?, dropout: Double = 0
    ) {
        self.init(
            peftType: "LORA", rank: rank, alpha: alpha, useRSLoRA: false, targets: .names(targets),
            modulesToSave: modulesToSave, fanInFanOut: false, taskType: taskType, baseModelNameOrPath: baseModel,
            dropout: dropout, bias: "none", rankPattern: [:], alphaPattern: [:])
    }

    /// `adapter_config.json` as PEFT writes it (the keys `LoraConfig` reads; PEFT fills the others with
    /// its defaults), keys sorted so the file is byte-stable.
    public var peftJSON: String {
        let quote = SafeTensorsWriter.quote
        func number(_ d: Double) -> String { d == d.rounded() && abs(d) < 1e15 ? String(Int(d)) : String(d) }
        let targetValue: String
        switch targets {
        case .names(let n): targetValue = "[" + n.sorted().map(quote).joined(separator: ", ") + "]"
        case .pattern(let p): targetValue = quote(p)
        }
        var fields: [String: String] = [
            "alpha_pattern": "{"
                + alphaPattern.keys.sorted().map { quote($0) + ": " + number(alphaPattern[$0]!) }.joined(
                    separator: ", ") + "}",
            "base_model_name_or_path": baseModelNameOrPath.map(quote) ?? "null",
            "bias": quote(bias),
            "fan_in_fan_out": fanInFanOut ? "true" : "false",
            "inference_mode": "true",
            "init_lora_weights": "true",
            "lora_alpha": number(alpha),
            "lora_dropout": number(dropout),
            "modules_to_save": modulesToSave.isEmpty
                ? "null" : "[" + modulesToSave.map(quote).joined(separator: ", ") + "]",
            "peft_type": quote(peftType),
            "r": String(rank),
            "rank_pattern": "{"
                + rankPattern.keys.sorted().map { quote($0) + ": " + String(rankPattern[$0]!) }.joined(separator: ", ")
                + "}",
            "target_modules": targetValue,
            "task_type": taskType.map(quote) ?? "null",
            "use_dora": "false",
            "use_rslora": useRSLoRA ? "true" : "false",
        ]
        fields["revision"] = "null"
        return "{\n" + fields.keys.sorted().map { "  " + quote($0) + ": " + fields[$0]! }.joined(separator: ",\n")
            + "\n}\n"
    }
}

extension LoRAAdapter {
    /// An adapter held in memory (a fresh one for training, or one being written).
    public static func inMemory(
        config: AdapterConfig, layers: [LoRALayerWeights], savedParameters: [SavedParameter],
        directory: String = "(in memory)", metadata: [String: String] = [:]
    ) -> LoRAAdapter {
        LoRAAdapter(
            directory: directory, config: config, layers: layers, savedParameters: savedParameters, metadata: metadata)
    }
}

extension LoRALayerWeights {
    public init(
        module: String, rank: Int, inFeatures: Int, outFeatures: Int, scaling: Double, a: [Float], b: [Float],
        core: [Float]? = nil
    ) {
        self.init(
            module: module, baseWeight: nil, rank: rank, inFeatures: inFeatures, outFeatures: outFeatures,
            scaling: scaling, a: a, b: b, aRho: nil, core: core)
    }
}

extension SavedParameter {
    public init(name: String, shape: [Int], values: [Float]) {
        self.init(name: name, baseName: nil, shape: shape, values: values)
    }
}

/// Writes a PEFT adapter directory: `adapter_config.json` and `adapter_model.safetensors` with the keys
/// PEFT saves (`base_model.model.<module>.lora_A.weight`, …). Both files are written to temporary names
/// and renamed, so an interrupted save leaves the previous checkpoint intact.
public enum AdapterWriter {
    public static func write(
        config: AdapterConfig, tensors: [(key: String, shape: [Int], values: [Float])],
        metadata: [String: String] = [:], to directory: String
    ) throws {
        let fm = FileManager.default
        do { try fm.createDirectory(atPath: directory, withIntermediateDirectories: true) } catch {
            throw WriteError(
                file: directory, item: "", "cannot create the adapter directory: \(error.localizedDescription)")
        }
        var w = SafeTensorsWriter(metadata: metadata.merging(["format": "pt"]) { a, _ in a })
        for t in tensors { try w.add(t.key, floats: t.values, shape: t.shape) }
        try w.write(to: (directory as NSString).appendingPathComponent("adapter_model.safetensors"))
        let path = (directory as NSString).appendingPathComponent("adapter_config.json")
        try AtomicFile.write(config.peftJSON, to: path)
    }
}
