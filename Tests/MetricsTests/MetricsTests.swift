import Foundation
import Testing
@testable import Metrics

@Suite struct MetricsTests {
    /// Hand-computed, 15 bins. Confidences 0.7 (bin 10), 0.8 (exactly edge 12: bin 12 under [lo, hi), it would
    /// be bin 11 under (lo, hi]) and 0.4 (exactly edge 6: bin 6).
    @Test func threeExamplesByHand() throws {
        let p = try Predictions(
            probabilities: [0.7, 0.2, 0.1, 0.1, 0.8, 0.1, 0.3, 0.3, 0.4], labels: [0, 2, 2], classCount: 3)
        #expect(close(accuracy(p), 2.0 / 3, 1e-15))
        #expect(close(expectedCalibrationError(p), (0.3 + 0.8 + 0.6) / 3, 1e-15))
        #expect(close(maximumCalibrationError(p), 0.8, 1e-15))
        // class 0: (0.3 + 0.1 + 0.3)/3; class 1: (0.2 + 0.8 + 0.3)/3; class 2: 0.1 and 0.1 share bin 1 → 0.8, + 0.6.
        #expect(close(classwiseExpectedCalibrationError(p), (0.7 + 1.3 + 1.4) / 9, 1e-15))
        #expect(close(negativeLogLikelihood(p), -(log(0.7) + log(0.1) + log(0.4)) / 3, 1e-15))
        #expect(close(brierScore(p), (0.14 + 1.46 + 0.54) / 3, 1e-15))
        #expect(close(meanConfidence(p), (0.7 + 0.8 + 0.4) / 3, 1e-15))
        let bars = reliabilityDiagram(p)
        #expect(bars.count == 16)
        #expect(bars.enumerated().filter { $0.element.count > 0 }.map(\.offset) == [6, 10, 12])
        #expect(bars[12].lower == 0.8 && bars[12].accuracy == 0 && bars[12].meanConfidence == 0.8)
        #expect(bars[15].lower == 1 && bars[15].upper == 1 && bars[15].count == 0)
    }

    @Test func perfectCalibrationHasZeroECE() throws {
        // Per bin, the fraction correct equals the confidence: 4 × 0.75 (3 right), 5 × 0.6 (3 right), 2 × 1.0.
        let confs: [(Double, Bool)] = [
            (0.75, true), (0.75, true), (0.75, true), (0.75, false),
            (0.6, true), (0.6, true), (0.6, true), (0.6, false), (0.6, false), (1, true), (1, true),
        ]
        let p = try Predictions(
            probabilities: confs.flatMap { [$0.0, 1 - $0.0] }, labels: confs.map { $0.1 ? 0 : 1 }, classCount: 2)
        for bins in [1, 10, 15] {
            let binning = try Binning(count: bins)
            #expect(expectedCalibrationError(p, binning: binning) < 1e-12)
        }
        // With 10 or 15 bins every bin is perfect, so the MCE is 0 too (one bin would not be: 1 ≠ its confidence).
        #expect(maximumCalibrationError(p, binning: try Binning(count: 15)) < 1e-12)
    }

    @Test func pointBinForConfidenceOne() throws {
        // torchmetrics: 0.95 right and 1.0 wrong are separate bins → (0.05 + 1) / 2, not |1 − 1.95| / 2.
        let p = try Predictions(probabilities: [0.95, 0.05, 1, 0], labels: [0, 1], classCount: 2)
        #expect(close(expectedCalibrationError(p), 0.525, 1e-15))
        #expect(close(maximumCalibrationError(p), 1, 1e-15))
        #expect(reliabilityDiagram(p).last?.count == 1)
    }

    @Test func tiesGoToTheLowestIndex() throws {
        let p = try Predictions(
            probabilities: [0.25, 0.25, 0.25, 0.25, 0.1, 0.45, 0.45, 0], labels: [0, 2], classCount: 4)
        #expect(accuracy(p) == 0.5)
    }

    @Test func nllFloorsZeroProbability() throws {
        let p = try Predictions(probabilities: [1, 0, 0.5, 0.5], labels: [1, 0], classCount: 2)
        #expect(close(negativeLogLikelihood(p), (-log(1e-12) - log(0.5)) / 2, 1e-15))
        #expect(negativeLogLikelihood(p).isFinite)
    }

    @Test func binsMustBePositive() throws {
        #expect(throws: Binning.Problem.tooFewBins(0)) { try Binning(count: 0) }
        #expect(throws: Binning.Problem.tooFewBins(-3)) { try Binning(count: -3) }
        #expect(try Binning(count: 1).edges == [0, 1])
        #expect(Binning.standard.count == 15)
    }

    @Test func edgesAreTorchLinspaceBitForBit() throws {
        struct Edges: Decodable { let edges: [String: [Double]] }
        let reference = try Fixture.load("edges", as: Edges.self).edges
        #expect(reference.count == 100)
        for (key, edges) in reference {
            let binning = try Binning(count: try #require(Int(key)))
            #expect(binning.edges == edges, "\(key) bins")
            // A confidence exactly on edge b belongs to bin b ([lo, hi)); 1 to the point bin.
            for (b, edge) in edges.enumerated() { #expect(binning.index(of: edge) == b) }
            for b in 0..<binning.count { #expect(binning.index(of: edges[b + 1].nextDown) == b) }
        }
    }

    @Test func reportRoundTripsThroughJSON() throws {
        let set = try Fixture.load("k4_n7", as: ProbabilitySet.self)
        let report = MetricReport(try set.predictions(), binning: try Binning(count: 10))
        let data = try JSONEncoder().encode(report)
        #expect(try JSONDecoder().decode(MetricReport.self, from: data) == report)
        let keys = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any]).keys
        #expect(
            Set(keys) == [
                "n", "classes", "bins", "accuracy", "ece", "mce", "classwise_ece", "nll", "brier",
                "mean_confidence", "reliability",
            ])
        for metric in Metric.allCases {
            #expect(report[metric] == metric.value(of: try set.predictions(), binning: try Binning(count: 10)))
        }
    }
}
