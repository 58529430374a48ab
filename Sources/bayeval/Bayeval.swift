import Backends
import Foundation
import ArgumentParser
import Jobs
import Runtime

@main
struct Bayeval: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bayeval",
        abstract: "Post-hoc Bayesian LoRA: load checkpoints, evaluate calibration, build posteriors.",
        version: version,
        subcommands: [
            EvaluateCommand.self, TFBCommand.self, LaplaceCommand.self, CalibrateCommand.self, CompareCommand.self,
            TrainCommand.self, PlanCommand.self, RunJobCommand.self, MergeCommand.self,
            InspectCommand.self,
            TokenizeCommand.self,
            DatasetsCommand.self, BenchCommand.self,
        ])

    /// Starts the process again with the environment its BLAS needs where it lacks it (the kernels are
    /// chosen when the library loads, before any of bayeval's code runs), then runs the command.
    static func main() {
        #if os(Linux)
        if let (name, value) = Device.preferredEnvironment(ProcessInfo.processInfo.environment) {
            setenv(name, value, 1)
            execv("/proc/self/exe", CommandLine.unsafeArgv)
            // execv returns only on failure: run on with the kernels already loaded.
        }
        #endif
        main(nil)
    }
}

extension Bayeval {
    static let version = "0.1.0"

    /// Job input hashes name this version: a plan's finished jobs count as done only for it.
    static func inputHasher() -> InputHasher { InputHasher(program: "bayeval \(version)") }

    /// Where a run ran, for its record.
    static func platform(_ device: Device, threads: Int) -> [String: String] {
        ["backend": device.rawValue, "threads": String(threads), "library": device.libraryDescription]
    }
}

extension Device: ExpressibleByArgument {}

/// `--json` for commands whose report can be read by programs.
struct OutputOptions: ParsableArguments {
    @Flag(name: .long, help: "Print one JSON document instead of the human-readable report.")
    var json = false
}
