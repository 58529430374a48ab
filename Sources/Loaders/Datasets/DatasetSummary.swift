/// Counts describing one loaded split, for the CLI to print.
public struct DatasetSummary: Sendable, Equatable {
    public let task: TaskName
    public let split: Split
    public let count: Int
    /// Number of examples per choice count (multiple choice) or per class count (classification).
    public let choiceCountHistogram: [Int: Int]
    /// Number of examples per correct index (answer position or label).
    public let labelHistogram: [Int: Int]
    /// Class names when the task has a fixed label set (classification), else empty.
    public let labelNames: [String]

    public init(_ dataset: Dataset) {
        task = dataset.task
        split = dataset.split
        count = dataset.count
        var choices: [Int: Int] = [:], labels: [Int: Int] = [:]
        for e in dataset.examples {
            choices[e.classCount, default: 0] += 1
            labels[e.label, default: 0] += 1
        }
        choiceCountHistogram = choices
        labelHistogram = labels
        labelNames = dataset.task.labelNames
    }

    /// `labelHistogram` as (name, count) rows in index order: label names for classification tasks,
    /// positional letters ("A", "B", …) for multiple choice.
    public var labelRows: [(name: String, count: Int)] {
        labelHistogram.keys.sorted().map { i in
            (i < labelNames.count ? labelNames[i] : PromptBuilder.letter(i), labelHistogram[i]!)
        }
    }
}

extension Dataset {
    public var summary: DatasetSummary { DatasetSummary(self) }
}
