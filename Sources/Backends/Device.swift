import Runtime
import RuntimeCPU

/// Where the numerics run, chosen once per command (`--device`): the one place that knows every backend.
/// Only the CPU backend exists today; a GPU backend adds its target, a case here and its `ComputeBackend`,
/// and the model code stays as it is.
public enum Device: String, CaseIterable, Sendable {
    case cpu

    /// The backend for this device with `threads` worker threads (CPU: Dispatch workers; BLAS itself runs
    /// single-threaded, see `CPUBackend`).
    public func makeBackend(threads: Int) -> any ComputeBackend {
        switch self {
        case .cpu: CPUBackend(threads: threads)
        }
    }

    /// For the run record's platform entry.
    public var libraryDescription: String {
        switch self {
        case .cpu: CPUBackend.libraryDescription
        }
    }
}
