import ArgumentParser

@main
struct Bayeval: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bayeval",
        abstract: "Post-hoc Bayesian LoRA: load checkpoints, evaluate calibration, build posteriors.",
        version: "0.1.0",
        subcommands: [])
}
