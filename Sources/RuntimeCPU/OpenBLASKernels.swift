import CBLAS
import Foundation

/// Which of OpenBLAS's kernel sets this process should run. OpenBLAS picks one at load time from the CPU
/// it recognises; Debian 12's 0.3.21 predates AMD Zen 4 and falls back to its AVX2 `Haswell` kernels there,
/// although the CPU runs the AVX-512 `SkylakeX` kernels (newer OpenBLAS releases choose them on Zen 4).
/// The choice can only be made through the `OPENBLAS_CORETYPE` environment variable before the library
/// loads, so the executable sets it and starts itself again (`Bayeval.main`).
public enum OpenBLASKernels {
    /// The kernel set OpenBLAS chose in this process.
    public static var current: String {
        openblas_get_corename().map { String(cString: $0) } ?? "unknown"
    }

    /// The kernel set to ask for instead of `chosen`, or nil when OpenBLAS's own choice stands: only an AMD
    /// CPU with AVX-512 (F, DQ, BW and VL, enabled by the OS: the kernel lists a flag only then) that OpenBLAS
    /// ran with its AVX2 kernels. `cpuinfo` is the text of /proc/cpuinfo (its first processor suffices).
    public static func preferred(cpuinfo: String, chosen: String) -> String? {
        guard ["haswell", "zen"].contains(chosen.lowercased()) else { return nil }
        var vendor = "", flags: Set<Substring> = []
        for line in cpuinfo.split(separator: "\n", omittingEmptySubsequences: false) {
            let parts = line.split(separator: ":", maxSplits: 1)
            guard parts.count == 2 else {
                if !vendor.isEmpty && !flags.isEmpty { break }  // the first processor's block is enough
                continue
            }
            let key = parts[0].trimmingCharacters(in: .whitespaces)
            if key == "vendor_id" { vendor = parts[1].trimmingCharacters(in: .whitespaces) }
            if key == "flags" { flags = Set(parts[1].split(separator: " ")) }
        }
        let avx512: Set<Substring> = ["avx512f", "avx512dq", "avx512bw", "avx512vl"]
        return vendor == "AuthenticAMD" && avx512.isSubset(of: flags) ? "SKYLAKEX" : nil
    }

    /// `preferred` for this machine and process, nil where /proc/cpuinfo cannot be read.
    public static func preferredHere() -> String? {
        // procfs reports a size of 0: read to the end rather than by the file's size.
        guard let data = FileHandle(forReadingAtPath: "/proc/cpuinfo")?.readDataToEndOfFile(), !data.isEmpty
        else { return nil }
        return preferred(cpuinfo: String(decoding: data, as: UTF8.self), chosen: current)
    }
}
