import Foundation
import Testing
@testable import Metrics

/// Temperature scaling and risk–coverage against scipy / numpy (fixtures/metrics/selective.json, written by
/// scripts/make_selective_fixtures.py), and the paired bootstrap's defining properties.
@Suite struct SelectiveTests {
    struct Reference: Decodable {
        let temperature: Double
        let nll_before: Double
        let nll_after: Double
        let risks: [Double]
        let aurc: Double
    }

    static let references: [String: Reference] = try! Fixture.load("selective")

    func rows(_ set: ProbabilitySet) -> [[Double]] {
        (0..<set.labels.count).map { Array(set.probabilities[($0 * set.classes)..<(($0 + 1) * set.classes)]) }
    }

    @Test(arguments: ["k4_n7", "k5_n1000", "k4_n1000_overconfident"])
    func temperatureMatchesScipy(_ name: String) throws {
        let set: ProbabilitySet = try Fixture.load(name)
        let reference = Self.references[name]!
        let fit = try TemperatureScaling.fit(probabilities: rows(set), labels: set.labels)
        // Brent's xatol 1e-12 on log T against an exact root of f'; the NLLs differ only by scipy's
        // log_softmax round-off (3e-13 relative).
        #expect(abs(fit.temperature / reference.temperature - 1) < 1e-6, "T \(fit.temperature)")
        #expect(abs(fit.nllBefore / reference.nll_before - 1) < 1e-11)
        #expect(abs(fit.nllAfter / reference.nll_after - 1) < 1e-11)
        #expect(!fit.atBound)
    }

    @Test func uniformRowsAreLeftAsTheyAre() throws {
        let set: ProbabilitySet = try Fixture.load("k5_n1000_uniform")
        let fit = try TemperatureScaling.fit(probabilities: rows(set), labels: set.labels)
        #expect(abs(fit.nllAfter - fit.nllBefore) < 1e-12)
    }

    @Test func applyingTheTemperatureDividesTheLogits() {
        let logits = [1.0, -0.5, 2.0]
        let p = logits.map { exp($0) }.map { $0 / logits.map(exp).reduce(0, +) }
        let scaled = TemperatureScaling.apply(temperature: 2, to: p)
        let expected = logits.map { exp($0 / 2) }.map { $0 / logits.map { exp($0 / 2) }.reduce(0, +) }
        #expect(zip(scaled, expected).allSatisfy { abs($0 - $1) < 1e-12 })
    }

    @Test func refusesFitDataTheModelGetsAllRight() {
        // The case that once fitted T = 0.0012 on 16 SST-2 sentences and made the test NLL 5.2.
        let rows = [[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]]
        #expect(throws: TemperatureScaling.Problem.separable(examples: 3)) {
            try TemperatureScaling.fit(probabilities: rows, labels: [0, 1, 0])
        }
        // One error makes the optimum finite and interior.
        let fit = try? TemperatureScaling.fit(probabilities: rows + [[0.7, 0.3]], labels: [0, 1, 0, 1])
        #expect(fit.map { !$0.atBound && $0.temperature > 0.1 } == true)
    }

    @Test func refusesBadRows() {
        #expect(throws: TemperatureScaling.Problem.empty) { try TemperatureScaling.fit(probabilities: [], labels: []) }
        #expect(throws: TemperatureScaling.Problem.shape(row: 1)) {
            try TemperatureScaling.fit(probabilities: [[0.5, 0.5], [0.5, 0.5]], labels: [0, 2])
        }
    }

    @Test(arguments: ["k4_n7", "k5_n1000", "k4_n1000_overconfident", "k5_n1000_uniform"])
    func riskCoverageMatchesNumpy(_ name: String) throws {
        let set: ProbabilitySet = try Fixture.load(name)
        let reference = Self.references[name]!
        let p = try Predictions(probabilities: set.probabilities, labels: set.labels, classCount: set.classes)
        let curve = RiskCoverage(p)
        #expect(curve.risks.count == reference.risks.count)
        #expect(zip(curve.risks, reference.risks).allSatisfy { abs($0 - $1) < 1e-15 })
        #expect(abs(curve.aurc - reference.aurc) < 1e-12)
        let points = curve.points(count: 10)
        #expect(points.last!.coverage == 1 && points.count <= 11)
    }

    /// Paired differences: a method against itself differs by exactly 0 on every resample; against a
    /// shifted copy the interval holds the observed change, and is narrower than the unpaired intervals'
    /// difference would suggest because the shared examples cancel.
    @Test func pairedBootstrapOfADifference() throws {
        let set: ProbabilitySet = try Fixture.load("k5_n1000")
        let p = try Predictions(probabilities: set.probabilities, labels: set.labels, classCount: set.classes)
        let tempered = try Predictions(
            ragged: rows(set).map { TemperatureScaling.apply(temperature: 1.39, to: $0) }, labels: set.labels)
        let b = try Bootstrap(resamples: 300, seed: 5)
        let zero = b.difference(of: .nll, candidate: p, baseline: p)
        #expect(zero.estimate == 0 && zero.lower == 0 && zero.upper == 0)
        let d = b.difference(of: .nll, candidate: tempered, baseline: p, threads: 1)
        #expect(abs(d.estimate - (Metric.nll.value(of: tempered) - Metric.nll.value(of: p))) < 1e-12)
        #expect(d.lower <= d.estimate && d.estimate <= d.upper && d.upper < 0)
        // The same interval whatever the worker count.
        let threaded = b.difference(of: .nll, candidate: tempered, baseline: p, threads: 3)
        #expect(threaded.lower == d.lower && threaded.upper == d.upper)
        let single = b.interval(of: .nll, for: p)
        #expect(d.upper - d.lower < (single.upper - single.lower) / 2)
    }
}
