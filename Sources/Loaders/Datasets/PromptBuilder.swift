/// Decoder prompts (pure functions of the example, the task and the options).
public enum PromptBuilder {
    /// bayesian-peft's zero-shot multiple-choice instruction (ARC, OpenBookQA, WinoGrande).
    public static let multipleChoiceInstruction = "Return the label of the correct answer for the question below."
    public static let boolQInstruction =
        "Read the passage below and answer the question with the words 'true' or 'false'."
    /// BoolQ passages are cut to this many Unicode scalars, as bayesian-peft's `passage[:1024]` (Python
    /// slices code points, not grapheme clusters).
    public static let boolQPassageLimit = 1024

    /// The prompt for `example` of `task`. An example of the wrong kind for the task is a programming error.
    public static func prompt(for example: Example, task: TaskName, options: PromptOptions = .standard) -> Prompt {
        switch example {
        case .multipleChoice(let m):
            precondition(task.isMultipleChoice, "\(task) examples are not multiple choice")
            return multipleChoice(m, task: task, options: options)
        case .classification(let c):
            precondition(!task.isMultipleChoice, "\(task) examples are multiple choice")
            return task == .boolQ ? boolQ(c, options: options) : glue(c, task: task, options: options)
        }
    }

    /// The part of every prompt of `task` that `Prompt.sharedPrefix` holds.
    public static func sharedPrefix(for task: TaskName) -> String {
        switch task {
        case .arcChallenge, .arcEasy, .openBookQA, .winoGrande: multipleChoiceInstruction
        case .boolQ: boolQInstruction
        case .sst2, .cola, .mrpc, .rte: glueTemplate(task).instruction
        }
    }

    /// "…\n\nQuestion: {q}\nChoices:\nA) t1\nB) t2\n…\nAnswer:" with letters by position.
    public static func multipleChoice(
        _ ex: MultipleChoiceExample, task: TaskName,
        options: PromptOptions = .standard
    ) -> Prompt {
        // Upstream's swap only affects ARC and OpenBookQA; its WinoGrande lines are in the right order.
        let swapped = options.upstreamSwapped && task != .winoGrande
        let lines = ex.choices.indices.map { i in
            swapped ? "\(ex.choices[i])) \(ex.choiceLabels[i])" : "\(letter(i))) \(ex.choices[i])"
        }
        let header = swapped && task == .openBookQA ? "Chioces:" : "Choices:"
        let text =
            multipleChoiceInstruction + "\n\nQuestion: \(ex.question)\n\(header)\n"
            + lines.joined(separator: "\n") + "\nAnswer:"
        let isARC = task == .arcChallenge || task == .arcEasy
        let k = isARC && options.arcScoresFiveLetters ? max(5, ex.choices.count) : ex.choices.count
        return Prompt(
            sharedPrefix: multipleChoiceInstruction, text: text,
            answers: letterAnswers(k, options: options), label: ex.answerIndex)
    }

    /// "…\n\nPassage: {passage[:1024]}\nQuestion: {q}\nAnswer (true or false):"; text = question, pair = passage.
    public static func boolQ(_ ex: ClassificationExample, options: PromptOptions = .standard) -> Prompt {
        var passage = String.UnicodeScalarView()
        passage.append(contentsOf: (ex.pair ?? "").unicodeScalars.prefix(boolQPassageLimit))
        let text = boolQInstruction + "\n\nPassage: \(String(passage))\nQuestion: \(ex.text)\nAnswer (true or false):"
        let words = options.boolQMapping == .natural ? ["false", "true"] : ["True", "False"]
        let space = options.answerLeadingSpace ? " " : ""
        return Prompt(sharedPrefix: boolQInstruction, text: text, answers: words.map { space + $0 }, label: ex.label)
    }

    /// GLUE tasks for decoders: multiple choice over the label names (see `GLUEPrompts`).
    public static func glue(_ ex: ClassificationExample, task: TaskName, options: PromptOptions = .standard) -> Prompt {
        let t = glueTemplate(task)
        var body = "\n\n\(t.textField): \(trim(ex.text))\n"
        if let second = t.pairField { body += "\(second): \(trim(ex.pair ?? ""))\n" }
        body +=
            "Choices:\n"
            + t.choiceNames.enumerated().map { "\(letter($0.offset))) \($0.element)" }.joined(separator: "\n")
            + "\nAnswer:"
        return Prompt(
            sharedPrefix: t.instruction, text: t.instruction + body,
            answers: letterAnswers(t.choiceNames.count, options: options), label: ex.label)
    }

    private static func glueTemplate(_ task: TaskName) -> GLUEPrompts.Template {
        guard let t = GLUEPrompts.template(task) else { preconditionFailure("\(task) is not a GLUE task") }
        return t
    }

    static func letter(_ i: Int) -> String {
        String(UnicodeScalar(UInt8(ascii: "A") + UInt8(i)))
    }

    static func letterAnswers(_ k: Int, options: PromptOptions) -> [String] {
        (0..<k).map { (options.answerLeadingSpace ? " " : "") + letter($0) }
    }

    /// GLUE sentences (SST-2 especially) carry stray leading/trailing spaces; our own prompts drop them.
    static func trim(_ s: String) -> String {
        String(s.drop(while: \.isWhitespace).reversed().drop(while: \.isWhitespace).reversed())
    }
}
