import Foundation

extension TokenizerLoader {
    /// The tokenizer for whatever a user passes as `--model`: a GGUF file (its own tokenizer metadata), a
    /// `tokenizer.json` (optionally `.zst`), or a model directory holding `tokenizer.json`.
    public static func load(modelPath path: String) throws -> TokenizerPipeline {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw LoadError(.io, file: path, item: "", "no such file or directory")
        }
        if isDirectory.boolValue { return try load(directory: path) }
        if try Inspector.isGGUF(path) {
            return try fromGGUF(try GGUFFile(path: path).tokenizerData(), file: path)
        }
        return try load(tokenizerJSON: path)
    }
}
