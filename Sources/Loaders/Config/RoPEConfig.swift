/// Rotary position embedding settings, read from either the classic `rope_theta` + `rope_scaling` keys or
/// transformers 5's `rope_parameters` object (which carries `rope_theta` inside it).
public struct RoPEConfig: Sendable, Equatable {
    public enum Scaling: Sendable, Equatable {
        case none
        /// Positions divided by `factor`.
        case linear(factor: Double)
        /// LLaMA-3.1's frequency-dependent rescaling.
        case llama3(
            factor: Double, lowFrequencyFactor: Double, highFrequencyFactor: Double,
            originalMaxPositions: Int)
        /// Inverse frequency i divided by `divisors[i]` (one per rotary pair): llama.cpp's `rope_freqs.weight`,
        /// which is how GGUF files carry llama3 scaling, with any linear factor folded in.
        case frequencyDivisors([Double])
    }

    public var theta: Double
    public var scaling: Scaling

    public init(theta: Double, scaling: Scaling = .none) {
        self.theta = theta
        self.scaling = scaling
    }

    /// Reads the settings from the decoder's keyed container; `defaultTheta` when the file names none.
    static func decode<K: CodingKey>(
        from c: KeyedDecodingContainer<K>, thetaKey: K, scalingKey: K,
        parametersKey: K, defaultTheta: Double
    ) throws -> RoPEConfig {
        let parameters = try c.decodeIfPresent([String: JSONValue].self, forKey: parametersKey)
        let scaling = try c.decodeIfPresent([String: JSONValue].self, forKey: scalingKey)
        var theta = try c.decodeIfPresent(Double.self, forKey: thetaKey) ?? defaultTheta
        if let t = parameters?["rope_theta"]?.double { theta = t }
        // In the newer form the scaling keys sit in rope_parameters next to rope_theta.
        let table = scaling ?? parameters ?? [:]
        let kind = table["rope_type"]?.string ?? table["type"]?.string ?? "default"
        func number(_ key: String) throws -> Double {
            guard let v = table[key]?.double else {
                throw DecodingError.keyNotFound(
                    AnyKey(key),
                    .init(
                        codingPath: c.codingPath + [scalingKey],
                        debugDescription: "rope scaling '\(kind)' needs '\(key)'"))
            }
            return v
        }
        switch kind {
        case "default":
            return RoPEConfig(theta: theta)
        case "linear":
            return RoPEConfig(theta: theta, scaling: .linear(factor: try number("factor")))
        case "llama3":
            return RoPEConfig(
                theta: theta,
                scaling: .llama3(
                    factor: try number("factor"), lowFrequencyFactor: try number("low_freq_factor"),
                    highFrequencyFactor: try number("high_freq_factor"),
                    originalMaxPositions: Int(try number("original_max_position_embeddings"))))
        default:
            throw DecodingError.dataCorrupted(
                .init(
                    codingPath: c.codingPath + [scalingKey],
                    debugDescription:
                        "rope scaling type '\(kind)' is not supported (supported: default, linear, llama3)"))
        }
    }
}

/// A coding key made from a string, for error paths that name a key inside a free-form object.
struct AnyKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(_ s: String) { stringValue = s }
    init?(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}
