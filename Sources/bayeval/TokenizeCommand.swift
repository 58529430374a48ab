import ArgumentParser
import Foundation
import Loaders

struct TokenizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenize",
        abstract: "Token ids of texts, with the model's own tokenizer (tokenizer.json or GGUF metadata).",
        discussion: """
            Prints one JSON array of ids per text, one per line. Special tokens (BOS, CLS/SEP, …) follow the \
            tokenizer's own post-processor unless --no-special. With --jsonl, texts are read from standard \
            input, one JSON object per line: {"text": "…"} or {"text": "…", "pair": "…"} (so texts may hold \
            newlines). With --json, each line is an object with the text, pair, ids, tokens and type ids.
            """)

    @Option(name: .long, help: "A .gguf file, a tokenizer.json, or a model directory holding tokenizer.json.")
    var model: String

    @Flag(name: .long, help: "Do not add the special tokens of the tokenizer's post-processor.")
    var noSpecial = false

    @Flag(name: .long, help: "Read {\"text\": …, \"pair\": …} lines from standard input.")
    var jsonl = false

    @OptionGroup var output: OutputOptions

    @Argument(help: "Texts to tokenize (ignored with --jsonl).")
    var texts: [String] = []

    struct Line: Encodable {
        let text: String, pair: String?, ids: [Int], tokens: [String], typeIDs: [Int]
    }

    func validate() throws {
        if !jsonl && texts.isEmpty {
            throw ValidationError("give texts to tokenize, or --jsonl to read them from standard input")
        }
    }

    func run() throws {
        let tokenizer = try TokenizerLoader.load(modelPath: model)
        var inputs: [(String, String?)] = texts.map { ($0, nil) }
        if jsonl {
            inputs = []
            var lineNumber = 0
            while let line = readLine(strippingNewline: true) {
                lineNumber += 1
                if line.trimmingCharacters(in: .whitespaces).isEmpty { continue }
                let v = try JSONValue.parse(Data(line.utf8), file: "<stdin>")
                guard let text = v["text"]?.string else {
                    throw LoadError(
                        .malformedRow, file: "<stdin>", item: "line \(lineNumber)", "needs a string field 'text'")
                }
                let pair = v["pair"]
                guard pair == nil || pair!.isNull || pair!.string != nil else {
                    throw LoadError(
                        .malformedRow, file: "<stdin>", item: "line \(lineNumber)", "'pair' must be a string")
                }
                inputs.append((text, pair?.string))
            }
        }
        for (text, pair) in inputs {
            let (ids, types) = tokenizer.encodeWithTypes(text, pair: pair, addSpecialTokens: !noSpecial)
            if output.json {
                print(
                    try Rendering.jsonLine(
                        Line(
                            text: text, pair: pair, ids: ids,
                            tokens: ids.map { tokenizer.idToToken($0) ?? "" }, typeIDs: types)))
            } else {
                print("[" + ids.map(String.init).joined(separator: ", ") + "]")
            }
        }
    }
}
