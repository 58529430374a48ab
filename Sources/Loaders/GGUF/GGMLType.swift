/// ggml tensor element types as GGUF stores them (`ggml_type` ids). Every known id is listed so that a file
/// holding, say, IQ2_XS tensors still opens and validates; `canDequantize` says which ones bayeval decodes.
public enum GGMLType: UInt32, Sendable, CaseIterable {
    case f32 = 0, f16 = 1, q4_0 = 2, q4_1 = 3, q5_0 = 6, q5_1 = 7, q8_0 = 8, q8_1 = 9
    case q2_K = 10, q3_K = 11, q4_K = 12, q5_K = 13, q6_K = 14, q8_K = 15
    case iq2_xxs = 16, iq2_xs = 17, iq3_xxs = 18, iq1_s = 19, iq4_nl = 20, iq3_s = 21, iq2_s = 22, iq4_xs = 23
    case i8 = 24, i16 = 25, i32 = 26, i64 = 27, f64 = 28, iq1_m = 29, bf16 = 30
    case tq1_0 = 34, tq2_0 = 35, mxfp4 = 39

    /// Elements per block (1 for plain element types).
    public var blockSize: Int {
        switch self {
        case .f32, .f16, .bf16, .f64, .i8, .i16, .i32, .i64: 1
        case .q4_0, .q4_1, .q5_0, .q5_1, .q8_0, .q8_1, .iq4_nl, .mxfp4: 32
        case .q2_K, .q3_K, .q4_K, .q5_K, .q6_K, .q8_K, .iq2_xxs, .iq2_xs, .iq3_xxs, .iq1_s, .iq3_s, .iq2_s,
            .iq4_xs, .iq1_m, .tq1_0, .tq2_0:
            256
        }
    }

    /// Bytes per block, as ggml's block structs lay them out.
    public var blockBytes: Int {
        switch self {
        case .f32, .i32: 4
        case .f16, .bf16, .i16: 2
        case .f64, .i64: 8
        case .i8: 1
        case .q4_0, .iq4_nl: 18  // f16 d, 16 nibble bytes
        case .q4_1: 20  // f16 d, f16 m, 16 nibble bytes
        case .q5_0: 22  // f16 d, 4 high-bit bytes, 16 nibble bytes
        case .q5_1: 24  // f16 d, f16 m, 4 high-bit bytes, 16 nibble bytes
        case .q8_0: 34  // f16 d, 32 int8
        case .q8_1: 40  // f32 d, f32 s, 32 int8
        case .mxfp4: 17
        case .q2_K: 84
        case .q3_K: 110
        case .q4_K: 144  // f16 d, f16 dmin, 12 packed 6-bit scales/mins, 128 nibble bytes
        case .q5_K: 176  // as Q4_K plus 32 high-bit bytes
        case .q6_K: 210  // 128 low nibbles, 64 high 2-bit bytes, 16 int8 scales, f16 d
        case .q8_K: 292
        case .iq2_xxs: 66
        case .iq2_xs: 74
        case .iq3_xxs: 98
        case .iq1_s: 50
        case .iq3_s: 110
        case .iq2_s: 82
        case .iq4_xs: 136
        case .iq1_m: 56
        case .tq1_0: 54
        case .tq2_0: 66
        }
    }

    /// The name llama.cpp and gguf-py print ("Q4_K", "BF16", …).
    public var name: String { String(describing: self).uppercased() }

    /// Types `GGUFFile.floats` decodes.
    public var canDequantize: Bool {
        switch self {
        case .f32, .f16, .bf16, .q4_0, .q4_1, .q5_0, .q5_1, .q8_0, .q4_K, .q5_K, .q6_K: true
        default: false
        }
    }
}
