import Foundation
import Loaders

extension ModelLoader {
    public struct LoadedEncoder {
        public let model: BertModel
        /// Hugging Face parameter names → shapes, for checking that an adapter fits this base model.
        public let parameterShapes: [String: [Int]]
        public let source: String
    }

    /// Opens a BERT or RoBERTa encoder from a Hugging Face directory (config.json + safetensors), converting
    /// weights to Float32 once. Whether it can classify is `model.hasClassificationHead`: a bare backbone
    /// loads, and the caller decides whether an adapter supplies the head.
    public static func loadEncoder(path: String, backend: any ComputeBackend) throws -> LoadedEncoder {
        if isGGUF(path) {
            throw LoadError(
                .unsupported, file: path, item: "format",
                "encoders are read from a Hugging Face directory (config.json + model.safetensors), not GGUF")
        }
        let config = try ModelConfig.load(directory: path)
        guard case .encoder(let c) = config else {
            throw LoadError(
                .unsupported, file: path, item: "model_type",
                "'\(config.modelType)' is a decoder; sequence classification needs an encoder (bert, roberta)")
        }
        let ckpt = try SafeTensorsCheckpoint(directory: path)
        var shapes: [String: [Int]] = [:]
        for n in ckpt.names { shapes[n] = ckpt.info(n)?.shape }
        let model = try BertModel(config: c, backend: backend, source: path) { name in
            guard let info = ckpt.info(name) else { return nil }
            return Tensor(shape: info.shape, values: try ckpt.floats(name))
        }
        return LoadedEncoder(model: model, parameterShapes: shapes, source: path)
    }
}
