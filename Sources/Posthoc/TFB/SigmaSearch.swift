/// The search TFB uses to find σ: the largest σ whose criterion (the change the posterior makes to the
/// model's own predictions on the anchor set) stays within the tolerance.
///
/// bayesian-peft bisects linearly inside a fixed bracket [σ_min, σ_max] (`Bracket.fixed`). That silently
/// returns σ_min when small models violate the tolerance already there (SmolLM2 on SST-2 changes its anchor
/// NLL 2 % at σ = 0.0019). The corrected default (`Bracket.expanding`) brackets itself first: when σ_min is
/// violated it steps down geometrically (to `floor`) until a σ is accepted; when σ_max is accepted it steps
/// up (to `ceiling`) until one is violated; then it bisects on a log scale, since σ spans decades.
public struct SigmaSearch: Sendable {
    public enum Bracket: String, Sendable, Codable {
        /// bayesian-peft: linear bisection inside [σ_min, σ_max] as given.
        case fixed
        /// Widen [σ_min, σ_max] geometrically until it holds the boundary, then bisect log σ.
        case expanding
    }

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
    public var bracket: Bracket
    /// The expanding bracket's limits and the ratio of its geometric steps.
    public var floor = 1e-6
    public var ceiling = 1.0
    public var stepFactor = 4.0

    public init(
        minimum: Double = 0.001, maximum: Double = 0.015, steps: Int = 5, tolerance: Double,
        rule: Rule = .largestAccepted, minimumWidth: Double = 0, bracket: Bracket = .fixed
    ) {
        self.bracket = bracket
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
        func evaluate(_ sigma: Double) throws -> Bool {
            let value = try criterion(sigma)
            // NaN never meets a tolerance.
            let ok = value <= tolerance
            let step = Step(sigma: sigma, value: value, accepted: ok)
            record.append(step)
            report(step)
            if ok { accepted = max(accepted ?? 0, sigma) } else { lastViolation = sigma }
            return ok
        }
        if bracket == .expanding {
            if try !evaluate(low) {
                repeat {
                    high = low
                    low /= stepFactor
                    // Nothing accepted down to the floor: the smallest σ tried, reported as violated.
                    if low < floor { return Result(sigma: high, steps: record, anyAccepted: false) }
                } while try !evaluate(low)
            } else if try evaluate(high) {
                repeat {
                    low = high
                    high *= stepFactor
                    if high > ceiling { return Result(sigma: low, steps: record, anyAccepted: true) }
                } while try evaluate(high)
            }
        }
        for _ in 0..<steps {
            let mid = bracket == .expanding ? (low * high).squareRoot() : (low + high) / 2
            if try evaluate(mid) { low = mid } else { high = mid }
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
