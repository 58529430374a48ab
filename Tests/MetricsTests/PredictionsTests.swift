import Testing
@testable import Metrics

@Suite struct PredictionsTests {
    @Test func validatesItsInput() throws {
        #expect(try Predictions(probabilities: [0.2, 0.8, 1, 0], labels: [1, 0], classCount: 2).count == 2)
        #expect(throws: Predictions.Problem.empty) { try Predictions(probabilities: [], labels: [], classCount: 2) }
        #expect(throws: Predictions.Problem.shape(expected: 4, got: 3)) {
            try Predictions(probabilities: [0.5, 0.5, 1], labels: [0, 1], classCount: 2)
        }
        #expect(throws: Predictions.Problem.labelOutOfRange(row: 0, label: 2, classes: 2)) {
            try Predictions(probabilities: [0.5, 0.5], labels: [2], classCount: 2)
        }
        #expect(throws: Predictions.Problem.notFinite(row: 0)) {
            try Predictions(probabilities: [.nan, 1], labels: [0], classCount: 2)
        }
        #expect(throws: Predictions.Problem.negative(row: 0)) {
            try Predictions(probabilities: [-0.1, 1.1], labels: [0], classCount: 2)
        }
        #expect(throws: Predictions.Problem.notNormalised(row: 0, sum: 0.9)) {
            try Predictions(probabilities: [0.4, 0.5], labels: [0], classCount: 2)
        }
    }

    /// Mixed choice counts are padded with zero-probability classes; the metrics see the same predictions.
    @Test func raggedChoicesArePaddedWithZeros() throws {
        let p = try Predictions(ragged: [[0.7, 0.3], [0.1, 0.2, 0.7]], labels: [0, 2])
        #expect(p.classCount == 3 && p.probabilities == [0.7, 0.3, 0, 0.1, 0.2, 0.7])
        #expect(Metric.accuracy.value(of: p) == 1)
        #expect(throws: (any Error).self) { try Predictions(ragged: [[0.5, 0.5]], labels: [2]) }
    }
}
