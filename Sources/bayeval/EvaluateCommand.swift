import ArgumentParser
import Foundation
import Loaders
import Metrics
import Posthoc
import Records
import Runtime

struct EvaluateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "evaluate",
        abstract: "Accuracy, ECE, NLL and Brier of a model, with or without a LoRA adapter, on a task.",
        discussion: """
            Decoders (llama, mistral, qwen2; HF directories or GGUF) score every task as prompted multiple \
            choice: the next-token logits at the last prompt position, restricted to the K answer tokens, \
            softmax over K. Results are appended to --predictions as they are computed; --resume continues \
            an interrupted run and ends with the same numbers.
            Given a directory that holds adapters at any depth instead of being one (a checkpoint tree such as \
            bayesian-peft's {blob,map,mle}/<model>/<dataset>/<run>-seed<N>), every adapter is evaluated with \
            every --methods entry: its task from its metadata, a path component naming one (obqa, \
            ARC-Challenge, winogrande_s, sst2, …) or --task; its seed from seed<N>; its training method from \
            a map/mle/blob component. Each run goes to OUT/<adapter's relative path>/<method>/ (run.json, \
            predictions.jsonl, log.txt) with OUT from --output; finished runs are skipped and interrupted ones \
            resumed. The table groups runs by (task, training, method) with mean ± std over seeds; \
            OUT/summary.json and OUT/summary.csv list every run.
            """)

    @Argument(help: "A PEFT adapter directory, or a tree of them (omit to evaluate the base model).")
    var adapter: String?

    @OptionGroup var options: ModelTaskOptions
    @OptionGroup var outputs: RunOutputOptions
    @OptionGroup(title: "Checkpoint trees") var tree: TreeOptions

    /// A directory that is not itself an adapter: a tree.
    var treeRoot: String? {
        guard let adapter, !CheckpointTree.isAdapter(adapter) else { return nil }
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: adapter, isDirectory: &isDirectory) && isDirectory.boolValue
            ? adapter : nil
    }

    func validate() throws {
        if treeRoot == nil {
            try options.requireTask()
            if tree.methods != nil || tree.fitLimit != nil || tree.anchorSize != nil || !tree.bases.isEmpty
                || tree.tasks != nil
            {
                throw ValidationError(
                    "--methods, --tasks, --fit-limit, --anchor-size and --base apply to a tree of adapters")
            }
        } else if let methods = tree.methods {
            _ = try TreeMethod.list(methods)
        }
        if let shard {
            _ = try Shard(parsing: shard)
            guard treeRoot == nil, predictive == nil else {
                throw ValidationError("--shard slices one evaluation: not a tree, nor --predictive")
            }
        }
    }

    @Option(
        help: """
            Monte Carlo weight samples for an adapter that carries a posterior (BLoB's lora_A_rho, or a saved \
            TFB posterior); 0: the mean prediction.
            """
    )
    var samples = 0

    @Flag(help: "Read lora_A_rho as softplus(rho) (bayesian-peft with eps < 0) instead of rho².")
    var blobSoftplus = false

    @Option(help: "Seed of the weight samples.")
    var seed: UInt64 = 0

    @Option(
        help: ArgumentHelp(
            "Predict with the Laplace posterior saved in the adapter directory (bayeval laplace --save-posterior): "
                + "glm (linearised, with --link) or nn (--samples weight samples, default 100)."))
    var predictive: String?

    @Option(
        help: ArgumentHelp(
            "GLM links for --predictive glm, comma-separated: probit, mc (--samples draws, default 10000), "
                + "bridge, bridge-norm."))
    var link = "probit"

    @Option(
        help: ArgumentHelp(
            "Score only the i-th of n contiguous slices of the examples (after --limit; i from 0, as "
                + "$SLURM_ARRAY_TASK_ID counts): i/n. `bayeval merge` joins the shards into the run.json an "
                + "unsharded run writes."))
    var shard: String?

    /// --shard, parsed.
    var shardSlice: Shard? { shard.flatMap { try? Shard(parsing: $0) } }

    /// The examples of this shard (all of them without --shard), from the whole split's list: its slice
    /// of the run's scoring chunks, so each example is scored exactly as the unsharded run scores it.
    func sliced<T>(_ all: [T], _ chunks: ScoringChunks) throws -> [T] {
        guard let s = shardSlice else { return all }
        guard s.count <= chunks.count else {
            throw UsageError(
                file: "--shard", item: s.description,
                "\(all.count) examples make \(chunks.count) scoring chunk(s) of \(chunks.size); a shard is whole "
                    + "chunks (so its numbers are the unsharded run's to the last bit): "
                    + "at most \(chunks.count) shard(s)")
        }
        return chunks.positions(s.range(of: chunks.count)).map { all[$0] }
    }

    func run() throws {
        if let root = treeRoot { return try runTree(root) }
        let started = Date()
        try outputs.prepare()
        if let predictive {
            guard let adapter else { throw ValidationError("--predictive needs the directory of a saved posterior") }
            return try runSavedPosterior(adapter, predictive: predictive, started: started)
        }
        var timings = RunRecord.Timings()
        var warnings: [String] = []
        let adapterConfig = try adapter.map {
            try AdapterConfig.load(path: ($0 as NSString).appendingPathComponent("adapter_config.json"))
        }
        let modelPath = try options.resolveModel(adapter: adapter, config: adapterConfig)
        let task = try options.taskName
        // A split the task does not have is known before any model is loaded.
        _ = try task.files(for: options.splitName)

        let backend = options.device.makeBackend(threads: options.threads)
        if try ModelTaskOptions.isEncoder(modelPath) {
            return try runEncoder(modelPath: modelPath, backend: backend, started: started)
        }
        // Model, adapter and tokenizer.
        let loaded = try ModelLoader.loadDecoder(path: modelPath, backend: backend)
        let (method, adapterWarnings, flipout) = try attachAdapter(
            to: loaded.model, shapes: loaded.parameterShapes, modelPath: modelPath)
        warnings += adapterWarnings
        let tokenizer = try TokenizerLoader.load(modelPath: modelPath)
        timings.loadSeconds = Date().timeIntervalSince(started)

        // Data and prompts.
        let prepareStart = Date()
        let dataset = try loadDataset()
        var preparation = PromptPreparation(
            tokenizer: tokenizer, task: task, options: options.promptOptions,
            contextLength: loaded.model.config.scoringContextLength,
            vocabularySize: loaded.model.config.vocabularySize)
        // The header shared by every prompt and each example's position come from the whole split, so a
        // shard scores its examples exactly as the unsharded run does.
        let allPrepared = try preparation.prepare(dataset)
        let scorer = ChoiceScorer(
            model: loaded.model, sharedPrefix: PromptPreparation.commonPrefix(of: allPrepared),
            tokenBudget: 4096, maxSequences: options.batchSize)
        let evaluation = DecoderEvaluation(scorer: scorer)
        // The chunks each scoring path runs in (see ScoringChunks): a shard and a resume both keep to them.
        func chunks(_ examples: [PreparedExample]) -> ScoringChunks {
            samples > 0
                ? MonteCarloPredictive<LlamaModel>.chunks(count: examples.count) : evaluation.chunks(examples)
        }
        let prepared = try sliced(allPrepared, chunks(allPrepared))
        if !preparation.fallbackAnswers.isEmpty {
            warnings.append(
                "answers \(preparation.fallbackAnswers.sorted()) merged with the prompt when tokenized; "
                    + "scored on their own last token instead"
            )
        }
        timings.prepareSeconds = Date().timeIntervalSince(prepareStart)

        let (previous, todoIDs, log, resumeWarnings) = try resumeState(
            ids: prepared.map(\.id), chunks: chunks(prepared))
        warnings += resumeWarnings
        let todo = prepared.filter { todoIDs.contains($0.id) }

        // Scoring.
        let scoreStart = Date()
        let progress = ProgressReporter(
            total: prepared.count, label: "\(task.rawValue) \(options.split)", offset: previous.count)
        var fresh: [ExamplePrediction] = []
        // Each chunk goes to the prediction log as soon as it is scored, so an interruption loses nothing.
        func record(_ chunk: [ExamplePrediction]) throws {
            try log?.append(chunk)
            fresh += chunk
        }
        let summary: DecoderEvaluation.Summary
        if samples > 0 {
            // Monte Carlo: seeds follow each example's position in the split, so --resume and batching
            // do not change any sample.
            let index = Dictionary(uniqueKeysWithValues: allPrepared.enumerated().map { ($1.id, $0) })
            let mc = MonteCarloPredictive(
                model: loaded.model, samples: samples, seed: seed, sequencesPerBatch: options.batchSize,
                flipoutExamplesPerCall: flipout)
            summary = try mc.evaluate(todo, index: index, record: record, progress: progress.update)
        } else {
            summary = try evaluation.run(todo, record: record, progress: progress.update)
        }
        timings.scoreSeconds = Date().timeIntervalSince(scoreStart)

        try finish(
            ids: prepared.map(\.id), previous: previous, fresh: fresh, summary: summary, method: method,
            modelPath: modelPath, files: dataset.files, timings: timings, warnings: warnings, started: started,
            total: allPrepared.count)
    }

    /// Metrics over every example in dataset order, the table, and run.json.
    func finish(
        ids: [String], previous: [ExamplePrediction], fresh: [ExamplePrediction], summary: DecoderEvaluation.Summary,
        method: Method, modelPath: String, files: [String], timings: RunRecord.Timings, warnings: [String],
        started: Date, total: Int
    ) throws {
        var timings = timings, warnings = warnings
        var byID: [String: ExamplePrediction] = [:]
        for p in previous + fresh { byID[p.id] = p }
        let ordered = ids.map { byID[$0]! }
        let nonFinite = ordered.filter { $0.probs == nil }.count
        if nonFinite > 0 {
            warnings.append("\(nonFinite) example(s) had NaN or infinite logits and are left out of the metrics")
        }
        let scored = ordered.filter { $0.probs != nil }
        guard !scored.isEmpty else {
            throw ValidationError("no example produced finite logits; no metric can be computed")
        }
        let result = try outputs.result(method, scored, threads: options.threads)
        timings.totalSeconds = Date().timeIntervalSince(started)

        for w in warnings { warn(w) }
        print(ResultTable.render([(method.label, result.metrics)], intervals: result.intervals))
        let throughput = RunRecord.Throughput(
            promptTokens: summary.promptTokens, computedTokens: summary.computedTokens,
            seconds: summary.seconds)
        note(
            String(
                format:
                    "%d examples scored in %.1f s (%.0f prompt tokens/s; "
                    + "%d of %d tokens computed after the shared header); load %.1f s",
                summary.examples, summary.seconds, throughput.promptTokensPerSecond, summary.computedTokens,
                summary.promptTokens, timings.loadSeconds))
        if let path = outputs.output {
            var inputs: [(role: String, path: String)] = [("model", modelPath)]
            if let adapter { inputs.append(("adapter", adapter)) }
            inputs += files.map { ("data", $0) }
            let record = RunRecord(
                command: .evaluate, bayevalVersion: Bayeval.version,
                configuration: configuration(modelPath: modelPath).merging(
                    shardSlice?.configuration(total: total, examples: ids.count) ?? [:]
                ) { $1 },
                results: [result],
                inputs: try RunRecord.hashInputs(inputs), timings: timings, throughput: throughput,
                resumedExamples: previous.count, warnings: warnings,
                platform: Bayeval.platform(options.device, threads: options.threads))
            try record.write(to: path)
        }
    }

    /// Puts --adapter on the model (with BLoB's posterior on its patches under --samples) and names the
    /// method evaluated; a plain adapter under --samples is refused, since its mean prediction under a
    /// Monte Carlo label would be silently wrong. `flipout`: a posterior `tfb --upstream` saved is sampled
    /// with its Flipout noise, as it was searched (the number of examples per draw of E).
    func attachAdapter(
        to model: any AdaptedModel, shapes: [String: [Int]], modelPath: String
    ) throws -> (method: Method, warnings: [String], flipout: Int?) {
        guard let adapter else { return (Method.evaluating(nil, samples: 0), [], nil) }
        let a = try LoRAAdapter.load(directory: adapter, baseShapes: shapes)
        let flipout = samples > 0 ? a.metadata[PosteriorWriter.flipoutKey].flatMap(Int.init) : nil
        if let flipout {
            note(
                "the posterior was saved by tfb --upstream: sampled with Flipout noise (one E per \(flipout) examples), as it was searched"
            )
        }
        if samples > 0 {
            guard a.kind == .blob else {
                throw ValidationError(
                    "--samples needs an adapter with a posterior (lora_A_rho); \(adapter) is a plain "
                        + "\(a.kind.rawValue) adapter: use `bayeval tfb` to make one"
                )
            }
            try BLoBPosterior.attach(a, to: model, parameterisation: blobSoftplus ? .softplus : .squared)
        } else {
            try model.attach(a)
        }
        if let base = a.config.baseModelNameOrPath, FileManager.default.fileExists(atPath: base),
            URL(fileURLWithPath: base).standardizedFileURL != URL(fileURLWithPath: modelPath).standardizedFileURL
        {
            return (
                Method.evaluating(a, samples: samples),
                ["the adapter names \(base) as its base model but \(modelPath) is evaluated"], flipout
            )
        }
        return (Method.evaluating(a, samples: samples), [], flipout)
    }

    /// Encoders: classification with the head the adapter saves (or the base model carries); under
    /// --samples, BLoB's posterior on the patches and the head deterministic, as a decoder's.
    func runEncoder(modelPath: String, backend: any ComputeBackend, started: Date) throws {
        var timings = RunRecord.Timings()
        let loaded = try ModelLoader.loadEncoder(path: modelPath, backend: backend)
        var (method, warnings, flipout) = try attachAdapter(
            to: loaded.model, shapes: loaded.parameterShapes, modelPath: modelPath)
        let tokenizer = try TokenizerLoader.load(modelPath: modelPath)
        timings.loadSeconds = Date().timeIntervalSince(started)
        let prepareStart = Date()
        let dataset = try loadDataset()
        let evaluation = EncoderEvaluation(model: loaded.model, tokenizer: tokenizer, batchSize: options.batchSize)
        func chunks(_ examples: [EncoderEvaluation.Prepared]) -> ScoringChunks {
            samples > 0
                ? MonteCarloPredictive<BertModel>.chunks(count: examples.count) : evaluation.chunks(examples)
        }
        let allPrepared = try evaluation.prepare(dataset)
        let prepared = try sliced(allPrepared, chunks(allPrepared))
        timings.prepareSeconds = Date().timeIntervalSince(prepareStart)
        let (previous, todoIDs, log, resumeWarnings) = try resumeState(
            ids: prepared.map(\.id), chunks: chunks(prepared))
        warnings += resumeWarnings
        let todo = prepared.filter { todoIDs.contains($0.id) }
        let progress = ProgressReporter(
            total: prepared.count, label: "\(options.task) \(options.split)", offset: previous.count)
        var fresh: [ExamplePrediction] = []
        func record(_ chunk: [ExamplePrediction]) throws {
            try log?.append(chunk)
            fresh += chunk
        }
        let scoreStart = Date()
        let summary: DecoderEvaluation.Summary
        if samples > 0 {
            // Seeds follow each example's position in the split, as for decoders.
            let index = Dictionary(uniqueKeysWithValues: allPrepared.enumerated().map { ($1.id, $0) })
            let mc = MonteCarloPredictive(
                model: loaded.model, samples: samples, seed: seed, sequencesPerBatch: options.batchSize,
                flipoutExamplesPerCall: flipout)
            summary = try mc.evaluate(todo, index: index, record: record, progress: progress.update)
        } else {
            summary = try evaluation.run(todo, record: record, progress: progress.update)
        }
        timings.scoreSeconds = Date().timeIntervalSince(scoreStart)
        try finish(
            ids: prepared.map(\.id), previous: previous, fresh: fresh, summary: summary, method: method,
            modelPath: modelPath, files: dataset.files, timings: timings, warnings: warnings, started: started,
            total: allPrepared.count)
    }

    /// The split to evaluate (first --limit examples), refusing an empty one.
    func loadDataset() throws -> Dataset {
        let dataDirectory = try options.dataDir.map { URL(fileURLWithPath: $0) } ?? DataDirectory.locate()
        var dataset = try DatasetLoader.load(
            task: try options.taskName, split: options.splitName, dataDirectory: dataDirectory)
        if let limit = options.limit { dataset = dataset.select(first: limit) }
        guard dataset.count > 0 else {
            throw UsageError(
                file: dataset.files.first ?? dataDirectory.path, item: options.split,
                "the split has no examples")
        }
        return dataset
    }

    /// What an earlier run finished (with --resume), the ids still to do, and the log to append to.
    /// With --resume: the predictions already made, kept only in whole `chunks` (the rest of a chunk cut
    /// short is scored again with its chunk, so every example is batched as in an uninterrupted run), and
    /// the ids still to score.
    func resumeState(
        ids: [String], chunks: ScoringChunks
    ) throws -> (
        [ExamplePrediction], Set<String>, PredictionLog?, [String]
    ) {
        guard Set(ids).count == ids.count else {
            throw UsageError(
                file: options.task, item: "id",
                "example ids are not unique; results could not be matched on --resume")
        }
        var previous: [ExamplePrediction] = []
        var warnings: [String] = []
        var cut = false
        if outputs.resume, let path = outputs.predictions {
            let (read, dropped) = try PredictionLog.read(path: path)
            let known = Set(ids)
            if let stray = read.first(where: { !known.contains($0.id) }) {
                throw LoadError(
                    .invalidValue, file: path, item: stray.id,
                    "this prediction is not an example of \(options.task)/\(options.split) (another run's file?)")
            }
            if dropped {
                warnings.append(
                    "dropped an incomplete last line of \(path) (interrupted write); that example is scored again")
            }
            let made = Set(read.map(\.id))
            let whole = Set(
                (0..<chunks.count).flatMap { c in
                    let members = chunks.chunk(c).map { ids[$0] }
                    return members.allSatisfy(made.contains) ? members : []
                })
            previous = read.filter { whole.contains($0.id) }
            cut = previous.count < read.count
            if cut {
                warnings.append(
                    "\(read.count - previous.count) prediction(s) of a chunk cut short in \(path) are scored again "
                        + "with the rest of their chunk")
            }
            note("resuming: \(previous.count) of \(ids.count) examples already in \(path)")
        }
        let finished = Set(previous.map(\.id))
        let todo = Set(ids.filter { !finished.contains($0) })
        // A chunk cut short is taken out of the file too: it is written again whole.
        let log = try outputs.predictions.map { try PredictionLog(path: $0, truncate: !outputs.resume || cut) }
        if cut { try log?.append(previous) }
        return (previous, todo, log, warnings)
    }

    /// --model, else the adapter's base model when it is a local path (as written, or relative to the
    /// adapter's own directory).
    func configuration(modelPath: String) -> [String: String] {
        var c = options.configuration(model: modelPath).merging(outputs.configuration) { $1 }
        c["samples"] = String(samples)
        c["seed"] = String(seed)
        if let adapter { c["adapter"] = adapter }
        return c
    }
}
