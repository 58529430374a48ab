import Foundation

/// `adapter_config.json` of a PEFT LoRA adapter, with explicit keys. Unknown keys are ignored (PEFT adds
/// new ones every release); the ones bayeval's numerics depend on are validated.
public struct AdapterConfig: Sendable, Equatable {
    /// `target_modules` is either a list of module-name suffixes or one regular expression that must
    /// match the whole module name (PEFT's two conventions).
    public enum Targets: Sendable, Equatable {
        case names([String])
        case pattern(String)
    }

    public var peftType: String
    public var rank: Int
    public var alpha: Double
    public var useRSLoRA: Bool
    public var targets: Targets
    public var modulesToSave: [String]
    public var fanInFanOut: Bool
    public var taskType: String?
    public var baseModelNameOrPath: String?
    public var dropout: Double
    public var bias: String
    /// Per-module overrides of r / alpha, keyed by a module-name pattern.
    public var rankPattern: [String: Int]
    public var alphaPattern: [String: Double]

    /// The LoRA update is `scaling · B A` with scaling alpha/r, or alpha/√r with rsLoRA.
    public func scaling(rank r: Int, alpha a: Double) -> Double {
        useRSLoRA ? a / Double(r).squareRoot() : a / Double(r)
    }

    /// Rank and alpha for one module: the first matching pattern entry wins, else the global values.
    public func rankAndAlpha(for module: String) -> (rank: Int, alpha: Double) {
        let r = rankPattern.first { Self.patternMatches($0.key, module) }?.value ?? rank
        let a = alphaPattern.first { Self.patternMatches($0.key, module) }?.value ?? alpha
        return (r, a)
    }

    /// PEFT selects a module by a name in the list when the module name equals it or ends in ".name";
    /// a string is a regular expression matched against the whole module name.
    public func targets(module: String) -> Bool {
        switch targets {
        case .names(let names):
            return names.contains { module == $0 || module.hasSuffix("." + $0) }
        case .pattern(let p):
            return Self.fullMatch(p, module)
        }
    }

    public func isModuleToSave(_ module: String) -> Bool {
        modulesToSave.contains {
            module == $0 || module.hasSuffix("." + $0) || module.hasPrefix($0 + ".")
                || module.contains("." + $0 + ".")
        }
    }

    static func patternMatches(_ key: String, _ module: String) -> Bool {
        module == key || module.hasSuffix("." + key) || fullMatch(".*\\." + key, module)
    }

    static func fullMatch(_ pattern: String, _ s: String) -> Bool {
        guard let re = try? NSRegularExpression(pattern: "^(?:" + pattern + ")$") else { return false }
        return re.firstMatch(in: s, range: NSRange(s.startIndex..., in: s)) != nil
    }

    public static func load(path: String) throws -> AdapterConfig {
        let root = try JSONValue.parse(file: path)
        return try decode(root, file: path)
    }

    static func decode(_ root: JSONValue, file: String) throws -> AdapterConfig {
        guard root.object != nil else {
            throw LoadError(.invalidJSON, file: file, item: "", "adapter_config.json must be a JSON object")
        }
        func bad(_ key: String, _ msg: String) -> LoadError { LoadError(.invalidValue, file: file, item: key, msg) }
        let type = root["peft_type"]?.string ?? "LORA"
        guard type == "LORA" else {
            throw LoadError(
                .unsupported, file: file, item: "peft_type", "'\(type)' adapters are not supported (only LORA)")
        }
        guard let r = root["r"]?.int else { throw LoadError(.missingKey, file: file, item: "r", "no integer rank 'r'") }
        guard r > 0 else { throw bad("r", "rank must be positive, is \(r)") }
        let alpha = root["lora_alpha"]?.double ?? 8
        guard alpha.isFinite else { throw bad("lora_alpha", "must be a finite number") }
        let targets: Targets
        switch root["target_modules"] {
        case .string(let s)?:
            guard (try? NSRegularExpression(pattern: s)) != nil else {
                throw bad("target_modules", "'\(s)' is not a valid regular expression")
            }
            targets = .pattern(s)
        case .array(let a)?:
            let names = a.compactMap(\.string)
            guard names.count == a.count, !names.isEmpty else {
                throw bad("target_modules", "must be a non-empty list of names or a regex string")
            }
            targets = .names(names)
        default:
            throw LoadError(.missingKey, file: file, item: "target_modules", "no 'target_modules' list or regex")
        }
        var modules: [String] = []
        if let m = root["modules_to_save"], !m.isNull {
            guard let a = m.array, a.allSatisfy({ $0.string != nil }) else {
                throw bad("modules_to_save", "must be a list of names")
            }
            modules = a.compactMap(\.string)
        }
        var rankPattern: [String: Int] = [:]
        for (k, v) in root["rank_pattern"]?.object ?? [:] {
            guard let i = v.int, i > 0 else { throw bad("rank_pattern.\(k)", "must be a positive integer") }
            rankPattern[k] = i
        }
        var alphaPattern: [String: Double] = [:]
        for (k, v) in root["alpha_pattern"]?.object ?? [:] {
            guard let d = v.double else { throw bad("alpha_pattern.\(k)", "must be a number") }
            alphaPattern[k] = d
        }
        return AdapterConfig(
            peftType: type, rank: r, alpha: alpha, useRSLoRA: root["use_rslora"]?.bool ?? false,
            targets: targets, modulesToSave: modules, fanInFanOut: root["fan_in_fan_out"]?.bool ?? false,
            taskType: root["task_type"]?.string, baseModelNameOrPath: root["base_model_name_or_path"]?.string,
            dropout: root["lora_dropout"]?.double ?? 0, bias: root["bias"]?.string ?? "none",
            rankPattern: rankPattern, alphaPattern: alphaPattern)
    }
}
