import ArgumentParser
import Foundation
import Loaders
import Posthoc
import Runtime

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Benchmarks: medians of several runs, never single timings.",
        subcommands: [LoadersBench.self, ScoringBench.self, SamplingBench.self])
}

struct LoadersBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "loaders",
        abstract: "bf16 safetensors → Float32 throughput, and SmolLM2 GGUF load + dequantisation time.")

    @Option(help: "Size of the synthetic bf16 safetensors file in MB.") var megabytes = 500
    @Option(help: "Runs per workload; the median is reported.") var repeats = 5
    @Option(help: "Threads for the safetensors conversion.") var threads = 2
    @Option(help: "GGUF file to load (default: the SmolLM2 model in $BAYEVAL_HOME).") var gguf: String?
    @OptionGroup var output: OutputOptions

    struct Report: Encodable {
        var safetensorsBytes: Int
        var safetensorsSeconds: [Double]
        var safetensorsMedianGBps: Double
        var ggufPath: String?
        var ggufSeconds: [Double]
        var ggufMedianSeconds: Double?
        var ggufParameters: Int?
    }

    func run() throws {
        guard repeats > 0, megabytes > 0, threads > 0 else {
            throw ValidationError("--repeats, --megabytes and --threads must be positive")
        }
        let dir = NSTemporaryDirectory() + "bayeval-bench-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let file = dir + "/synthetic-bf16.safetensors"
        let (_, bytes) = try LoaderBenchmarks.writeSyntheticBF16(path: file, megabytes: megabytes)
        var st: [Double] = []
        for _ in 0..<repeats { st.append(try LoaderBenchmarks.loadAllAsFloat32(path: file, threads: threads).seconds) }
        let stMedian = LoaderBenchmarks.median(st)
        var report = Report(
            safetensorsBytes: bytes, safetensorsSeconds: st,
            safetensorsMedianGBps: Double(bytes) / stMedian / 1e9, ggufSeconds: [])
        let ggufPath = gguf ?? ModelPaths.smolLM2GGUF
        if FileManager.default.fileExists(atPath: ggufPath) {
            report.ggufPath = ggufPath
            for _ in 0..<repeats {
                let r = try LoaderBenchmarks.loadGGUF(path: ggufPath)
                report.ggufSeconds.append(r.seconds)
                report.ggufParameters = r.parameters
            }
            report.ggufMedianSeconds = LoaderBenchmarks.median(report.ggufSeconds)
        }
        if output.json { print(try Rendering.json(report)); return }
        func list(_ xs: [Double]) -> String { xs.map { String(format: "%.3f", $0) }.joined(separator: " ") }
        print("safetensors bf16 → Float32: \(bytes / 1_000_000) MB, \(threads) threads, runs [s]: \(list(st))")
        print(
            String(
                format: "  median %.3f s = %.2f GB/s of bf16 input (target ≥ 1 GB/s)", stMedian,
                report.safetensorsMedianGBps))
        if let m = report.ggufMedianSeconds {
            print("GGUF load + dequantise + HF layout: \(ggufPath), runs [s]: \(list(report.ggufSeconds))")
            print(
                String(
                    format: "  median %.3f s for %@ parameters (target < 1 s)", m,
                    Rendering.count(report.ggufParameters ?? 0)))
        } else {
            print("GGUF: \(ggufPath) not found (run scripts/setup.sh or pass --gguf)")
        }
    }
}

