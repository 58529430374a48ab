/// The GGUF part of `inspect`: architecture and dimensions from the metadata, tensor types, tokenizer.
enum GGUFInspector {
    static func inspect(path: String) throws -> Inspection {
        let g = try GGUFFile(path: path)
        var r = Inspection(path: path, kind: .gguf)
        r.architecture = g.architecture
        r.tensorCount = g.tensors.count
        r.parameterCount = g.tensors.reduce(0) { $0 + $1.elementCount }
        for t in g.tensors { r.dtypes[t.type.name, default: 0] += 1 }
        if g.architecture == "llama" {
            let hp = try g.llamaHyperParameters()
            r.dimensions = .init(
                hiddenSize: hp.embeddingLength, layers: hp.blockCount, attentionHeads: hp.headCount,
                keyValueHeads: hp.headCountKV, headDimension: hp.headDim,
                intermediateSize: hp.feedForwardLength, vocabularySize: hp.vocabSize,
                contextLength: hp.contextLength, ropeTheta: Double(hp.ropeFreqBase),
                ropeScaling: Inspection.Dimensions.describe(hp.ropeScaling),
                tiedEmbeddings: hp.tiedEmbeddings)
        }
        // Scalar metadata only: the tokenizer arrays are summarised below instead of printed.
        for key in g.metadataKeys where !key.hasPrefix("tokenizer.ggml.") || g.metadata[key]?.array == nil {
            if let v = g.metadata[key], v.array == nil {
                r.metadata[key] =
                    v.string ?? v.int.map(String.init) ?? v.double.map { "\($0)" } ?? v.bool.map { "\($0)" } ?? ""
            }
        }
        if let tok = try? g.tokenizerData() {
            let pre = tok.pre.map { " (pre: \($0))" } ?? ""
            r.tokenizer = "\(tok.model)\(pre), \(tok.tokens.count) tokens, \(tok.merges?.count ?? 0) merges"
        }
        return r
    }
}
