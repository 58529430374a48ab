/// The bisection TFB uses to find σ: the largest σ in [σ_min, σ_max] whose criterion (the change the
/// posterior makes to the model's own predictions on the anchor set) stays within the tolerance.
public struct SigmaSearch: Sendable {
    public enum Rule: String, Sendable, Codable {
        /// Returns the largest midpoint that met the tolerance (σ_min when none did).
        case largestAccepted = "largest-accepted"
        /// bayesian-peft exactly: returns the last midpoint that violated the tolerance, or σ_max when
        /// none did (the upper end of the final bracket).
        case upstream
    }

    public struct Step: Sendable, Codable, Equatable {
        public let sigma: Double
        public let value: Double
        public let accepted: Bool
    }

    public struct Result: Sendable, Codable, Equatable {
        public let sigma: Double
        public let steps: [Step]
        /// False when no step met the tolerance (σ is then σ_min, or σ_max under the upstream rule).
        public let anyAccepted: Bool
    }

    public var minimum: Double
    public var maximum: Double
    public var steps: Int
    public var tolerance: Double
    public var rule: Rule
    /// bayesian-peft's accuracy variant also stops once the bracket is narrower than this (0: never).
    public var minimumWidth: Double

    public init(
        minimum: Double = 0.001, maximum: Double = 0.015, steps: Int = 5, tolerance: Double,
        rule: Rule = .largestAccepted, minimumWidth: Double = 0
    ) {
        self.minimum = minimum
        self.maximum = maximum
        self.steps = steps
        self.tolerance = tolerance
        self.rule = rule
        self.minimumWidth = minimumWidth
    }

    /// `criterion(σ)` is evaluated once per step; `report` sees each step as it completes.
    public func run(_ criterion: (Double) throws -> Double, report: (Step) -> Void = { _ in }) rethrows -> Result {
        var low = minimum, high = maximum
        var accepted: Double? = nil
        var lastViolation: Double? = nil
        var record: [Step] = []
        for _ in 0..<steps {
            let mid = (low + high) / 2
            let value = try criterion(mid)
            // NaN never meets a tolerance.
            let ok = value <= tolerance
            let step = Step(sigma: mid, value: value, accepted: ok)
            record.append(step)
            report(step)
            if ok { accepted = mid; low = mid } else { lastViolation = mid; high = mid }
            if minimumWidth > 0 && high - low < minimumWidth { break }
        }
        switch rule {
        case .largestAccepted:
            return Result(sigma: accepted ?? minimum, steps: record, anyAccepted: accepted != nil)
        case .upstream:
            return Result(sigma: lastViolation ?? maximum, steps: record, anyAccepted: accepted != nil)
        }
    }
}