struct ScoringBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scoring",
        abstract: """
            Multiple-choice scoring speed: prompt tokens/s, executed GFLOP/s against the machine's sgemm rate, \
            peak memory.
            """,
        discussion: """
            Loads the model once, scores the same examples --repeats times and reports medians. The ratio to \
            transformers is measured by scripts/bench_scoring.sh, which runs both end to end in one session.
            """)

    @OptionGroup var options: ModelTaskOptions
    @Option(help: "Runs; the median is reported.") var repeats = 3
    @OptionGroup var output: OutputOptions

    func validate() throws { try options.requireTask() }

    struct Report: Encodable {
        let examples: Int, promptTokens: Int, computedTokens: Int, gflop: Double
        let seconds: [Double], medianSeconds: Double, promptTokensPerSecond: Double
        let executedGFLOPs: Double, sgemmGFLOPs: Double, fractionOfPeak: Double
        let loadSeconds: Double, peakResidentMB: Double, float32WeightsMB: Double
    }

    func run() throws {
        guard repeats > 0 else { throw ValidationError("--repeats must be positive") }
        let started = Date()
        let modelPath = try options.model ?? { throw ValidationError("--model is required") }()
        let backend = options.device.makeBackend(threads: options.threads)
        let loaded = try ModelLoader.loadDecoder(path: modelPath, backend: backend)
        let tokenizer = try TokenizerLoader.load(modelPath: modelPath)
        let load = Date().timeIntervalSince(started)
        let prepared = try options.preparedExamples(model: loaded.model, tokenizer: tokenizer)
        let scorer = ChoiceScorer(
            model: loaded.model, sharedPrefix: PromptPreparation.commonPrefix(of: prepared),
            maxSequences: options.batchSize)
        var runs: [ScoringBenchmark.Run] = []
        for _ in 0..<repeats { runs.append(try ScoringBenchmark.run(prepared, scorer: scorer)) }
        let peak = backend.measuredSgemmGFLOPs()
        let median = LoaderBenchmarks.median(runs.map(\.seconds))
        let weights =
            Double(
                loaded.parameterShapes.filter { $0.key != "lm_head.weight" || !loaded.model.config.tieWordEmbeddings }
                    .values.reduce(0) { $0 + $1.reduce(1, *) }) * 4 / 1e6
        let r = Report(
            examples: prepared.count, promptTokens: runs[0].promptTokens, computedTokens: runs[0].computedTokens,
            gflop: runs[0].gflop, seconds: runs.map(\.seconds), medianSeconds: median,
            promptTokensPerSecond: Double(runs[0].promptTokens) / median,
            executedGFLOPs: runs[0].gflop / median, sgemmGFLOPs: peak, fractionOfPeak: runs[0].gflop / median / peak,
            loadSeconds: load, peakResidentMB: Double(ScoringBenchmark.peakResidentBytes) / 1e6,
            float32WeightsMB: weights)
        if output.json { print(try Rendering.json(r)); return }
        print(
            String(
                format: "%d examples, %d prompt tokens (%d computed after the shared header), %.1f GFLOP executed",
                r.examples, r.promptTokens, r.computedTokens, r.gflop))
        print("runs [s]: " + r.seconds.map { String(format: "%.2f", $0) }.joined(separator: " "))
        print(
            String(
                format:
                    "median %.2f s: %.0f prompt tokens/s, %.1f GFLOP/s executed = "
                    + "%.0f%% of measured sgemm %.1f GFLOP/s",
                median, r.promptTokensPerSecond, r.executedGFLOPs, 100 * r.fractionOfPeak, peak))
        print(
            String(
                format: "load %.2f s; peak RSS %.0f MB = %.2f× the Float32 weights (%.0f MB)",
                load, r.peakResidentMB, r.peakResidentMB / weights, weights))
    }
}

struct SamplingBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sampling",
        abstract: "Cost of one TFB weight sample against one deterministic pass over the same packed sequences.",
        discussion: """
            The adapter gets a TFB posterior at --sigma; the examples are packed as the Monte Carlo predictive \
            packs them (--samples copies of each prompt per batch) and run alternately with noise and without, \
            --repeats times. Reports the median ratio (target ≤ 1.1).
            """)

    @Argument(help: "A LoRA adapter directory.") var adapter: String
    @OptionGroup var options: ModelTaskOptions
    @Option(help: "Weight samples per example.") var samples = 10
    @Option(help: "σ of the TFB posterior.") var sigma = 0.005
    @Option(help: "Runs; the median is reported.") var repeats = 3

    func validate() throws { try options.requireTask() }

    func run() throws {
        guard repeats > 0, samples > 0 else { throw ValidationError("--repeats and --samples must be positive") }
        let modelPath = try options.model ?? { throw ValidationError("--model is required") }()
        let backend = options.device.makeBackend(threads: options.threads)
        let loaded = try ModelLoader.loadDecoder(path: modelPath, backend: backend)
        let a = try LoRAAdapter.load(directory: adapter, baseShapes: loaded.parameterShapes)
        _ = try TFBPosterior(adapter: a, model: loaded.model, sigma: sigma)
        let tokenizer = try TokenizerLoader.load(modelPath: modelPath)
        let prepared = try options.preparedExamples(model: loaded.model, tokenizer: tokenizer)
        let mc = MonteCarloPredictive(
            model: loaded.model, samples: samples, seed: 0, sequencesPerBatch: options.batchSize)
        var runs: [SamplingBenchmark.Run] = []
        for _ in 0..<repeats { runs.append(SamplingBenchmark.run(mc, examples: prepared)) }
        for r in runs {
            print(
                String(
                    format: "deterministic %.2f s, sampled %.2f s, ratio %.3f", r.deterministicSeconds,
                    r.sampledSeconds, r.ratio))
        }
        print(
            String(
                format: "%d examples × %d samples: median cost of a sample = %.3f× a deterministic pass (runs %@)",
                prepared.count, samples, LoaderBenchmarks.median(runs.map(\.ratio)),
                runs.map { String(format: "%.3f", $0.ratio) }.joined(separator: " ")))
    }
}

extension ModelTaskOptions {
    /// The split's first --limit examples as scorer-ready prompts for `model`.
    func preparedExamples(model: LlamaModel, tokenizer: any Tokenizer) throws -> [PreparedExample] {
        let dir = try dataDir.map { URL(fileURLWithPath: $0) } ?? DataDirectory.locate()
        var dataset = try DatasetLoader.load(task: taskName, split: splitName, dataDirectory: dir)
        if let limit { dataset = dataset.select(first: limit) }
        var prep = PromptPreparation(
            tokenizer: tokenizer, task: try taskName, options: promptOptions,
            contextLength: model.config.scoringContextLength, vocabularySize: model.config.vocabularySize)
        return try prep.prepare(dataset)
    }
}
