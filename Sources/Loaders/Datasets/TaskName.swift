/// The evaluation tasks bayeval knows. Raw values are the names used on the command line and as the
/// folder names under the data directory (`<dataDirectory>/<rawValue>/<file>`).
public enum TaskName: String, CaseIterable, Sendable, Codable, CustomStringConvertible {
    case arcChallenge = "arc-c"
    case arcEasy = "arc-e"
    case openBookQA = "obqa"
    case boolQ = "boolq"
    case winoGrande = "winogrande"
    case sst2 = "sst2"
    case cola = "cola"
    case mrpc = "mrpc"
    case rte = "rte"

    /// A one-line human description (shown by the CLI's task listing).
    public var humanDescription: String {
        switch self {
        case .arcChallenge: "ARC-Challenge: grade-school science questions, hard set, 3-5 choices"
        case .arcEasy: "ARC-Easy: grade-school science questions, easy set, 3-5 choices"
        case .openBookQA: "OpenBookQA: elementary science questions, 4 choices"
        case .boolQ: "BoolQ: yes/no questions about a Wikipedia passage"
        case .winoGrande: "WinoGrande (XL): pronoun resolution, 2 options"
        case .sst2: "SST-2 (GLUE): binary sentiment of movie-review sentences"
        case .cola: "CoLA (GLUE): grammatical acceptability of a sentence"
        case .mrpc: "MRPC (GLUE): are two news sentences paraphrases?"
        case .rte: "RTE (GLUE): does the first sentence entail the second?"
        }
    }

    public var description: String { rawValue }

    /// Whether examples are multiple choice (choices in the row) or classification (fixed label set).
    public var isMultipleChoice: Bool {
        switch self {
        case .arcChallenge, .arcEasy, .openBookQA, .winoGrande: true
        case .boolQ, .sst2, .cola, .mrpc, .rte: false
        }
    }

    /// Class names of classification tasks, index = label. Empty for multiple-choice tasks.
    public var labelNames: [String] {
        switch self {
        case .boolQ: ["false", "true"]
        case .sst2: ["negative", "positive"]
        case .cola: ["unacceptable", "acceptable"]
        case .mrpc: ["not_equivalent", "equivalent"]
        // GLUE/HF order: 0 = entailment, 1 = not_entailment.
        case .rte: ["entailment", "not_entailment"]
        case .arcChallenge, .arcEasy, .openBookQA, .winoGrande: []
        }
    }

    /// The labelled splits this task has, in train/validation/test order.
    public var splits: [Split] {
        switch self {
        case .arcChallenge, .arcEasy, .openBookQA, .sst2, .mrpc: [.train, .validation, .test]
        // BoolQ train was not available (see fixtures/data/SOURCES.md); WinoGrande: only the XL validation set.
        case .boolQ, .winoGrande: [.validation]
        // CoLA and RTE test labels are not public; the bundled RTE test file has label -1 everywhere.
        case .cola, .rte: [.train, .validation]
        }
    }

    /// The files (inside `<dataDirectory>/<rawValue>/`, without `.zst`) whose rows, concatenated in this
    /// order, make up `split`. Throws for a split the task does not have, naming the available ones.
    public func files(for split: Split) throws -> [String] {
        if let names = fileTable[split] { return names }
        let available = splits.map(\.rawValue).joined(separator: ", ")
        if self == .rte && split == .test {
            throw LoadError(
                .unsupported, file: rawValue, item: "split test",
                "RTE test labels are hidden (every row of test.jsonl has label -1), so it cannot be "
                    + "evaluated; available splits: \(available)")
        }
        throw LoadError(
            .unsupported, file: rawValue, item: "split \(split.rawValue)",
            "\(rawValue) has no labelled \(split.rawValue) split; available splits: \(available)")
    }

    private var fileTable: [Split: [String]] {
        switch self {
        case .arcChallenge: Self.arc("ARC-Challenge")
        case .arcEasy: Self.arc("ARC-Easy")
        case .openBookQA: [.train: ["train.jsonl"], .validation: ["dev.jsonl"], .test: ["test.jsonl"]]
        case .boolQ: [.validation: ["dev.jsonl"]]
        case .winoGrande: [.validation: ["validation.jsonl"]]
        // test-labeled.tsv: GLUE's SST-2 test with labels added by the Reproducing-AutoPrompt authors.
        case .sst2: [.train: ["train_full.tsv"], .validation: ["dev.tsv"], .test: ["test-labeled.tsv"]]
        // GLUE CoLA dev (1043 rows) = in-domain dev + out-of-domain dev.
        case .cola: [.train: ["in_domain_train.tsv"], .validation: ["in_domain_dev.tsv", "out_of_domain_dev.tsv"]]
        // GLUE's mrpc test.tsv has no labels; msr_paraphrase_test.txt is the same 1725 pairs, in the same
        // order and layout, with the Quality column.
        case .mrpc: [.train: ["train.tsv"], .validation: ["dev.tsv"], .test: ["msr_paraphrase_test.txt"]]
        case .rte: [.train: ["train.jsonl"], .validation: ["validation.jsonl"]]
        }
    }

    private static func arc(_ stem: String) -> [Split: [String]] {
        [.train: ["\(stem)-train.jsonl"], .validation: ["\(stem)-validation.jsonl"], .test: ["\(stem)-test.jsonl"]]
    }
}

/// A dataset split. Tasks whose upstream split is called `dev` map it to `validation`.
public enum Split: String, CaseIterable, Sendable, Codable, CustomStringConvertible {
    case train, validation, test
    public var description: String { rawValue }
}
