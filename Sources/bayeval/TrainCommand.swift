import Backends
import ArgumentParser
import Foundation
import Loaders
import Metrics
import Runtime

struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train a MAP LoRA adapter (AdamW, linear warm-up and decay) and save it in PEFT format.",
        discussion: """
            Decoders learn the task as prompted multiple choice: cross-entropy over the K answer tokens at the \
            last prompt position (the prompts `evaluate` scores). Encoders learn a classification head \
            (saved with the adapter as modules_to_save) on top of LoRA layers. Every --eval-every updates \
            (and at the start and the end) the validation split is scored (ACC / ECE / NLL) and a checkpoint \
            is written: adapter_config.json + adapter_model.safetensors (PEFT format) and \
            optimizer.safetensors (AdamW state); training_log.jsonl gets one line per update and evaluation. \
            --resume continues from the last checkpoint with the same data order. A loss that turns NaN \
            stops training with the last good parameters saved. --loraxs trains LoRA-XS instead: bases projected \
            from each target's base weight (--projection; wsvd's input covariance comes from the first \
            --covariance-batches training batches through the base model), frozen unless --train-bases, and an \
            r × r core initialised N(0, 1e-5²); the checkpoint records the projection, its seed and the \
            covariance's source, and every bayeval command reads it (laplace --subset cores).
            """)

    @Option(help: "A Hugging Face model directory or a .gguf file.") var model: String
    @Option(
        help: ArgumentHelp(
            "Task: \(TaskName.allCases.map(\.rawValue).joined(separator: ", ")).", discussion: TaskPromptHelp.text))
    var task: String
    @Option(help: "The adapter directory to write (checkpoints go here).") var output: String
    @Option(help: "LoRA rank (with --loraxs: the core's r).") var rank = 8
    @Option(help: "LoRA alpha (scaling alpha/rank).") var alpha = 16.0
    @Option(
        help: """
            Modules to adapt, comma-separated (decoders: q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj,\
            lm_head; encoders: query,key,value,…; default q_proj,v_proj or query,value).
            """
    )
    var targets: String?
    @OptionGroup(title: "LoRA-XS") var subspace: LoRAXSOptions
    @Option(help: "LoRA dropout (only 0 is supported: the backward pass has no dropout masks).") var dropout = 0.0
    @Option(help: "Peak learning rate.") var lr = 1e-4
    @Option(help: "AdamW decoupled weight decay.") var weightDecay = 1e-5
    @Option(help: "Share of the updates spent warming up linearly.") var warmup = 0.06
    @Option(help: "Passes over the training examples (default 1 when --steps is not given).") var epochs: Double?
    @Option(help: "Optimizer updates (instead of --epochs).") var steps: Int?
    @Option(help: "Examples per packed batch (one forward and backward pass).") var batchSize = 8
    @Option(help: "Batches whose gradients are summed per update.") var gradAccum = 1
    @Option(help: "Clip the global gradient norm to this (0: no clipping).") var maxGradNorm = 1.0
    @Option(help: "Seed of the adapter initialisation and the data order.") var seed: UInt64 = 0
    @Option(
        help: "Score the validation split and save a checkpoint every N updates (0: only at the start and the end).")
    var evalEvery = 0
    @Option(help: "Validation examples scored at each evaluation (first N in file order; 0: all).") var evalLimit = 500
    @Option(help: "Train on the first N training examples only.") var trainLimit: Int?
    @Flag(help: "Continue the run saved in --output (same settings) from its last checkpoint.") var resume = false
    @Option(help: "Stop (with a checkpoint) after N updates in this invocation; --resume continues later.")
    var stopAfter: Int?
    @Flag(help: "Replace an existing --output directory.") var overwrite = false
    @Option(help: "Threads for matrix products and kernels.") var threads = 2
    @Option(help: "Where the numerics run: \(Device.allCases.map(\.rawValue).joined(separator: ", ")).") var device:
        Device = .cpu
    @Option(help: "A directory laid out like fixtures/data (default: the bundled data).") var dataDir: String?
    @Flag(help: "bayesian-peft's prompts exactly (see evaluate --help).") var upstreamPrompts = false

    func validate() throws {
        guard let t = TaskName(rawValue: task) else {
            throw ValidationError(
                "unknown task '\(task)' (known: \(TaskName.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        _ = t
        guard lr.isFinite, lr > 0, lr <= 1 else { throw ValidationError("--lr must be in (0, 1], not \(lr)") }
        guard weightDecay.isFinite, weightDecay >= 0, lr * weightDecay < 1 else {
            throw ValidationError("--weight-decay must be ≥ 0 with lr · weight decay < 1")
        }
        guard rank >= 1, rank <= 4096 else { throw ValidationError("--rank must be between 1 and 4096, not \(rank)") }
        guard alpha.isFinite, alpha > 0 else { throw ValidationError("--alpha must be positive") }
        guard warmup >= 0, warmup < 1 else { throw ValidationError("--warmup is a share of the updates in [0, 1)") }
        guard dropout == 0 else {
            throw ValidationError("--dropout: only 0 is supported (bayeval's backward pass has no dropout masks)")
        }
        guard batchSize > 0, gradAccum > 0, threads > 0 else {
            throw ValidationError("--batch-size, --grad-accum and --threads must be positive")
        }
        guard maxGradNorm >= 0, maxGradNorm.isFinite else { throw ValidationError("--max-grad-norm must be ≥ 0") }
        guard evalEvery >= 0, evalLimit >= 0 else {
            throw ValidationError("--eval-every and --eval-limit must be ≥ 0")
        }
        if let epochs, !(epochs > 0 && epochs.isFinite) { throw ValidationError("--epochs must be positive") }
        if let steps, steps <= 0 { throw ValidationError("--steps must be positive") }
        if epochs != nil && steps != nil { throw ValidationError("give --epochs or --steps, not both") }
        if let trainLimit, trainLimit <= 0 { throw ValidationError("--train-limit must be positive") }
        if let stopAfter, stopAfter <= 0 { throw ValidationError("--stop-after must be positive") }
        try subspace.validate(rank: rank)
        if resume && overwrite {
            throw ValidationError("--resume continues --output; --overwrite replaces it: choose one")
        }
    }

    var taskName: TaskName { TaskName(rawValue: task)! }

    func run() throws {
        let task = taskName
        guard (try? task.files(for: .train)) != nil else {
            let splits = Split.allCases.filter { (try? task.files(for: $0)) != nil }.map(\.rawValue)
            throw ValidationError(
                "\(task.rawValue) has no train split in the bundled data (splits: \(splits.joined(separator: ", "))); "
                    + "train on another task"
            )
        }
        try prepareOutputDirectory()
        let session = try TrainingSession(command: self)
        try session.run()
    }

    /// Refuses to overwrite a run unless told to; --resume needs a run to continue.
    func prepareOutputDirectory() throws {
        let fm = FileManager.default
        var isDirectory: ObjCBool = false
        let exists = fm.fileExists(atPath: output, isDirectory: &isDirectory)
        if resume {
            guard exists, isDirectory.boolValue else {
                throw ValidationError("--resume: \(output) does not exist; start a run without --resume")
            }
            return
        }
        guard exists else { return }
        guard isDirectory.boolValue else { throw ValidationError("--output \(output) is a file, not a directory") }
        let contents = (try? fm.contentsOfDirectory(atPath: output)) ?? []
        guard contents.isEmpty || overwrite else {
            throw ValidationError(
                "--output \(output) already exists; pass --overwrite to replace it or --resume to continue it")
        }
        for name in contents { try fm.removeItem(atPath: (output as NSString).appendingPathComponent(name)) }
    }

    /// The settings a resumed run must share with the run it continues.
    func settings(examples: Int, totalSteps: Int) throws -> [String: String] {
        [
            "bayeval_task": task, "bayeval_model": model, "bayeval_rank": String(rank), "bayeval_alpha": String(alpha),
            "bayeval_targets": targets ?? "", "bayeval_lr": String(lr), "bayeval_weight_decay": String(weightDecay),
            "bayeval_warmup": String(warmup), "bayeval_total_steps": String(totalSteps),
            "bayeval_batch_size": String(batchSize),
            "bayeval_grad_accum": String(gradAccum), "bayeval_seed": String(seed),
            "bayeval_train_examples": String(examples),
            "bayeval_max_grad_norm": String(maxGradNorm), "bayeval_prompts": upstreamPrompts ? "upstream" : "standard",
        ].merging(try subspace.settings(seed: seed)) { a, _ in a }
    }
}
