import Foundation
import Testing
@testable import Loaders

/// The bundled fixtures load completely and agree with the row counts in fixtures/data/SOURCES.md.
@Suite struct DatasetFixtureTests {
    static let expectedCounts: [(TaskName, Split, Int)] = [
        (.arcChallenge, .train, 1119), (.arcChallenge, .validation, 299), (.arcChallenge, .test, 1172),
        (.arcEasy, .train, 2251), (.arcEasy, .validation, 570), (.arcEasy, .test, 2376),
        (.openBookQA, .train, 4957), (.openBookQA, .validation, 500), (.openBookQA, .test, 500),
        (.boolQ, .validation, 3270), (.winoGrande, .validation, 1267),
        (.sst2, .train, 67349), (.sst2, .validation, 872), (.sst2, .test, 1821),
        (.cola, .train, 8551), (.cola, .validation, 1043),
        (.mrpc, .train, 3668), (.mrpc, .validation, 408), (.mrpc, .test, 1725),
        (.rte, .train, 2490), (.rte, .validation, 277),
    ]

    @Test(arguments: expectedCounts.indices)
    func rowCountMatchesSources(_ i: Int) throws {
        let (task, split, count) = Self.expectedCounts[i]
        let d = try DatasetFixtures.load(task, split)
        #expect(d.count == count, "\(task) \(split)")
        #expect(d.files.allSatisfy { $0.hasSuffix(".zst") })
        // Every id is unique within a split, so anchor selections and result files can refer to them.
        #expect(Set(d.examples.map(\.id)).count == d.count, "\(task) \(split) ids")
    }

    @Test func everyTaskSplitPairIsCoveredByTheCountTable() {
        let covered = Set(Self.expectedCounts.map { "\($0.0.rawValue)/\($0.1.rawValue)" })
        let declared = Set(TaskName.allCases.flatMap { t in t.splits.map { "\(t.rawValue)/\($0.rawValue)" } })
        #expect(covered == declared)
    }

    @Test func labelDistributions() throws {
        #expect(try DatasetFixtures.load(.sst2, .validation).summary.labelHistogram == [0: 428, 1: 444])
        #expect(try DatasetFixtures.load(.mrpc, .validation).summary.labelHistogram == [0: 129, 1: 279])
        #expect(try DatasetFixtures.load(.mrpc, .test).summary.labelHistogram == [0: 578, 1: 1147])
        #expect(try DatasetFixtures.load(.cola, .validation).summary.labelHistogram == [0: 324, 1: 719])
        #expect(try DatasetFixtures.load(.rte, .validation).summary.labelHistogram == [0: 146, 1: 131])
        #expect(try DatasetFixtures.load(.boolQ, .validation).summary.labelHistogram == [0: 1237, 1: 2033])
        #expect(try DatasetFixtures.load(.winoGrande, .validation).summary.labelHistogram == [0: 628, 1: 639])
    }

    @Test func arcChoiceCountsAndAnswerPositions() throws {
        let s = try DatasetFixtures.load(.arcChallenge, .test).summary
        #expect(s.choiceCountHistogram == [3: 4, 4: 1165, 5: 3])
        #expect(s.labelHistogram == [0: 266, 1: 311, 2: 310, 3: 285])
        #expect(s.labelRows.map(\.name) == ["A", "B", "C", "D"])
        let v = try DatasetFixtures.load(.arcChallenge, .validation).summary
        #expect(v.labelHistogram[4] == 1)  // the one 5-choice item whose answer is E
    }

    @Test func firstExamples() throws {
        let arc = try #require(try DatasetFixtures.load(.arcChallenge, .test).examples[0].mc)
        #expect(arc.id == "Mercury_7175875")
        #expect(arc.choices.count == 4 && arc.choices[2] == "Planetary days will become shorter.")
        #expect(arc.answerIndex == 2)

        let numeric = try #require(try DatasetFixtures.load(.arcChallenge, .test).examples[44].mc)
        #expect(numeric.id == "NYSEDREGENTS_2008_8_34")
        #expect(numeric.choiceLabels == ["1", "2", "3", "4"] && numeric.answerIndex == 1)

        let obqa = try #require(try DatasetFixtures.load(.openBookQA, .validation).examples[0].mc)
        #expect(obqa.id == "8-376" && obqa.choices == ["Deep sea animals", "fish", "Long Sea Fish", "Far Sea Animals"])
        #expect(obqa.question.hasPrefix("Frilled sharks and angler fish") && obqa.answerIndex == 0)

        let boolq = try #require(try DatasetFixtures.load(.boolQ, .validation).examples[0].cls)
        #expect(boolq.text == "does ethanol take more energy make that produces" && boolq.label == 0)
        #expect(boolq.pair?.hasPrefix("All biomass goes through") == true)

        let wg = try #require(try DatasetFixtures.load(.winoGrande, .validation).examples[0].mc)
        #expect(wg.question == "Sarah was a much better surgeon than Maria so _ always got the easier cases.")
        #expect(wg.choices == ["Sarah", "Maria"] && wg.answerIndex == 1)

        let sst = try #require(try DatasetFixtures.load(.sst2, .validation).examples[0].cls)
        #expect(sst.text == "it 's a charming and often affecting journey . " && sst.label == 1 && sst.pair == nil)
        // test-labeled.tsv has CRLF line ends: the \r must not end up in the label column.
        let sstTest = try #require(try DatasetFixtures.load(.sst2, .test).examples[0].cls)
        #expect(sstTest.text == "uneasy mishmash of styles and genres ." && sstTest.label == 0)

        let cola = try DatasetFixtures.load(.cola, .validation)
        let colaFirst = try #require(cola.examples[0].cls)
        #expect(colaFirst.text == "The sailors rode the breeze clear of the rocks." && colaFirst.label == 1)
        // The out-of-domain file follows the in-domain one (GLUE dev order).
        #expect(try #require(cola.examples[527].cls).text == "Somebody just left - guess who.")

        let mrpc = try #require(try DatasetFixtures.load(.mrpc, .validation).examples[0].cls)
        #expect(mrpc.id == "1355540-1355592" && mrpc.label == 1)
        #expect(
            mrpc.text == "He said the foodservice pie business doesn't fit the company's long-term growth strategy.")

        let rte = try #require(try DatasetFixtures.load(.rte, .validation).examples[0].cls)
        #expect(rte.id == "0" && rte.label == 1 && rte.pair == "Christopher Reeve had an accident.")
        #expect(rte.labelNames == ["entailment", "not_entailment"])
    }

    @Test func splitsATaskDoesNotHaveAreErrorsListingTheAvailableOnes() throws {
        let e = try #require(DatasetFixtures.loadError { _ = try DatasetFixtures.load(.boolQ, .train) })
        #expect(e.kind == .unsupported && e.message.contains("available splits: validation"))
        let rte = try #require(DatasetFixtures.loadError { _ = try DatasetFixtures.load(.rte, .test) })
        #expect(rte.message.contains("-1") && rte.message.contains("train, validation"))
        let cola = try #require(DatasetFixtures.loadError { _ = try DatasetFixtures.load(.cola, .test) })
        #expect(cola.message.contains("available splits: train, validation"))
    }

    @Test func taskNamesRoundTrip() {
        #expect(
            TaskName.allCases.map(\.rawValue) == [
                "arc-c", "arc-e", "obqa", "boolq", "winogrande", "sst2", "cola", "mrpc", "rte",
            ])
        #expect(TaskName(rawValue: "obqa") == .openBookQA)
        #expect(TaskName.allCases.allSatisfy { !$0.humanDescription.isEmpty })
    }
}
