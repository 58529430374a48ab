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

extension Device {
    /// An environment variable the process must start with for the CPU backend to run at its best on this
    /// machine, when it lacks it: OpenBLAS's AVX-512 kernels on CPUs its Debian build does not recognise
    /// (`OpenBLASKernels`). Nil when the variable is set already (whatever its value: the user's choice
    /// stands) or nothing better is known.
    public static func preferredEnvironment(_ environment: [String: String]) -> (name: String, value: String)? {
        guard environment["OPENBLAS_CORETYPE"] == nil, let core = OpenBLASKernels.preferredHere() else { return nil }
        return ("OPENBLAS_CORETYPE", core)
    }
}
