import ArgumentParser
import Foundation
import Loaders
import Metrics
import Records
import Runtime

/// One `bayeval train` run: the model with its adapter attached, the training and validation examples,
/// the optimizer, and the loop that logs, evaluates and checkpoints.
final class TrainingSession {
    let command: TrainCommand
    let adapter: LoRAAdapter
    let parameters: AdapterParameters
    let trainer: Trainer
    let evaluate: () throws -> MetricReport?
    let exampleTokens: [Int]
    let settings: [String: String]
    /// What the checkpoint records beyond the settings (how LoRA-XS bases were made).
    let provenance: [String: String]
    let log: TrainingLog
    let startStep: Int

    init(command c: TrainCommand) throws {
        self.command = c
        let backend = c.device.makeBackend(threads: c.threads)
        let task = c.taskName
        let dataDirectory = try c.dataDir.map { URL(fileURLWithPath: $0) } ?? DataDirectory.locate()
        var train = try DatasetLoader.load(task: task, split: .train, dataDirectory: dataDirectory)
        if let limit = c.trainLimit { train = train.select(first: limit) }
        guard train.count > 0 else {
            throw UsageError(
                file: train.files.first ?? dataDirectory.path, item: "train",
                "the training split has no examples")
        }
        let validationSplit: Split? = (try? task.files(for: .validation)) != nil ? .validation : nil
        var validation = try validationSplit.map {
            try DatasetLoader.load(task: task, split: $0, dataDirectory: dataDirectory)
        }
        if c.evalLimit > 0 { validation = validation?.select(first: c.evalLimit) }
        let tokenizer = try TokenizerLoader.load(modelPath: c.model)
        let targets = c.targets?.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }

        let objective: TrainingObjective
        let isDecoder =
            ModelLoader.isGGUF(c.model)
            || {
                if case .decoder = try? ModelConfig.load(directory: c.model) { return true }; return false
            }()
        let adapter: LoRAAdapter
        if isDecoder {
            let loaded = try ModelLoader.loadDecoder(path: c.model, backend: backend)
            let m = loaded.model
            let initial = try Self.initialAdapter(
                command: c, model: m, baseShapes: loaded.parameterShapes,
                fresh: {
                    try NewAdapter.decoder(
                        m, rank: c.rank, alpha: c.alpha, targets: targets ?? ["q_proj", "v_proj"],
                        baseModel: c.model, seed: c.seed)
                })
            var options = c.upstreamPrompts ? PromptOptions.upstream : PromptOptions.standard
            if !c.upstreamPrompts { options.answerLeadingSpace = true }
            var preparation = PromptPreparation(
                tokenizer: tokenizer, task: task, options: options,
                contextLength: m.config.scoringContextLength, vocabularySize: m.config.vocabularySize)
            let examples = try preparation.prepare(train)
            let heldOut = try validation.map { try preparation.prepare($0) }
            objective = DecoderObjective(model: m, examples: examples)
            exampleTokens = examples.map(\.tokens.count)
            (adapter, provenance) = try Self.trainedAdapter(
                command: c, model: m, objective: objective, initial: initial)
            parameters = try m.adapterParameters(adapter, trainingBases: c.subspace.trainBases)
            let batch = c.batchSize
            evaluate = {
                guard let heldOut else { return nil }
                let scorer = ChoiceScorer(
                    model: m, sharedPrefix: PromptPreparation.commonPrefix(of: heldOut), maxSequences: max(batch, 16))
                var predictions: [ExamplePrediction] = []
                _ = try DecoderEvaluation(scorer: scorer).run(
                    heldOut, record: { predictions += $0 }, progress: { _ in })
                return try Self.report(predictions)
            }
        } else {
            let loaded = try ModelLoader.loadEncoder(path: c.model, backend: backend)
            let m = loaded.model
            // The fresh head goes on first: preparing examples needs the label count it brings.
            let initial = try Self.initialAdapter(
                command: c, model: m, baseShapes: loaded.parameterShapes,
                fresh: {
                    try NewAdapter.encoder(
                        m, labels: task.labelNames.count, rank: c.rank, alpha: c.alpha,
                        targets: targets ?? ["query", "value"], baseModel: c.model, seed: c.seed)
                })
            let evaluation = EncoderEvaluation(model: m, tokenizer: tokenizer, batchSize: max(c.batchSize, 16))
            let examples = try evaluation.prepare(train)
            let heldOut = try validation.map { try evaluation.prepare($0) }
            objective = EncoderObjective(model: m, examples: examples)
            exampleTokens = examples.map(\.tokens.count)
            (adapter, provenance) = try Self.trainedAdapter(
                command: c, model: m, objective: objective, initial: initial)
            parameters = try m.adapterParameters(adapter, trainingBases: c.subspace.trainBases)
            evaluate = {
                guard let heldOut else { return nil }
                var predictions: [ExamplePrediction] = []
                _ = try evaluation.run(heldOut, record: { predictions += $0 }, progress: { _ in })
                return try Self.report(predictions)
            }
        }
        self.adapter = adapter

