import Backends
import ArgumentParser
import Foundation
import Loaders
import Records
import Metrics
import Runtime

/// Model, task and data options shared by the commands that score a model on a task.
struct ModelTaskOptions: ParsableArguments {
    @Option(
        name: .long,
        help: """
            A Hugging Face model directory or a .gguf file (default: the adapter's base_model_name_or_path \
            when it is a local path).
            """
    )
    var model: String?

    @Option(
        name: .customLong("task"),
        help: ArgumentHelp(
            "Task: \(TaskName.allCases.map(\.rawValue).joined(separator: ", ")) (in a tree: of the adapters "
                + "whose metadata and path name none).",
            discussion: TaskPromptHelp.text))
    var taskOption: String?

    /// --task; every command but a tree evaluation requires it (`requireTask`), so it is set where read.
    var task: String { taskOption ?? "" }

    @Option(name: .long, help: "Split to evaluate (train, validation, test).")
    var split: String = "test"

    @Option(name: .long, help: "Evaluate only the first N examples, in file order.")
    var limit: Int?

    @Option(name: .long, help: "A directory laid out like fixtures/data (default: the bundled data).")
    var dataDir: String?

    @Option(name: .long, help: "Threads for matrix products and kernels.")
    var threads: Int = 2

    @Option(name: .long, help: "Where the numerics run: \(Device.allCases.map(\.rawValue).joined(separator: ", ")).")
    var device: Device = .cpu

    @Option(
        name: .long,
        help: """
            Sequences per forward pass: examples when scoring the mean; with --samples N each example runs \
            N sequences, so --batch-size / N examples (at least one) run together.
            """
    )
    var batchSize: Int = 16

    @Option(
        name: .long,
        help:
            "What precedes each answer letter when it is scored: \" \" (\" A\", as after \"Answer:\") or \"\" (\"A\").")
    var answerPrefix: String = " "

    @Flag(
        name: .long,
        help: """
            bayesian-peft's prompts exactly: choice lines rendered "text) label", bare answer letters, \
            ARC scored over A–E, BoolQ's swapped True/False mapping.
            """
    )
    var upstreamPrompts = false

