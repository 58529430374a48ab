import Testing
@testable import Metrics

/// Every metric against the torchmetrics / numpy values in fixtures/metrics, to 1e-6, for 1, 5, 10, 15, 20 bins.
@Suite struct ReferenceTests {
    @Test(arguments: Fixture.probabilitySets)
    func matchesNumpyAndTorchmetrics(_ name: String) throws {
        let set = try Fixture.load(name, as: ProbabilitySet.self)
        let p = try set.predictions()
        #expect(set.expected.count == 5)
        for e in set.expected {
            let binning = try Binning(count: e.bins)
            let report = MetricReport(p, binning: binning)
            #expect(close(report.accuracy, e.accuracy), "\(name) accuracy")
            #expect(close(report.nll, e.nll), "\(name) nll")
            if let plain = e.nllUnclamped { #expect(close(report.nll, plain), "\(name) nll without floor") }
            #expect(close(report.brier, e.brier), "\(name) brier")
            #expect(close(report.meanConfidence, e.meanConfidence), "\(name) mean confidence")
            #expect(close(report.ece, e.ece), "\(name) ece, \(e.bins) bins")
            #expect(close(report.mce, e.mce), "\(name) mce, \(e.bins) bins")
            #expect(close(report.classwiseECE, e.classwiseECE), "\(name) classwise ece, \(e.bins) bins")
            #expect(close(report.accuracy, e.torchmetrics["accuracy"] ?? .nan), "\(name) torchmetrics accuracy")
            for (key, ours) in [("ece", report.ece), ("mce", report.mce), ("classwise_ece", report.classwiseECE)]
            where e.torchmetricsWithin[key] == true {
                #expect(close(ours, e.torchmetrics[key] ?? .nan), "\(name) torchmetrics \(key), \(e.bins) bins")
            }
            #expect(report.reliability.count == e.bins + 1)
            for (ours, ref) in zip(report.reliability, e.reliability) {
                #expect(ours.lower == ref.lower && ours.upper == ref.upper && ours.count == ref.count)
                #expect(close(ours.meanConfidence, ref.meanConfidence) && close(ours.accuracy, ref.accuracy))
            }
        }
    }

    /// The edge sets are built so REFERENCE.md's "(lo, hi]" rule gives another ECE than torchmetrics' [lo, hi):
    /// matching them at these bin counts pins the rule, not just the arithmetic.
    @Test(arguments: [("edges_b15_k2", 15), ("edges_b10_k4", 10), ("edges_b15_k4", 15)])
    func edgeSetsDiscriminateTheBinningRule(_ name: String, _ bins: Int) throws {
        let set = try Fixture.load(name, as: ProbabilitySet.self)
        let e = try #require(set.expected.first { $0.bins == bins })
        #expect(abs(e.ece - e.eceLoHiClosedRule) > 1e-3)
        #expect(close(expectedCalibrationError(try set.predictions(), binning: try Binning(count: bins)), e.ece))
    }
}
