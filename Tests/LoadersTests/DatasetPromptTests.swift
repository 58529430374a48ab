import Foundation
import Testing
@testable import Loaders

@Suite struct DatasetPromptTests {
    static let instruction = "Return the label of the correct answer for the question below."

    func arcTest(_ index: Int) throws -> MultipleChoiceExample {
        try #require(try DatasetFixtures.load(.arcChallenge, .test).examples[index].mc)
    }

    @Test func arcNumericLabelsAreLetteredByPosition() throws {
        let ex = try arcTest(44)  // NYSEDREGENTS_2008_8_34, labels 1-4, answer "2"
        let p = PromptBuilder.prompt(for: .multipleChoice(ex), task: .arcChallenge)
        #expect(
            p.text == """
                Return the label of the correct answer for the question below.

                Question: Which statement best describes the energy changes that occur while a child is riding \
                on a sled down a steep, snow-covered hill?
                Choices:
                A) Kinetic energy decreases and potential energy increases.
                B) Kinetic energy increases and potential energy decreases.
                C) Both potential energy and kinetic energy decrease.
                D) Both potential energy and kinetic energy increase.
                Answer:
                """)
        #expect(p.answers == [" A", " B", " C", " D"])
        #expect(p.label == 1)
        #expect(p.sharedPrefix == Self.instruction)
        #expect(p.remainder.hasPrefix("\n\nQuestion: Which statement"))
        #expect(p.sharedPrefix + p.remainder == p.text)
    }

    @Test func arcFiveChoices() throws {
        let ex = try arcTest(836)  // TIMSS_1995_8_J7
        let p = PromptBuilder.prompt(for: .multipleChoice(ex), task: .arcChallenge)
        #expect(
            p.text == "Return the label of the correct answer for the question below.\n\n"
                + "Question: How are warm-blooded animals different from cold-blooded animals?\nChoices:\n"
                + "A) Warm-blooded animals have a higher metabolism in warm weather.\n"
                + "B) Warm-blooded animals are more aggressive in captivity.\n"
                + "C) Warm-blooded animals always have a higher blood temperature.\n"
                + "D) Warm-blooded animals normally maintain a fairly constant internal temperature "
                + "at all air temperatures.\n"
                + "E) Warm-blooded animals are found only in warm climates.\nAnswer:")
        #expect(p.answers == [" A", " B", " C", " D", " E"])
        #expect(p.label == 3)
    }

    @Test func upstreamSwappedRendersTextThenFileLabel() throws {
        let ex = try arcTest(44)
        let p = PromptBuilder.prompt(for: .multipleChoice(ex), task: .arcChallenge, options: .upstream)
        #expect(
            p.text.contains(
                "\nChoices:\nKinetic energy decreases and potential energy increases.) 1\n"
                    + "Kinetic energy increases and potential energy decreases.) 2\n"))
        #expect(p.text.hasSuffix("Both potential energy and kinetic energy increase.) 4\nAnswer:"))
        // bayesian-peft scores ARC over five bare letters whatever the choice count.
        #expect(p.answers == ["A", "B", "C", "D", "E"])
        #expect(p.label == 1)

        let swappedOnly = PromptOptions(upstreamSwapped: true)
        let letters = try arcTest(0)
        #expect(
            PromptBuilder.prompt(for: .multipleChoice(letters), task: .arcChallenge, options: swappedOnly).text
                .contains("Choices:\nPlanetary density will decrease.) A\n"))
    }

    @Test func openBookQAUpstreamTypo() throws {
        let ex = try #require(try DatasetFixtures.load(.openBookQA, .validation).examples[0].mc)
        let standard = PromptBuilder.prompt(for: .multipleChoice(ex), task: .openBookQA)
        #expect(
            standard.text.hasSuffix(
                "\nChoices:\nA) Deep sea animals\nB) fish\nC) Long Sea Fish\nD) Far Sea Animals\nAnswer:"))
        let upstream = PromptBuilder.prompt(for: .multipleChoice(ex), task: .openBookQA, options: .upstream)
        #expect(
            upstream.text.hasSuffix(
                "\nChioces:\nDeep sea animals) A\nfish) B\nLong Sea Fish) C\nFar Sea Animals) D\nAnswer:"))
        #expect(upstream.answers == ["A", "B", "C", "D"])
    }

    @Test func winoGrandeIsNotSwappedEvenUpstream() throws {
        let ex = try #require(try DatasetFixtures.load(.winoGrande, .validation).examples[0].mc)
        for options in [PromptOptions.standard, .upstream] {
            let p = PromptBuilder.prompt(for: .multipleChoice(ex), task: .winoGrande, options: options)
            #expect(
                p.text == Self.instruction + "\n\nQuestion: Sarah was a much better surgeon than Maria so _ always got "
                    + "the easier cases.\nChoices:\nA) Sarah\nB) Maria\nAnswer:")
            #expect(p.label == 1)
        }
    }

    @Test func boolQPromptTruncationAndMappings() {
        // 1030 scalars; the 1024 cut falls between "e" and its combining accent, as Python's slice would.
        let passage = String(repeating: "x", count: 1023) + "e\u{301}" + String(repeating: "y", count: 5)
        let ex = ClassificationExample(
            id: "b", text: "is it so", pair: passage, label: 0, labelNames: ["false", "true"])
        let p = PromptBuilder.prompt(for: .classification(ex), task: .boolQ)
        #expect(
            p.text == "Read the passage below and answer the question with the words 'true' or 'false'.\n\n"
                + "Passage: " + String(repeating: "x", count: 1023) + "e\nQuestion: is it so\nAnswer (true or false):")
        #expect(p.answers == [" false", " true"])
        #expect(p.answers[p.label] == " false")
        let up = PromptBuilder.prompt(for: .classification(ex), task: .boolQ, options: .upstream)
        #expect(up.text == p.text)
        // Upstream: class 0 (answer false) is scored on "True".
        #expect(up.answers == ["True", "False"] && up.answers[up.label] == "True")
    }

    @Test func glueDecoderPrompts() throws {
        let sst = try #require(try DatasetFixtures.load(.sst2, .validation).examples[0].cls)
        let p = PromptBuilder.prompt(for: .classification(sst), task: .sst2)
        #expect(
            p.text == "Classify the sentiment of the sentence below.\n\nSentence: it 's a charming and often "
                + "affecting journey .\nChoices:\nA) negative\nB) positive\nAnswer:")
        #expect(p.answers == [" A", " B"] && p.label == 1)
        #expect(p.sharedPrefix == "Classify the sentiment of the sentence below.")

        let rte = try #require(try DatasetFixtures.load(.rte, .validation).examples[0].cls)
        let r = PromptBuilder.prompt(for: .classification(rte), task: .rte)
        #expect(
            r.text.hasSuffix(
                "\nHypothesis: Christopher Reeve had an accident.\nChoices:\nA) entailment\nB) not entailment\nAnswer:")
        )
        #expect(r.remainder.hasPrefix("\n\nPremise: Dana Reeve, the widow"))
        for task in [TaskName.sst2, .cola, .mrpc, .rte] {
            #expect(PromptBuilder.sharedPrefix(for: task) == GLUEPrompts.template(task)?.instruction)
        }
    }

    @Test func sharedPrefixIsTheSameForEveryExample() throws {
        for task in TaskName.allCases {
            let split = task.splits.contains(.validation) ? Split.validation : task.splits[0]
            let d = try DatasetFixtures.load(task, split).select(first: 20)
            let prompts = d.examples.map { PromptBuilder.prompt(for: $0, task: task) }
            #expect(Set(prompts.map(\.sharedPrefix)) == [PromptBuilder.sharedPrefix(for: task)], "\(task)")
            #expect(prompts.allSatisfy { $0.text.hasPrefix($0.sharedPrefix) && $0.answers.indices.contains($0.label) })
        }
    }

    @Test func encoderInputs() throws {
        let mrpc = try DatasetFixtures.load(.mrpc, .validation).examples[0]
        let e = EncoderInput(mrpc)
        #expect(e.pair?.hasPrefix("\"The foodservice pie business") == true && e.label == 1)
        let wg = try DatasetFixtures.load(.winoGrande, .validation).examples[0]
        #expect(
            EncoderInput(wg).text == "Select one of the choices that answers the following question: Sarah was a much "
                + "better surgeon than Maria so _ always got the easier cases. Choices: A. Sarah B. Maria Answer:")
    }
}