    func validate() throws {
        if let taskOption, TaskName(rawValue: taskOption) == nil {
            throw ValidationError(
                "unknown task '\(taskOption)' (known: \(TaskName.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        guard Split(rawValue: split) != nil else {
            throw ValidationError("unknown split '\(split)' (train, validation, test)")
        }
        if let limit, limit <= 0 { throw ValidationError("--limit must be positive") }
        guard threads > 0, batchSize > 0 else { throw ValidationError("--threads and --batch-size must be positive") }
        guard answerPrefix == " " || answerPrefix.isEmpty else {
            throw ValidationError("--answer-prefix is \" \" or \"\"")
        }
    }

    /// Called by each command's `validate()`: only a tree evaluation may leave --task out.
    func requireTask() throws {
        guard taskOption != nil else { throw ValidationError("Missing expected argument '--task <task>'") }
    }

    /// The settings of this group that shape a run's numbers, for its run record.
    func configuration(model: String) -> [String: String] {
        var c = [
            "model": model, "task": task, "split": split, "batch_size": String(batchSize), "threads": String(threads),
            "device": device.rawValue, "prompts": upstreamPrompts ? "upstream" : "standard",
            "answer_prefix": answerPrefix,
        ]
        if let limit { c["limit"] = String(limit) }
        if let dataDir { c["data_dir"] = dataDir }
        return c
    }

    /// --model, or else the adapter's `base_model_name_or_path` when it is a local path: as written (from
    /// the current directory) or relative to the adapter directory.
    func resolveModel(adapter: String?, config: AdapterConfig?) throws -> String {
        if let model { return model }
        if let base = config?.baseModelNameOrPath, let adapter {
            for candidate in [base, ((adapter as NSString).appendingPathComponent(base) as NSString).standardizingPath]
            where FileManager.default.fileExists(atPath: candidate) { return candidate }
            throw ValidationError("the adapter's base model '\(base)' is not a local path; pass --model")
        }
        throw ValidationError("--model is required (a model directory or .gguf file)")
    }

    /// These options with --model set to `fallback` where neither --model nor the adapter's base path gives
    /// a local model (a saved posterior's recorded model).
    func withModel(fallback: String?, adapter: String) throws -> Self {
        guard model == nil, let fallback else { return self }
        let config = try AdapterConfig.load(path: (adapter as NSString).appendingPathComponent("adapter_config.json"))
        if (try? resolveModel(adapter: adapter, config: config)) != nil { return self }
        var options = self
        options.model = fallback
        return options
    }

    /// A model and an adapter as tfb and laplace load them: the model (`--model`, or the adapter's local
    /// base), the backend, the adapter checked against the model's shapes (not attached), the data
    /// directory, and `prepare`, which turns a dataset into the model's examples (a decoder's prompts, an
    /// encoder's token ids; an encoder's needs the adapter's head attached first).
    struct LoadedRun<Model: ChoiceModel> where Model.Example: LabelledExample {
        let modelPath: String
        let backend: any ComputeBackend
        let model: Model
        let adapter: LoRAAdapter
        let dataDirectory: URL
        let prepare: (Dataset) throws -> [Model.Example]
    }

    enum AnyLoadedRun {
        case decoder(LoadedRun<LlamaModel>)
        case encoder(LoadedRun<BertModel>)
    }

    /// Whether `modelPath` holds an encoder (BERT, RoBERTa) rather than a decoder; GGUF files are decoders.
    static func isEncoder(_ modelPath: String) throws -> Bool {
        guard !ModelLoader.isGGUF(modelPath), case .encoder = try ModelConfig.load(directory: modelPath) else {
            return false
        }
        return true
    }

    func loadRun(adapter: String) throws -> AnyLoadedRun {
        let config = try AdapterConfig.load(path: (adapter as NSString).appendingPathComponent("adapter_config.json"))
        let modelPath = try resolveModel(adapter: adapter, config: config)
        let backend = device.makeBackend(threads: threads)
        let tokenizer = try TokenizerLoader.load(modelPath: modelPath)
        let dataDirectory = try dataDir.map { URL(fileURLWithPath: $0) } ?? DataDirectory.locate()
        if try Self.isEncoder(modelPath) {
            let loaded = try ModelLoader.loadEncoder(path: modelPath, backend: backend)
            let evaluation = EncoderEvaluation(model: loaded.model, tokenizer: tokenizer, batchSize: batchSize)
            return .encoder(
                LoadedRun(
                    modelPath: modelPath, backend: backend, model: loaded.model,
                    adapter: try LoRAAdapter.load(directory: adapter, baseShapes: loaded.parameterShapes),
                    dataDirectory: dataDirectory, prepare: evaluation.prepare))
        }
        let loaded = try ModelLoader.loadDecoder(path: modelPath, backend: backend)
        var preparation = PromptPreparation(
            tokenizer: tokenizer, task: try taskName, options: promptOptions,
            contextLength: loaded.model.config.scoringContextLength, vocabularySize: loaded.model.config.vocabularySize)
        return .decoder(
            LoadedRun(
                modelPath: modelPath, backend: backend, model: loaded.model,
                adapter: try LoRAAdapter.load(directory: adapter, baseShapes: loaded.parameterShapes),
                dataDirectory: dataDirectory, prepare: { try preparation.prepare($0) }))
    }

    /// The task, for the commands that need one; validate() has already refused an unknown name, so only a
    /// missing --task is left to refuse here (a tree run infers tasks and may leave it out).
    var taskName: TaskName {
        get throws {
            guard let taskOption, let name = TaskName(rawValue: taskOption) else {
                throw ValidationError("Missing expected argument '--task <task>'")
            }
            return name
        }
    }
    var splitName: Split { Split(rawValue: split)! }

    var promptOptions: PromptOptions {
        var o = upstreamPrompts ? PromptOptions.upstream : PromptOptions.standard
        if !upstreamPrompts { o.answerLeadingSpace = answerPrefix == " " }
        return o
    }
}

/// The prompt of each task, for --help.
enum TaskPromptHelp {
    static var text: String {
        var lines = [
            "Decoders score every task as prompted multiple choice (logits of the answer tokens after \"Answer:\"):",
            "  arc-c, arc-e, obqa, winogrande: \"\(PromptBuilder.multipleChoiceInstruction)"
                + "\\n\\nQuestion: …\\nChoices:\\nA) …\\nB) …\\nAnswer:\"",
            "  boolq: \"\(PromptBuilder.boolQInstruction)"
                + "\\n\\nPassage: …\\nQuestion: …\\nAnswer (true or false):\", answers \" false\" / \" true\"",
        ]
        for t in [TaskName.sst2, .cola, .mrpc, .rte] {
            if let g = GLUEPrompts.template(t) {
                let pair = g.pairField.map { "\\n\($0): …" } ?? ""
                lines.append(
                    "  \(t.rawValue): \"\(g.instruction)\\n\\n\(g.textField): …\(pair)\\nChoices:\\n"
                        + g.choiceNames.enumerated().map { "\(PromptBuilderLetters.letter($0.offset))) \($0.element)" }
                        .joined(separator: "\\n") + "\\nAnswer:\"")
            }
        }
        lines.append(
            "Encoders use the classification head saved with the adapter (modules_to_save) on text / text pairs.")
        return lines.joined(separator: "\n")
    }
}

enum PromptBuilderLetters {
    static func letter(_ i: Int) -> String { String(UnicodeScalar(UInt8(ascii: "A") + UInt8(i))) }
}

/// Where results go.
struct RunOutputOptions: ParsableArguments {
    @Option(
        name: .long,
        help: "Write the run record (metrics, reliability bins, configuration, input hashes, timings) here.")
    var output: String?

