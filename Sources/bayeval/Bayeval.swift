import ArgumentParser

@main
struct Bayeval: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bayeval",
        abstract: "Post-hoc Bayesian LoRA: load checkpoints, evaluate calibration, build posteriors.",
        version: "0.1.0",
        subcommands: [EvaluateCommand.self, TFBCommand.self, TrainCommand.self, InspectCommand.self, TokenizeCommand.self, DatasetsCommand.self, BenchCommand.self])
}

/// `--json` for commands whose report can be read by programs.
struct OutputOptions: ParsableArguments {
    @Flag(name: .long, help: "Print one JSON document instead of the human-readable report.")
    var json = false
}
