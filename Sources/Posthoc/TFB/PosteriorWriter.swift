import Foundation
import Loaders

/// Saves a TFB posterior as a PEFT adapter directory in BLoB's convention: lora_A = A', lora_B = B', and
/// lora_A_rho with σ_A = rho² per element (σ/dᵢ on row i), so bayesian-peft and `bayeval evaluate
/// --samples N` read it as a BLoB checkpoint. σ and the search record go into the safetensors metadata.
public enum PosteriorWriter {
    /// The metadata key of a posterior whose samples are bayesian-peft's Flipout noise (`tfb --upstream`):
    /// its value is the number of examples that share one draw of E.
    public static let flipoutKey = "bayeval_flipout_examples_per_call"

    public static func write(
        _ posterior: TFBPosterior, adapter: LoRAAdapter, to directory: String,
        metadata: [String: String]
    ) throws {
        let fm = FileManager.default
        do { try fm.createDirectory(atPath: directory, withIntermediateDirectories: true) } catch {
            throw WriteError(
                file: directory, item: "", "cannot create the posterior directory: \(error.localizedDescription)")
        }
        var w = SafeTensorsWriter(
            metadata: metadata.merging([
                "format": "pt", "bayeval_posterior": "tfb",
                "tfb_sigma": String(posterior.sigma),
            ]) { $1 })
        for l in posterior.layers {
            let key = "base_model.model." + l.module
            let std = l.standardDeviations(sigma: posterior.sigma)
            let rho = (0..<(l.rank * l.inFeatures)).map { std[$0 / l.inFeatures].squareRoot() }
            try w.add(key + ".lora_A.weight", floats: l.a, shape: [l.rank, l.inFeatures])
            try w.add(key + ".lora_B.weight", floats: l.b, shape: [l.outFeatures, l.rank])
            try w.add(key + ".lora_A_rho", floats: rho, shape: [l.rank, l.inFeatures])
        }
        for p in adapter.savedParameters {
            try w.add("base_model.model." + p.name, floats: p.values, shape: p.shape)
        }
        try w.write(to: (directory as NSString).appendingPathComponent("adapter_model.safetensors"))
        let source = (adapter.directory as NSString).appendingPathComponent("adapter_config.json")
        let target = (directory as NSString).appendingPathComponent("adapter_config.json")
        do {
            if fm.fileExists(atPath: target) { try fm.removeItem(atPath: target) }
            try fm.copyItem(atPath: source, toPath: target)
        } catch {
            throw WriteError(
                file: target, item: "", "cannot write adapter_config.json: \(error.localizedDescription)")
        }
    }
}
