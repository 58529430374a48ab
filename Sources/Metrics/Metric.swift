/// The scalar metrics bayeval reports; each can be bootstrapped (`Bootstrap`). Raw values are the keys
/// used in `run.json`.
public enum Metric: String, CaseIterable, Codable, Sendable {
    /// Fraction of examples whose top label (argmax, ties to the lowest index) is the true label.
    case accuracy
    /// Top-label ECE, L1: Σ_b (n_b / n)·|acc_b − conf_b| over `Binning`'s bins (torchmetrics
    /// `MulticlassCalibrationError(norm="l1")`).
    case ece
    /// Top-label MCE: max over non-empty bins of |acc_b − conf_b| (torchmetrics norm="max").
    case mce
    /// Classwise ECE: (1/K) Σ_k ECE_k, where ECE_k is the L1 ECE of the one-vs-rest pairs
    /// (confidence p_ik, event 1[y_i = k]) over all n examples, with the same bins as `ece`
    /// (Σ_b (n_kb / n)·|mean_b 1[y = k] − mean_b p_k|; bins empty for class k contribute 0). Equals the mean over
    /// k of torchmetrics `binary_calibration_error(p[:, k], y == k)`.
    case classwiseECE = "classwise_ece"
    /// Mean over examples of −log max(p(y), `nllProbabilityFloor`).
    case nll
    /// Mean over examples of Σ_k (p_k − 1[k = y])².
    case brier
    /// Mean top-label confidence (max_k p_k).
    case meanConfidence = "mean_confidence"

    /// The metric on all examples. `binning` matters only to the calibration errors.
    public func value(of predictions: Predictions, binning: Binning = .standard) -> Double {
        var totals = BinTotals(binning: binning)
        return Kernel.evaluate(self, predictions, 0..<predictions.count, binning, &totals)
    }
}

public func accuracy(_ p: Predictions) -> Double { Kernel.accuracy(p, 0..<p.count) }
public func negativeLogLikelihood(_ p: Predictions) -> Double { Kernel.nll(p, 0..<p.count) }
public func brierScore(_ p: Predictions) -> Double { Kernel.brier(p, 0..<p.count) }
public func meanConfidence(_ p: Predictions) -> Double { Kernel.meanConfidence(p, 0..<p.count) }

public func expectedCalibrationError(_ p: Predictions, binning: Binning = .standard) -> Double {
    Metric.ece.value(of: p, binning: binning)
}

public func maximumCalibrationError(_ p: Predictions, binning: Binning = .standard) -> Double {
    Metric.mce.value(of: p, binning: binning)
}

public func classwiseExpectedCalibrationError(_ p: Predictions, binning: Binning = .standard) -> Double {
    Metric.classwiseECE.value(of: p, binning: binning)
}
