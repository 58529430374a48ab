import ArgumentParser
import Loaders

struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Describe a safetensors file, a GGUF file, a model directory or a PEFT adapter directory.",
        discussion: """
            Reports the architecture, dimensions, stored dtypes and parameter count; for adapters the targets, \
            rank, alpha, scaling and whether BLoB (lora_A_rho) or LoRA-XS (core) tensors are present. Every \
            header is validated: a broken file is reported with the item at fault and a non-zero exit.
            """)

    @Argument(help: "A .safetensors or .gguf file, a model directory (config.json) or an adapter directory.")
    var path: String

    @OptionGroup var output: OutputOptions

    func run() throws {
        let r = try Inspector.inspect(path: path)
        if output.json {
            print(try Rendering.json(r))
            return
        }
        var rows: [(String, String)] = [("path", r.path), ("kind", r.kind.rawValue)]
        if let a = r.architecture { rows.append(("architecture", a)) }
        if let p = r.parameterCount { rows.append(("parameters", Rendering.count(p))) }
        if let t = r.tensorCount { rows.append(("tensors", Rendering.count(t))) }
        if !r.dtypes.isEmpty {
            let dtypes = r.dtypes.sorted { $0.key < $1.key }.map { "\($0.key) ×\($0.value)" }
            rows.append(("dtypes", dtypes.joined(separator: ", ")))
        }
        if let d = r.dimensions {
            let dims: [(String, Int?)] = [
                ("hidden", d.hiddenSize), ("layers", d.layers), ("heads", d.attentionHeads),
                ("kv heads", d.keyValueHeads), ("head dim", d.headDimension),
                ("intermediate", d.intermediateSize), ("vocabulary", d.vocabularySize),
                ("context", d.contextLength),
            ]
            rows.append(("dimensions", dims.compactMap { k, v in v.map { "\(k) \($0)" } }.joined(separator: ", ")))
            if let t = d.ropeTheta {
                rows.append(("rope", "theta \(t)" + (d.ropeScaling.map { ", scaling \($0)" } ?? "")))
            }
            if let tied = d.tiedEmbeddings { rows.append(("tied embeddings", tied ? "yes" : "no")) }
            if let labels = d.labels { rows.append(("labels", labels.joined(separator: ", "))) }
        }
        if let tok = r.tokenizer { rows.append(("tokenizer", tok)) }
        if let a = r.adapter {
            rows.append(("adapter", "\(a.kind) (\(a.peftType)\(a.taskType.map { ", \($0)" } ?? ""))"))
            rows.append(
                ("rank / alpha", "r \(a.rank), alpha \(a.alpha), scaling \(a.scaling)\(a.rsLoRA ? " (rsLoRA)" : "")"))
            rows.append(("targets", a.targetPattern.map { "regex \($0)" } ?? a.targetModules.joined(separator: ", ")))
            if !a.modulesToSave.isEmpty { rows.append(("modules to save", a.modulesToSave.joined(separator: ", "))) }
            rows.append(("adapted layers", "\(a.adaptedLayers.count)"))
            if !a.savedParameters.isEmpty {
                rows.append(("saved parameters", a.savedParameters.joined(separator: ", ")))
            }
            rows.append(("trainable", Rendering.count(a.trainableParameters)))
            rows.append(("BLoB lora_A_rho", a.hasBLoBRho ? "yes" : "no"))
            rows.append(("LoRA-XS cores", a.hasLoRAXSCores ? "yes" : "no"))
            if let b = a.baseModel { rows.append(("base model", b)) }
        }
        let shownMetadata = r.metadata.keys.sorted().filter { r.kind != .gguf || $0.hasPrefix("general.") }
        for k in shownMetadata.prefix(20) { rows.append(("meta " + k, String(r.metadata[k]!.prefix(100)))) }
        print(Rendering.block(rows))
    }
}
