import ArgumentParser
import Foundation
import Loaders

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Benchmarks: medians of several runs, never single timings.",
        subcommands: [LoadersBench.self])
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
        guard repeats > 0, megabytes > 0, threads > 0 else { throw ValidationError("--repeats, --megabytes and --threads must be positive") }
        let dir = NSTemporaryDirectory() + "bayeval-bench-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let file = dir + "/synthetic-bf16.safetensors"
        let (_, bytes) = try LoaderBenchmarks.writeSyntheticBF16(path: file, megabytes: megabytes)
        var st: [Double] = []
        for _ in 0..<repeats { st.append(try LoaderBenchmarks.loadAllAsFloat32(path: file, threads: threads).seconds) }
        let stMedian = LoaderBenchmarks.median(st)
        var report = Report(safetensorsBytes: bytes, safetensorsSeconds: st,
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
        print(String(format: "  median %.3f s = %.2f GB/s of bf16 input (target ≥ 1 GB/s)", stMedian, report.safetensorsMedianGBps))
        if let m = report.ggufMedianSeconds {
            print("GGUF load + dequantise + HF layout: \(ggufPath), runs [s]: \(list(report.ggufSeconds))")
            print(String(format: "  median %.3f s for %@ parameters (target < 1 s)", m, Rendering.count(report.ggufParameters ?? 0)))
        } else {
            print("GGUF: \(ggufPath) not found (run scripts/setup.sh or pass --gguf)")
        }
    }
}
