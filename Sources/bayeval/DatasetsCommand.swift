import ArgumentParser
import Foundation
import Loaders

struct DatasetsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "datasets",
        abstract: "Summarise the bundled datasets (or a --data-dir with the same layout): splits, sizes, labels.")

    @Option(name: .long, help: "A directory laid out like fixtures/data (default: the bundled data).")
    var dataDir: String?

    @Option(name: .long, help: "Only this task (\(TaskName.allCases.map(\.rawValue).joined(separator: ", "))).")
    var task: String?

    @OptionGroup var output: OutputOptions

    struct Row: Encodable {
        let task: String, split: String, examples: Int, choices: [String: Int], labels: [String: Int]
    }

    func run() throws {
        let tasks: [TaskName]
        if let task {
            guard let t = TaskName(rawValue: task) else {
                throw ValidationError(
                    "unknown task '\(task)' (known: \(TaskName.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            tasks = [t]
        } else {
            tasks = TaskName.allCases
        }
        let dir = try dataDir.map { URL(fileURLWithPath: $0) } ?? DataDirectory.locate()
        var rows: [Row] = []
        for t in tasks {
            for split in t.splits {
                let s = try DatasetLoader.load(task: t, split: split, dataDirectory: dir).summary
                rows.append(
                    Row(
                        task: t.rawValue, split: split.rawValue, examples: s.count,
                        choices: Dictionary(
                            uniqueKeysWithValues: s.choiceCountHistogram.map { (String($0.key), $0.value) }),
                        labels: Dictionary(uniqueKeysWithValues: s.labelRows.map { ($0.name, $0.count) })))
            }
        }
        if output.json {
            print(try Rendering.json(rows))
            return
        }
        print(
            Rendering.table(
                header: ["task", "split", "examples", "choices", "labels"],
                rows: rows.map { r in
                    [
                        r.task, r.split, String(r.examples),
                        r.choices.sorted { Int($0.key)! < Int($1.key)! }.map { "\($0.key):\($0.value)" }.joined(
                            separator: " "),
                        r.labels.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "),
                    ]
                }))
    }
}
