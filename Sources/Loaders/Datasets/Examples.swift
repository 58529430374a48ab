/// One multiple-choice item (ARC, OpenBookQA, WinoGrande).
public struct MultipleChoiceExample: Sendable, Equatable {
    public let id: String
    public let question: String
    public let choices: [String]
    /// The labels exactly as the file gives them ("A"..."E", or "1"..."5" for some ARC items,
    /// "1"/"2" for WinoGrande). Prompts letter choices by position, not by these labels.
    public let choiceLabels: [String]
    /// Position of the correct choice in `choices`.
    public let answerIndex: Int

    public init(id: String, question: String, choices: [String], choiceLabels: [String], answerIndex: Int) {
        self.id = id
        self.question = question
        self.choices = choices
        self.choiceLabels = choiceLabels
        self.answerIndex = answerIndex
    }
}

/// One classification item (BoolQ, SST-2, CoLA, MRPC, RTE): a text, an optional second text, a label.
public struct ClassificationExample: Sendable, Equatable {
    public let id: String
    /// The single sentence, or the first text of a pair (BoolQ: the question; MRPC: #1 String;
    /// RTE: sentence1).
    public let text: String
    /// The second text of a pair (BoolQ: the passage; MRPC: #2 String; RTE: sentence2).
    public let pair: String?
    public let label: Int
    public let labelNames: [String]

    public init(id: String, text: String, pair: String?, label: Int, labelNames: [String]) {
        self.id = id
        self.text = text
        self.pair = pair
        self.label = label
        self.labelNames = labelNames
    }
}

public enum Example: Sendable, Equatable {
    case multipleChoice(MultipleChoiceExample)
    case classification(ClassificationExample)

    public var id: String {
        switch self {
        case .multipleChoice(let m): m.id
        case .classification(let c): c.id
        }
    }

    /// Index of the correct class: the answer position or the label.
    public var label: Int {
        switch self {
        case .multipleChoice(let m): m.answerIndex
        case .classification(let c): c.label
        }
    }

    /// Number of classes the model chooses among for this example.
    public var classCount: Int {
        switch self {
        case .multipleChoice(let m): m.choices.count
        case .classification(let c): c.labelNames.count
        }
    }
}

/// The examples of one task split, in file order (or in a seeded order after `shuffled(seed:)`).
public struct Dataset: Sendable, Equatable {
    public let task: TaskName
    public let split: Split
    /// The paths actually read, in order.
    public let files: [String]
    public let examples: [Example]

    public init(task: TaskName, split: Split, files: [String], examples: [Example]) {
        self.task = task
        self.split = split
        self.files = files
        self.examples = examples
    }

    public var count: Int { examples.count }

    /// The same examples in the order given by `SeededShuffle` with `seed`: identical on every platform.
    public func shuffled(seed: UInt64) -> Dataset {
        Dataset(task: task, split: split, files: files, examples: SeededShuffle.shuffled(examples, seed: seed))
    }

    /// The first `n` examples (all of them when there are fewer). "500 train examples with seed 42" is
    /// `load(task:split: .train).shuffled(seed: 42).select(first: 500)`.
    public func select(first n: Int) -> Dataset {
        Dataset(task: task, split: split, files: files, examples: Array(examples.prefix(max(0, n))))
    }
}
