/// Everything bayeval reports about one set of predictions; what the CLI prints and writes to `run.json`.
public struct MetricReport: Sendable, Equatable, Codable {
    public let count: Int
    public let classCount: Int
    public let bins: Int
    public let accuracy: Double
    public let ece: Double
    public let mce: Double
    public let classwiseECE: Double
    public let nll: Double
    public let brier: Double
    public let meanConfidence: Double
    /// B + 1 bars, see `reliabilityDiagram`.
    public let reliability: [ReliabilityBin]

    enum CodingKeys: String, CodingKey {
        case count = "n", classCount = "classes", bins, accuracy, ece, mce
        case classwiseECE = "classwise_ece", nll, brier
        case meanConfidence = "mean_confidence", reliability
    }

    public init(_ p: Predictions, binning: Binning = .standard) {
        count = p.count
        classCount = p.classCount
        bins = binning.count
        accuracy = Metric.accuracy.value(of: p)
        ece = Metric.ece.value(of: p, binning: binning)
        mce = Metric.mce.value(of: p, binning: binning)
        classwiseECE = Metric.classwiseECE.value(of: p, binning: binning)
        nll = Metric.nll.value(of: p)
        brier = Metric.brier.value(of: p)
        meanConfidence = Metric.meanConfidence.value(of: p)
        reliability = reliabilityDiagram(p, binning: binning)
    }

    /// The value of one metric, by case.
    public subscript(metric: Metric) -> Double {
        switch metric {
        case .accuracy: accuracy
        case .ece: ece
        case .mce: mce
        case .classwiseECE: classwiseECE
        case .nll: nll
        case .brier: brier
        case .meanConfidence: meanConfidence
        }
    }
}
