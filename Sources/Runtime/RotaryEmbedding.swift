import Foundation
import Loaders

/// Rotary position embedding in the Hugging Face "rotate half" layout: dimension i pairs with i + d/2.
/// Inverse frequencies follow transformers' default, linear and llama3 rope types; cos/sin tables grow
/// on demand and are shared by all layers.
public final class RotaryEmbedding: @unchecked Sendable {
    public let headDimension: Int
    let inverseFrequencies: [Double]
    private(set) var cosTable: [Float] = []
    private(set) var sinTable: [Float] = []
    private(set) var positions = 0
    private let lock = NSLock()

    public init(headDimension d: Int, config: RoPEConfig) {
        headDimension = d
        var inv = (0..<(d / 2)).map { i in 1 / pow(config.theta, Double(2 * i) / Double(d)) }
        switch config.scaling {
        case .none:
            break
        case .linear(let factor):
            inv = inv.map { $0 / factor }
        case .llama3(let factor, let low, let high, let original):
            // Long wavelengths are slowed by `factor`, short ones kept, the band between interpolated.
            let lowWavelength = Double(original) / low
            let highWavelength = Double(original) / high
            inv = inv.map { f in
                let wavelength = 2 * Double.pi / f
                if wavelength < highWavelength { return f }
                if wavelength > lowWavelength { return f / factor }
                let smooth = (Double(original) / wavelength - low) / (high - low)
                return (1 - smooth) * f / factor + smooth * f
            }
        case .frequencyDivisors(let divisors):
            // Loaders check one divisor per rotary pair; a mismatch here is a programming error.
            precondition(divisors.count == inv.count, "\(divisors.count) rope divisors for \(inv.count) frequencies")
            inv = zip(inv, divisors).map { $0 / $1 }
        }
        // transformers keeps inv_freq in float32; round here so angles match it.
        inverseFrequencies = inv.map { Double(Float($0)) }
    }

    /// Makes sure tables cover positions 0..<count.
    public func reserve(_ count: Int) {
        lock.lock(); defer { lock.unlock() }
        guard count > positions else { return }
        let half = headDimension / 2
        var c = cosTable, s = sinTable
        c.reserveCapacity(count * half); s.reserveCapacity(count * half)
        for p in positions..<count {
            for i in 0..<half {
                let angle = Double(Float(Double(p) * inverseFrequencies[i]))
                c.append(Float(cos(angle))); s.append(Float(sin(angle)))
            }
        }
        cosTable = c; sinTable = s; positions = count
    }

    /// Rotates `heads` heads of one token in place; `position` must be reserved. `inverse` rotates by
    /// −angle instead: the backward of the rotation, since rotations are orthogonal.
    @inline(__always)
    public func apply(
        _ x: UnsafeMutablePointer<Float>, heads: Int, position: Int,
        cos: UnsafePointer<Float>, sin: UnsafePointer<Float>, inverse: Bool = false
    ) {
        let half = headDimension / 2
        let c = cos + position * half, s = sin + position * half
        let sign: Float = inverse ? -1 : 1
        for h in 0..<heads {
            let v = x + h * headDimension
            for i in 0..<half {
                let a = v[i], b = v[i + half], si = sign * s[i]
                v[i] = a * c[i] - b * si
                v[i + half] = b * c[i] + a * si
            }
        }
    }

    /// Applies `body` with stable pointers to the tables.
    public func withTables<R>(_ body: (UnsafePointer<Float>, UnsafePointer<Float>) -> R) -> R {
        cosTable.withUnsafeBufferPointer { c in
            sinTable.withUnsafeBufferPointer { s in body(c.baseAddress!, s.baseAddress!) }
        }
    }
}
