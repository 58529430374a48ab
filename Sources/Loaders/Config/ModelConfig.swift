import Foundation

/// A model's `config.json`, dispatched on `model_type` through one registry table.
public enum ModelConfig: Sendable, Equatable {
    case decoder(DecoderConfig)
    case encoder(EncoderConfig)

    public enum Family: Sendable { case decoder, encoder }

    /// `model_type` → family. Adding an architecture starts here.
    public static let registry: [String: Family] = [
        "llama": .decoder, "mistral": .decoder, "qwen2": .decoder,
        "bert": .encoder, "roberta": .encoder,
    ]

    public var modelType: String {
        switch self {
        case .decoder(let d): d.modelType
        case .encoder(let e): e.modelType
        }
    }

    public var parameterCount: Int {
        switch self {
        case .decoder(let d): d.parameterCount
        case .encoder(let e): e.parameterCount
        }
    }

    /// Reads `<directory>/config.json`.
    public static func load(directory: String) throws -> ModelConfig {
        let path = (directory as NSString).appendingPathComponent("config.json")
        guard FileManager.default.fileExists(atPath: path) else {
            throw LoadError(.missingKey, file: directory, item: "config.json", "the model directory has no config.json")
        }
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw LoadError(.io, file: path, item: "", "cannot read: \(error.localizedDescription)")
        }
        return try decode(data, file: path)
    }

    public static func decode(_ data: Data, file: String) throws -> ModelConfig {
        let root = try JSONValue.parse(data, file: file)
        guard root.object != nil else {
            throw LoadError(.invalidJSON, file: file, item: "", "config.json must be a JSON object")
        }
        guard let type = root["model_type"]?.string else {
            throw LoadError(.missingKey, file: file, item: "model_type", "config.json has no 'model_type'")
        }
        guard let family = registry[type] else {
            throw LoadError(
                .unsupported, file: file, item: "model_type",
                "model type '\(type)' is not supported (supported: \(registry.keys.sorted().joined(separator: ", ")))")
        }
        do {
            switch family {
            case .decoder:
                let c = try JSONDecoder().decode(DecoderConfig.self, from: data)
                try c.validate(file: file)
                return .decoder(c)
            case .encoder:
                let c = try JSONDecoder().decode(EncoderConfig.self, from: data)
                try c.validate(file: file)
                return .encoder(c)
            }
        } catch let e as LoadError {
            throw e
        } catch let e as DecodingError {
            let item: String
            switch e {
            case .keyNotFound(let k, let ctx): item = (ctx.codingPath + [k]).map(\.stringValue).joined(separator: ".")
            case .typeMismatch(_, let ctx), .valueNotFound(_, let ctx), .dataCorrupted(let ctx):
                item = ctx.codingPath.map(\.stringValue).joined(separator: ".")
            @unknown default: item = ""
            }
            throw LoadError(.invalidValue, file: file, item: item, JSONValue.describe(e))
        }
    }
}
