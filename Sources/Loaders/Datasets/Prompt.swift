/// A decoder prompt and the continuations to score after it.
public struct Prompt: Sendable, Equatable {
    /// The start of `text` that is identical for every example of the task under the same options (the
    /// instruction sentence), so the runtime can encode it once and reuse its cache. It ends at the
    /// instruction's final punctuation, before the "\n\n" that follows: with byte-level BPE and GPT-2-style
    /// pre-tokenisation a punctuation run ends there in both texts, so the prefix's tokens are a prefix of
    /// the full text's tokens. The runtime should still check this for its tokenizer.
    public let sharedPrefix: String
    /// The full prompt; always begins with `sharedPrefix`.
    public let text: String
    /// The continuation scored for each class, index = class (e.g. " A", " B", …). The runtime takes the
    /// next-token logits at the last prompt position restricted to the (last) token of each string.
    public let answers: [String]
    /// Index in `answers` of the correct class.
    public let label: Int

    public init(sharedPrefix: String, text: String, answers: [String], label: Int) {
        precondition(text.unicodeScalars.starts(with: sharedPrefix.unicodeScalars), "text must begin with sharedPrefix")
        self.sharedPrefix = sharedPrefix
        self.text = text
        self.answers = answers
        self.label = label
    }

    /// `text` after `sharedPrefix`. Cut by Unicode scalars, not characters, so a combining mark at the start
    /// of the rest cannot merge with the prefix's last character.
    public var remainder: String {
        var s = String.UnicodeScalarView()
        s.append(contentsOf: text.unicodeScalars.dropFirst(sharedPrefix.unicodeScalars.count))
        return String(s)
    }
}

/// How BoolQ's two classes map to scored words.
public enum BoolQAnswerMapping: String, Sendable, CaseIterable {
    /// Class 0 (answer false) scores " false", class 1 (true) scores " true": the words the prompt asks for.
    case natural
    /// bayesian-peft's mapping: targets ["True", "False"] indexed by int(answer), so class 0 (false) scores
    /// "True" and class 1 (true) scores "False". Self-consistent for models fine-tuned with it (the
    /// FlyLee/bayesian-peft checkpoints); needed to reproduce their numbers.
    case upstream
}

public struct PromptOptions: Sendable, Equatable {
    /// ARC/OpenBookQA choice lines as bayesian-peft renders them: text and label swapped ("t1) A", with the
    /// file's own label, so numeric ARC items read "t1) 1"), and OpenBookQA's "Chioces:" typo.
    public var upstreamSwapped: Bool
    public var boolQMapping: BoolQAnswerMapping
    /// Prefix answers with a space (" A"): what follows "Answer:" in running text, and how the reference
    /// numbers in REFERENCE.md were scored. bayesian-peft scores the bare letters ("A"; `--add-space` off).
    public var answerLeadingSpace: Bool
    /// bayesian-peft scores ARC over 5 letters (A-E) even for 3- or 4-choice items; by default bayeval scores
    /// only the item's own choices.
    public var arcScoresFiveLetters: Bool

    public init(
        upstreamSwapped: Bool = false, boolQMapping: BoolQAnswerMapping = .natural,
        answerLeadingSpace: Bool = true, arcScoresFiveLetters: Bool = false
    ) {
        self.upstreamSwapped = upstreamSwapped
        self.boolQMapping = boolQMapping
        self.answerLeadingSpace = answerLeadingSpace
        self.arcScoresFiveLetters = arcScoresFiveLetters
    }

    /// The correct behaviour (the default).
    public static let standard = PromptOptions()
    /// Everything bayesian-peft does, to reproduce its published / HF-checkpoint numbers.
    public static let upstream = PromptOptions(
        upstreamSwapped: true, boolQMapping: .upstream,
        answerLeadingSpace: false, arcScoresFiveLetters: true)
}
