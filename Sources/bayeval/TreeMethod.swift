import Loaders
import Posthoc

/// A posterior method of a tree evaluation, as `--methods` names it.
enum TreeMethod: Hashable {
    case map, blob, tfb, temperature
    case laplace(HessianStructure, GLMLink)

    init?(_ name: String) {
        switch name {
        case "map": self = .map
        case "blob": self = .blob
        case "tfb": self = .tfb
        case "temperature": self = .temperature
        default:
            // laplace-<structure>-<link>; links may hold a hyphen (bridge-norm).
            let parts = name.split(separator: "-", maxSplits: 2).map(String.init)
            guard parts.count == 3, parts[0] == "laplace", let s = HessianStructure(rawValue: parts[1]),
                let l = GLMLink(rawValue: parts[2])
            else { return nil }
            self = .laplace(s, l)
        }
    }

    var name: String {
        switch self {
        case .map: "map"
        case .blob: "blob"
        case .tfb: "tfb"
        case .temperature: "temperature"
        case .laplace(let s, let l): "laplace-\(s.rawValue)-\(l.rawValue)"
        }
    }

    static let help =
        "map, blob (Monte Carlo over a BLoB checkpoint's lora_A_rho), tfb (σ search, then samples), "
        + "temperature (fitted on a held-out split), laplace-<kron|diag|full>-<probit|mc|bridge|bridge-norm>"

    /// Parses a comma-separated list, refusing unknown or repeated names.
    static func list(_ text: String) throws -> [TreeMethod] {
        var out: [TreeMethod] = []
        for name in text.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) {
            guard let m = TreeMethod(name) else {
                throw UsageError(file: "--methods", item: name, "unknown method; known: \(help)")
            }
            guard !out.contains(m) else { throw UsageError(file: "--methods", item: name, "named twice") }
            out.append(m)
        }
        guard !out.isEmpty else { throw UsageError(file: "--methods", item: text, "no method named") }
        return out
    }

    /// Whether the method's command resumes from its predictions file (laplace resumes only with a saved
    /// posterior, which a tree does not keep: it refits).
    var resumes: Bool {
        switch self {
        case .map, .blob: true
        case .tfb, .temperature, .laplace: false
        }
    }
}
