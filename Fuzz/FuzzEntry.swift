// libFuzzer entry for bayeval's binary parsers; compiled together with Sources/Loaders by scripts/fuzz.sh
// (one module, so no import). FUZZ_GGUF selects the GGUF parser, otherwise safetensors. Every input must
// either parse, with every tensor then readable, or throw a LoadError; a crash or sanitizer report is a bug.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let bytes = UnsafeRawBufferPointer(start: data, count: size)
    #if FUZZ_GGUF
    if let g = try? GGUFFile.parse(bytes: bytes, name: "fuzz.gguf") {
        for t in g.tensors where t.type.canDequantize && t.elementCount <= 1 << 20 {
            _ = try? g.floats(t.name)
        }
        _ = try? g.tokenizerData()
    }
    #else
    if let layout = try? SafeTensorsFile.validate(bytes: bytes, file: "fuzz.safetensors") {
        for t in layout.tensors where t.elementCount <= 1 << 20 {
            let start = layout.dataStart + t.dataRange.lowerBound
            var out = [Float](repeating: 0, count: t.elementCount)
            out.withUnsafeMutableBufferPointer { dst in
                if let base = bytes.baseAddress, let d = dst.baseAddress, t.elementCount > 0 {
                    ElementConversion.toFloat(base + start, dtype: t.dtype, count: t.elementCount, into: d)
                }
            }
        }
    }
    #endif
    return 0
}
