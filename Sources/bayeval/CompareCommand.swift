import ArgumentParser
import Foundation
import Loaders
import Records

struct CompareCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compare",
        abstract: "Compare posteriors in one report (Markdown and self-contained HTML) from run records.",
        discussion: """
            Reads every run.json named or found under the paths (run files, run folders, the OUT of an \
            `evaluate TREE`), with the predictions each was computed from (predictions.jsonl beside it, or \
            the file its configuration names; checked against the record's metrics). Writes report.md (figures \
            as SVG files in figures/) and report.html (one file: inline SVG and CSS, no scripts, no network): \
            the methods over seeds (mean ± std), every run with bootstrap intervals (--level, 95 % by default), paired bootstrap \
            differences against MAP on the same examples, reliability diagrams with their confidence \
            histograms, risk–coverage curves with AURC, TFB σ sweeps, and the provenance of every input.
            """)

    @Argument(help: "Run records, run directories or trees of them.") var paths: [String]
    @Option(help: "The folder the report goes to.") var output: String
    @Option(help: "md, html or both.") var format = "both"
    @Option(help: "Bootstrap resamples for intervals and paired differences (0: none).") var bootstrap = 1000
    @Option(help: "Coverage of the bootstrap intervals.") var level = 0.95
    @Option(help: "Seed of the bootstrap resamples.") var bootstrapSeed: UInt64 = 0
    @Option(help: "Equal-width confidence bins.") var bins = 15
    @Option(help: "Threads for the bootstrap.") var threads = 2

    func validate() throws {
        guard ["md", "html", "both"].contains(format) else { throw ValidationError("--format is md, html or both") }
        guard level > 0, level < 1 else { throw ValidationError("--level must lie strictly between 0 and 1") }
        guard bootstrap >= 0, bins >= 1, threads >= 1 else {
            throw ValidationError("--bootstrap must be ≥ 0, --bins and --threads ≥ 1")
        }
    }

    func run() throws {
        try OutputPaths.prepareDirectory(output, option: "--output")
        let runs = try ComparisonInputs.recordPaths(paths).compactMap(ComparisonInputs.load)
        guard !runs.isEmpty else {
            throw ValidationError("no evaluation run among \(paths.joined(separator: ", ")) (training records only)")
        }
        let comparison = try Comparison(
            runs: runs, bins: bins, resamples: bootstrap, threads: threads, level: level, seed: bootstrapSeed)
        for w in comparison.warnings { warn(w) }
        let report = ComparisonReport(
            comparison: comparison, runs: runs,
            command: (["bayeval"] + CommandLine.arguments.dropFirst()).joined(separator: " "))
        print(Rendering.table(header: report.tables[0].header, rows: report.tables[0].rows))
        func write(_ text: String, _ name: String) throws -> String {
            let path = (output as NSString).appendingPathComponent(name)
            do { try text.write(toFile: path, atomically: true, encoding: .utf8) } catch {
                throw WriteError(file: path, item: "", "cannot write the report: \(OutputPaths.reason(error))")
            }
            return path
        }
        var written: [String] = []
        if format != "html" {
            let figures = (output as NSString).appendingPathComponent("figures")
            try OutputPaths.prepareDirectory(figures, option: "--output")
            for f in report.figures { _ = try write(f.svg, "figures/\(f.name).svg") }
            written.append(try write(report.markdown(figureDirectory: "figures"), "report.md"))
        }
        if format != "md" { written.append(try write(report.html(), "report.html")) }
        note("report: " + written.joined(separator: ", "))
    }
}
