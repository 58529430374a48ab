import Testing
@testable import Metrics

@Suite struct BootstrapTests {
    @Test func splitMix64MatchesReference() throws {
        let f = try Fixture.load("bootstrap", as: BootstrapFixture.self)
        var g = SplitMix64(seed: 0)
        #expect((0..<5).map { _ in g.next() } == f.splitmix)
        #expect(f.splitmix.first == 0xE220_A839_7B1D_CDAF)  // the published first output for seed 0
        var h = SplitMix64(seed: 1)
        #expect((0..<10).map { _ in h.next(below: 7) } == f.below7)
    }

    /// Draws, replicates and percentile interval against the script's independent Python implementation.
    @Test func matchesPythonReimplementation() throws {
        let f = try Fixture.load("bootstrap", as: BootstrapFixture.self)
        let p = try Fixture.load("k5_n1000", as: ProbabilitySet.self).predictions()
        var rng = SplitMix64.stream(0, of: f.seed)
        #expect(f.firstRows.map { _ in Int(rng.next(below: UInt64(p.count))) } == f.firstRows)
        let bootstrap = try Bootstrap(resamples: f.resamples, level: f.level, seed: f.seed)
        let binning = try Binning(count: f.bins)
        for (name, ref) in f.metrics {
            let metric = try #require(Metric(rawValue: name))
            let reps = bootstrap.replicates(of: metric, for: p, binning: binning)
            for (a, b) in zip(reps, ref.firstReplicates) { #expect(close(a, b), "\(name) replicate") }
            let ci = bootstrap.interval(of: metric, for: p, binning: binning)
            #expect(close(ci.lower, ref.lower) && close(ci.upper, ref.upper), "\(name) interval")
        }
    }

    @Test func sameSeedSameResultForAnyThreadCount() throws {
        let p = try Fixture.load("k4_n1000_overconfident", as: ProbabilitySet.self).predictions()
        let bootstrap = try Bootstrap(resamples: 101, seed: 7)
        for metric in Metric.allCases {
            let one = bootstrap.replicates(of: metric, for: p, threads: 1)
            for threads in [2, 3, 8, 500] { #expect(bootstrap.replicates(of: metric, for: p, threads: threads) == one) }
            #expect(
                bootstrap.interval(of: metric, for: p, threads: 4) == bootstrap.interval(of: metric, for: p, threads: 1)
            )
        }
        let other = try Bootstrap(resamples: 101, seed: 8).replicates(of: .accuracy, for: p)
        #expect(other != bootstrap.replicates(of: .accuracy, for: p))
    }

    @Test func intervalContainsTheEstimate() throws {
        let p = try Fixture.load("k5_n1000", as: ProbabilitySet.self).predictions()
        let bootstrap = try Bootstrap(seed: 2024)
        for metric in [Metric.accuracy, .nll, .brier, .meanConfidence] {
            let ci = bootstrap.interval(of: metric, for: p)
            #expect(ci.resamples == 1000 && ci.level == 0.95)
            #expect(ci.lower < ci.estimate && ci.estimate < ci.upper, "\(metric)")
            #expect(ci.estimate == metric.value(of: p))
        }
    }

    @Test func validatesParameters() {
        #expect(throws: Bootstrap.Problem.tooFewResamples(0)) { try Bootstrap(resamples: 0) }
        #expect(throws: Bootstrap.Problem.levelOutOfRange(1)) { try Bootstrap(level: 1) }
        #expect(throws: Bootstrap.Problem.levelOutOfRange(0)) { try Bootstrap(level: 0) }
    }

    @Test func quantileInterpolatesLikeNumpy() {
        // numpy.quantile([1, 2, 4, 8], [0.25, 0.5, 1]) == [1.75, 3, 8]
        #expect(Bootstrap.quantile([1, 2, 4, 8], 0.25) == 1.75)
        #expect(Bootstrap.quantile([1, 2, 4, 8], 0.5) == 3)
        #expect(Bootstrap.quantile([1, 2, 4, 8], 1) == 8)
        #expect(Bootstrap.quantile([5], 0.025) == 5)
    }
}