    @Option(name: .long, help: "Append one JSON line per example ({id, label, probs}) here as results are computed.")
    var predictions: String?

    @Flag(name: .long, help: "Continue an interrupted run from --predictions: finished examples are not scored again.")
    var resume = false

    @Option(name: .long, help: "Equal-width bins for ECE and reliability diagrams.")
    var bins: Int = 15

    @Option(name: .long, help: "Bootstrap resamples for confidence intervals (0: none).")
    var bootstrap: Int = 0

    func validate() throws {
        guard bins >= 1 else { throw ValidationError("--bins must be at least 1") }
        guard bootstrap >= 0 else { throw ValidationError("--bootstrap must be ≥ 0") }
        if resume && predictions == nil { throw ValidationError("--resume needs --predictions (the file to continue)") }
    }

    /// The settings of this group that shape a run's numbers, for its run record.
    /// The predictions file is named too, so `compare` finds what a run.json's metrics were computed from.
    var configuration: [String: String] {
        var c = ["bins": String(bins), "bootstrap": String(bootstrap)]
        if let predictions { c["predictions"] = predictions }
        return c
    }

    /// The metrics of `predictions` (every probability finite) with --bins bins and, with --bootstrap,
    /// their 95 % intervals.
    func result(_ method: Method, _ predictions: [ExamplePrediction], threads: Int) throws -> MethodResult {
        let (p, binning) = try MetricInputs.make(predictions, bins: bins)
        let intervals = try MetricInputs.intervals(p, binning: binning, resamples: bootstrap, threads: threads)
        return MethodResult(method: method, metrics: MetricReport(p, binning: binning), intervals: intervals)
    }

    /// Checks --output and --predictions (creating their folders) before any work starts.
    func prepare() throws {
        if let output { try OutputPaths.prepareFile(output, option: "--output") }
        if let predictions { try OutputPaths.prepareFile(predictions, option: "--predictions") }
    }
}
