import Foundation
@testable import Metrics

/// Reference values written by scripts/make_metrics_fixtures.py (torchmetrics / numpy); tests never run Python.
enum Fixture {
    /// fixtures/metrics, found from this file's path (no SwiftPM resources).
    static let directory: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("fixtures/metrics")

    static let probabilitySets = [
        "k2_n1", "k4_n7", "k5_n1000", "k4_n1000_overconfident", "k4_n7_uniform", "k5_n1000_uniform",
        "edges_b15_k2", "edges_b10_k4", "edges_b15_k4",
    ]

    static func load<T: Decodable>(_ name: String, as type: T.Type = T.self) throws -> T {
        let data = try Data(contentsOf: directory.appendingPathComponent("\(name).json"))
        return try JSONDecoder().decode(T.self, from: data)
    }
}

struct ProbabilitySet: Decodable {
    let name: String
    let classes: Int
    let probabilities: [Double]
    let labels: [Int]
    let expected: [Expected]

    struct Expected: Decodable {
        let bins: Int
        let accuracy, nll, brier, ece, mce: Double
        let meanConfidence, classwiseECE: Double
        let nllUnclamped: Double?
        let reliability: [ReliabilityBin]
        /// torchmetrics as users run it (float32 confidences inside), by metric.
        let torchmetrics: [String: Double]
        /// Whether that float32 value lands within 1e-6 of the float64 rule (same bins, little float32 drift).
        let torchmetricsWithin: [String: Bool]
        let eceLoHiClosedRule: Double

        enum CodingKeys: String, CodingKey {
            case bins, accuracy, nll, brier, ece, mce, reliability, torchmetrics
            case meanConfidence = "mean_confidence", classwiseECE = "classwise_ece"
            case nllUnclamped = "nll_unclamped", torchmetricsWithin = "torchmetrics_within_1e-6"
            case eceLoHiClosedRule = "ece_lo_hi_closed_rule"
        }
    }

    func predictions() throws -> Predictions {
        try Predictions(probabilities: probabilities, labels: labels, classCount: classes)
    }
}

struct BootstrapFixture: Decodable {
    let seed: UInt64
    let resamples: Int
    let level: Double
    let bins: Int
    let firstRows: [Int]
    let splitmix: [UInt64]
    let below7: [UInt64]
    let metrics: [String: Replicates]

    struct Replicates: Decodable {
        let firstReplicates: [Double]
        let lower, upper: Double
        enum CodingKeys: String, CodingKey {
            case lower, upper, firstReplicates = "first_replicates"
        }
    }

    enum CodingKeys: String, CodingKey {
        case seed, resamples, level, bins, metrics
        case firstRows = "first_rows_of_resample_0", splitmix = "splitmix64_seed0_first5"
        case below7 = "below_7_seed1_first10"
    }
}

func close(_ a: Double, _ b: Double, _ tolerance: Double = 1e-6) -> Bool { abs(a - b) <= tolerance }
