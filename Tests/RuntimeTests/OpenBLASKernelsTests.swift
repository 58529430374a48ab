import Testing
import Foundation
@testable import RuntimeCPU

/// Which OpenBLAS kernels bayeval asks for: only where Debian's OpenBLAS fell back to AVX2 on an AMD CPU
/// that has AVX-512 (Zen 4), never on Intel (OpenBLAS knows its own) or on CPUs without AVX-512.
@Suite struct OpenBLASKernelsTests {
    static func cpuinfo(vendor: String, flags: String) -> String {
        (0..<2).map { n in
            "processor\t: \(n)\nvendor_id\t: \(vendor)\ncpu family\t: 25\nflags\t\t: \(flags)\n"
                + "bugs\t\t: sysret_ss_attrs\n"
        }.joined(separator: "\n")
    }
    static let zen4 = "fpu sse sse2 avx avx2 fma avx512f avx512dq avx512ifma avx512cd avx512bw avx512vl avx512_bf16"
    static let zen3 = "fpu sse sse2 avx avx2 fma bmi2"

    @Test func zen4FallbackGetsAVX512Kernels() {
        #expect(
            OpenBLASKernels.preferred(
                cpuinfo: Self.cpuinfo(vendor: "AuthenticAMD", flags: Self.zen4), chosen: "Haswell") == "SKYLAKEX")
        #expect(
            OpenBLASKernels.preferred(cpuinfo: Self.cpuinfo(vendor: "AuthenticAMD", flags: Self.zen4), chosen: "Zen")
                == "SKYLAKEX")
    }

    @Test func otherCPUsAndChoicesStand() {
        // OpenBLAS already chose AVX-512 kernels.
        #expect(
            OpenBLASKernels.preferred(
                cpuinfo: Self.cpuinfo(vendor: "AuthenticAMD", flags: Self.zen4), chosen: "SkylakeX") == nil)
        // Intel: OpenBLAS recognises its CPUs itself.
        #expect(
            OpenBLASKernels.preferred(
                cpuinfo: Self.cpuinfo(vendor: "GenuineIntel", flags: Self.zen4), chosen: "Haswell") == nil)
        // No AVX-512, or only part of the set the kernels use.
        #expect(
            OpenBLASKernels.preferred(cpuinfo: Self.cpuinfo(vendor: "AuthenticAMD", flags: Self.zen3), chosen: "Zen")
                == nil)
        let partial = Self.zen4.replacingOccurrences(of: " avx512vl", with: "")
        #expect(
            OpenBLASKernels.preferred(cpuinfo: Self.cpuinfo(vendor: "AuthenticAMD", flags: partial), chosen: "Haswell")
                == nil)
        #expect(OpenBLASKernels.preferred(cpuinfo: "", chosen: "Haswell") == nil)
    }
}
