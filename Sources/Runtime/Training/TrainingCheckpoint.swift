import Foundation
import Loaders

/// A training checkpoint in the output directory: the adapter as PEFT saves it (`adapter_config.json`,
/// `adapter_model.safetensors`, loadable by `PeftModel.from_pretrained` and by every bayeval command)
/// and `optimizer.safetensors` (AdamW's moments, the update count and the run's settings in its
/// metadata), enough for `--resume` to continue exactly where the run stopped.
public enum TrainingCheckpoint {
    public static let optimizerFile = "optimizer.safetensors"

    /// The adapter's tensors as saved: trained values of every parameter, plus whatever the adapter holds
    /// that does not train (a LoRA-XS layer's fixed A and B, unless they train too).
    public static func tensors(
        _ adapter: LoRAAdapter, _ parameters: AdapterParameters
    ) -> [(key: String, shape: [Int], values: [Float])] {
        var out = parameters.parameters.map { (key: $0.key, shape: $0.value.shape, values: $0.value.values) }
        let root = "base_model.model.", trained = Set(out.map(\.key))
        for l in adapter.layers where l.core != nil && !trained.contains(root + l.module + ".lora_A.weight") {
            out.append((root + l.module + ".lora_A.weight", [l.rank, l.inFeatures], l.a))
            out.append((root + l.module + ".lora_B.weight", [l.outFeatures, l.rank], l.b))
        }
        return out
    }

    public static func save(
        adapter: LoRAAdapter, parameters: AdapterParameters, optimizer: AdamW,
        settings: [String: String], to directory: String
    ) throws {
        for p in parameters.parameters where !p.value.values.allSatisfy(\.isFinite) {
            throw WriteError(
                file: directory, item: p.key, "refusing to save a checkpoint with NaN or infinite values"
            )
        }
        var metadata = settings
        metadata["bayeval_train_step"] = String(optimizer.steps)
        try AdapterWriter.write(
            config: adapter.config, tensors: tensors(adapter, parameters), metadata: metadata, to: directory)
        let (moments, steps) = optimizer.state(parameters)
        var w = SafeTensorsWriter(metadata: settings.merging(["step": String(steps)]) { $1 })
        for m in moments { try w.add(m.key, floats: m.values, shape: m.shape) }
        try w.write(to: (directory as NSString).appendingPathComponent(optimizerFile))
    }

    /// The optimizer state's update count and settings (to compare with the resuming run's).
    public static func readState(
        directory: String
    ) throws -> (file: SafeTensorsFile, path: String, steps: Int, settings: [String: String]) {
        let path = (directory as NSString).appendingPathComponent(optimizerFile)
        guard FileManager.default.fileExists(atPath: path) else {
            throw LoadError(
                .missingKey, file: directory, item: optimizerFile,
                "no optimizer state to resume from (was this directory written by `bayeval train`?)")
        }
        let file = try SafeTensorsFile(path: path)
        guard let s = file.metadata["step"], let steps = Int(s), steps >= 0 else {
            throw LoadError(
                .invalidValue, file: path, item: "step", "the optimizer state does not record its update count")
        }
        return (file, path, steps, file.metadata)
    }
}
