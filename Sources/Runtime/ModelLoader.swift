import Foundation
import Loaders

/// Opens a decoder from a GGUF file or a Hugging Face directory, converting weights to Float32 once.
/// Source tensors are released as they are converted, so peak memory stays near one copy of the weights.
public enum ModelLoader {
    public struct LoadedDecoder {
        public let model: LlamaModel
        /// Hugging Face parameter names → shapes, for checking that an adapter fits this base model.
        public let parameterShapes: [String: [Int]]
        public let source: String
    }

    public static func isGGUF(_ path: String) -> Bool {
        guard let f = try? MappedFile(path: path), f.count >= 4 else { return false }
        return f.bytes.loadUnaligned(as: UInt32.self) == UInt32(littleEndian: 0x4655_4747)
    }

    public static func loadDecoder(path: String, backend: any ComputeBackend) throws -> LoadedDecoder {
        if isGGUF(path) { return try loadGGUF(path: path, backend: backend) }
        let config = try ModelConfig.load(directory: path)
        guard case .decoder(let c) = config else {
            throw LoadError(
                .unsupported, file: path, item: "model_type",
                "'\(config.modelType)' is an encoder; multiple-choice prompting needs a decoder (llama, mistral, qwen2)"
            )
        }
        let ckpt = try SafeTensorsCheckpoint(directory: path)
        var shapes: [String: [Int]] = [:]
        for n in ckpt.names { shapes[n] = ckpt.info(n)?.shape }
        if c.tieWordEmbeddings, shapes["lm_head.weight"] == nil {
            shapes["lm_head.weight"] = shapes["model.embed_tokens.weight"]
        }
        let model = try LlamaModel(config: c, backend: backend, source: path) { name in
            guard let info = ckpt.info(name) else { return nil }
            return Tensor(shape: info.shape, values: try ckpt.floats(name))
        }
        return LoadedDecoder(model: model, parameterShapes: shapes, source: path)
    }

    static func loadGGUF(path: String, backend: any ComputeBackend) throws -> LoadedDecoder {
        let file = try GGUFFile(path: path, populate: true)
        guard file.architecture == "llama" else {
            throw LoadError(
                .unsupported, file: path, item: "general.architecture",
                "GGUF architecture '\(file.architecture ?? "none")' is not supported (supported: llama)")
        }
        var (hp, tensors) = try file.llamaTensors()
        let config = DecoderConfig(
            modelType: "llama", vocabularySize: hp.vocabSize, hiddenSize: hp.embeddingLength,
            intermediateSize: hp.feedForwardLength, layerCount: hp.blockCount, headCount: hp.headCount,
            keyValueHeadCount: hp.headCountKV, headDimension: hp.headDim,
            rmsNormEpsilon: Double(hp.rmsNormEpsilon), rope: hp.rope,
            maxPositions: hp.contextLength, tieWordEmbeddings: hp.tiedEmbeddings)
        var shapes = tensors.mapValues(\.shape)
        if hp.tiedEmbeddings { shapes["lm_head.weight"] = shapes["model.embed_tokens.weight"] }
        let model = try LlamaModel(config: config, backend: backend, source: path) { name in
            guard let t = tensors.removeValue(forKey: name) else { return nil }
            return Tensor(shape: t.shape, values: t.values)
        }
        return LoadedDecoder(model: model, parameterShapes: shapes, source: path)
    }
}