        let perUpdate = c.batchSize * c.gradAccum
        let totalSteps =
            c.steps ?? max(1, Int((Double(objective.exampleCount) * (c.epochs ?? 1) / Double(perUpdate)).rounded(.up)))
        settings = try c.settings(examples: objective.exampleCount, totalSteps: totalSteps)
        let optimizer = AdamW(parameters: parameters, weightDecay: Float(c.weightDecay))
        if c.resume {
            let state = try TrainingCheckpoint.readState(directory: c.output)
            for (key, value) in settings where state.settings[key] != value {
                throw ValidationError(
                    "--resume: this run's \(key.dropFirst("bayeval_".count)) is \(value) but the saved run used "
                        + "\(state.settings[key] ?? "nothing"); resume with the same settings"
                )
            }
            if settings["bayeval_loraxs"] == nil, let saved = state.settings["bayeval_loraxs"] {
                throw ValidationError("--resume: the saved run trained LoRA-XS (--loraxs --projection \(saved))")
            }
            try optimizer.restore(from: state.file, path: state.path, steps: state.steps, parameters: parameters)
        }
        startStep = optimizer.steps
        trainer = Trainer(
            objective: objective, parameters: parameters, optimizer: optimizer,
            schedule: LinearSchedule(peak: Float(c.lr), totalSteps: totalSteps, warmupRatio: c.warmup),
            batchSize: c.batchSize, accumulation: c.gradAccum, maxGradientNorm: c.maxGradNorm, seed: c.seed)
        log = try TrainingLog(
            path: (c.output as NSString).appendingPathComponent("training_log.jsonl"), append: c.resume)
        note(
            "\(objective.exampleCount) training examples, \(parameters.count) trainable parameters "
                + "in \(parameters.parameters.count) tensors, "
                + "\(totalSteps) updates of \(perUpdate) examples"
                + (startStep > 0 ? "; resuming after update \(startStep)" : ""))
    }

    static func report(_ predictions: [ExamplePrediction]) throws -> MetricReport {
        let scored = predictions.filter { $0.probs != nil }
        guard scored.count == predictions.count else {
            throw ValidationError("\(predictions.count - scored.count) validation examples gave NaN or infinite logits")
        }
        let (p, binning) = try MetricInputs.make(scored, bins: 15)
        return MetricReport(p, binning: binning)
    }

    func checkpoint() throws {
        try TrainingCheckpoint.save(
            adapter: adapter, parameters: parameters, optimizer: trainer.optimizer,
            settings: settings.merging(provenance) { a, _ in a }, to: command.output)
    }

    /// `run.json` next to the adapter: the validation metrics before (when this run started from scratch)
    /// and after training, the settings, and the hashes of the model and the adapter written.
    func writeRunRecord(before: MetricReport?, after: MetricReport?, seconds: Double) throws {
        var results: [MethodResult] = []
        if let before { results.append(MethodResult(method: Method(.base, label: "before (base)"), metrics: before)) }
        if let after {
            let kind: Method.Kind = adapter.kind == .loraXS ? .loraXS : .lora
            results.append(
                MethodResult(
                    method: Method(kind, label: "after \(trainer.schedule.totalSteps) updates"), metrics: after))
        }
        var timings = RunRecord.Timings()
        timings.totalSeconds = seconds
        let inputs =
            try RunRecord.hashInputs([(role: "model", path: command.model)])
            + RunRecord.hashInputs([(role: "adapter", path: command.output)]).filter { !$0.path.hasSuffix("run.json") }
        // The checkpoint's settings without their metadata prefix (bayeval_lr → lr).
        let configuration = Dictionary(
            uniqueKeysWithValues: settings.map { key, value in
                (key.hasPrefix("bayeval_") ? String(key.dropFirst("bayeval_".count)) : key, value)
            })
        try RunRecord(
            command: .train, bayevalVersion: Bayeval.version, configuration: configuration, results: results,
            inputs: inputs, timings: timings, resumedExamples: 0,
            platform: Bayeval.platform(command.device, threads: command.threads)
        )
        .write(to: (command.output as NSString).appendingPathComponent("run.json"))
    }

    func evaluateAndLog(step: Int, label: String) throws -> MetricReport? {
        let start = Date()
        guard let r = try evaluate() else { return nil }
        try log.append([
            "event": .string("evaluation"), "step": .number(Double(step)), "split": .string("validation"),
            "n": .number(Double(r.count)),
            "accuracy": .number(r.accuracy), "ece": .number(r.ece), "nll": .number(r.nll), "brier": .number(r.brier),
            "seconds": .number(Date().timeIntervalSince(start)),
        ])
        note(
            String(
                format: "validation %@ (update %d): ACC %.4f  ECE %.4f  NLL %.4f  Brier %.4f  (n=%d, %.1f s)",
                label, step, r.accuracy, r.ece, r.nll, r.brier, r.count, Date().timeIntervalSince(start)))
        return r
    }

    func run() throws {
        let total = trainer.schedule.totalSteps
        var first: MetricReport? = nil
        if startStep == 0 { first = try evaluateAndLog(step: 0, label: "before training") }
        let started = Date()
        var recentLoss: [Double] = [], tokens = 0
        var last: MetricReport? = nil
        var step = startStep
        let end = min(total, command.stopAfter.map { startStep + $0 } ?? total)
        while step < end {
            let update: Trainer.Update
            do {
                update = try trainer.update()
            } catch let error as TrainingError {
                try checkpoint()
                throw ValidationError(
                    "\(error); the last good parameters (after update \(trainer.optimizer.steps)) "
                        + "are saved in \(command.output)"
                )
            }
            step = update.step
            tokens += update.indices.reduce(0) { $0 + exampleTokens[$1] }
            recentLoss.append(update.loss)
            if recentLoss.count > 20 { recentLoss.removeFirst() }
            try log.append([
                "event": .string("update"), "step": .number(Double(step)), "loss": .number(update.loss),
                "accuracy": .number(update.accuracy), "grad_norm": .number(update.gradientNorm),
                "lr": .number(Double(update.learningRate)), "seconds": .number(update.seconds),
            ])
            let elapsed = Date().timeIntervalSince(started)
            if step == startStep + 1 || step % 10 == 0 || step == total {
                note(
                    String(
                        format:
                            "update %d/%d  loss %.4f (mean of last %d %.4f)  lr %.2e  |g| %.3f  %.0f prompt tokens/s",
                        step, total, update.loss, recentLoss.count, recentLoss.reduce(0, +) / Double(recentLoss.count),
                        Double(update.learningRate), update.gradientNorm, Double(tokens) / max(elapsed, 1e-9)))
            }
            if command.evalEvery > 0, step % command.evalEvery == 0, step < total {
                try checkpoint()
                last = try evaluateAndLog(step: step, label: "during training")
            }
        }
        try checkpoint()
        guard step == total else {
            note("stopped after update \(step) of \(total) (--stop-after); continue with --resume")
            return
        }
        last = try evaluateAndLog(step: total, label: "after training")
        if let first, let last {
            print(ResultTable.render([("before (base)", first), ("after \(total) updates", last)]))
        }
        try writeRunRecord(before: first, after: last, seconds: Date().timeIntervalSince(started))
        note(
            "adapter saved in \(command.output) (PEFT format; evaluate it with "
                + "`bayeval evaluate \(command.output) --model \(command.model) --task \(command.task)`)"
        )
    }
}

/// training_log.jsonl: one JSON object per update and per evaluation, flushed as written.
final class TrainingLog {
    let handle: FileHandle
    let path: String

    init(path: String, append: Bool) throws {
        self.path = path
        let fm = FileManager.default
        try? fm.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        if !append || !fm.fileExists(atPath: path) {
            guard fm.createFile(atPath: path, contents: nil) else {
                throw WriteError(file: path, item: "", "cannot create the training log")
            }
        }
        guard let h = FileHandle(forWritingAtPath: path) else {
            throw WriteError(file: path, item: "", "cannot open the training log")
        }
        h.seekToEndOfFile()
        handle = h
    }

    func append(_ fields: [String: JSONCodable]) throws {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        do { try handle.write(contentsOf: try e.encode(JSONCodable.object(fields)) + Data("\n".utf8)) } catch {
            throw WriteError(
                file: path, item: "", "cannot append to the training log: \(error.localizedDescription)")
        }
    }
}
