/// One tensor as the GGUF header describes it. All sizes were validated against the file when it was opened.
public struct GGUFTensorInfo: Sendable, Equatable {
    public let name: String
    /// Dimensions in GGUF (ggml `ne`) order: `dims[0]` is the innermost, contiguous one.
    public let dims: [Int]
    public let type: GGMLType
    /// Byte offset relative to the start of the data section.
    public let offset: Int
    public let elementCount: Int
    public let byteCount: Int

    /// Row-major shape as PyTorch / Hugging Face see it: GGUF dims reversed, e.g. `[rows, cols]`.
    public var shape: [Int] { dims.reversed() }
    /// Elements per row (the innermost dimension); ggml quantises each row into whole blocks.
    public var rowLength: Int { dims.first ?? 1 }
    public var rowCount: Int { rowLength == 0 ? 0 : elementCount / rowLength }
}

extension GGUFTensorInfo {
    /// Reads one tensor-info record (name, n_dims, dims, type, offset) and checks what can be checked
    /// locally: dimension count, element count overflow, known type, whole blocks per row, alignment.
    static func read(_ r: inout GGUFByteReader, index: Int, alignment: Int) throws -> GGUFTensorInfo {
        let file = r.file
        let name = try r.string(item: "tensor #\(index)", what: "tensor name", cap: GGUFLimits.maxNameBytes)
        let nDims = try r.u32(item: name, what: "dimension count")
        guard nDims <= GGUFLimits.maxDims else {
            throw LoadError(
                .invalidHeader, file: file, item: name,
                "has \(nDims) dimensions; ggml allows at most \(GGUFLimits.maxDims)")
        }
        var dims: [Int] = []
        var count = 1
        for d in 0..<Int(nDims) {
            let raw = try r.u64(item: name, what: "dimension \(d)")
            guard raw <= UInt64(Int64.max) else {
                throw LoadError(.invalidHeader, file: file, item: name, "dimension \(d) is \(raw), too large")
            }
            let (p, overflow) = count.multipliedReportingOverflow(by: Int(raw))
            guard !overflow else {
                throw LoadError(.invalidHeader, file: file, item: name, "element count overflows")
            }
            count = p
            dims.append(Int(raw))
        }
        let rawType = try r.u32(item: name, what: "ggml type")
        guard let type = GGMLType(rawValue: rawType) else {
            throw LoadError(.unsupportedDType, file: file, item: name, "unknown ggml type id \(rawType)")
        }
        let rowLength = dims.first ?? 1
        guard rowLength % type.blockSize == 0 else {
            throw LoadError(
                .shapeMismatch, file: file, item: name,
                "row length \(rowLength) is not a multiple of the \(type.name) block size \(type.blockSize)")
        }
        let (bytes, overflow) = (count / type.blockSize).multipliedReportingOverflow(by: type.blockBytes)
        guard !overflow else {
            throw LoadError(.invalidHeader, file: file, item: name, "byte size overflows")
        }
        let rawOffset = try r.u64(item: name, what: "data offset")
        guard rawOffset <= UInt64(Int64.max) else {
            throw LoadError(.outOfBounds, file: file, item: name, "data offset \(rawOffset) is out of range")
        }
        let offset = Int(rawOffset)
        guard offset % alignment == 0 else {
            throw LoadError(
                .invalidHeader, file: file, item: name,
                "data offset \(offset) is not a multiple of the alignment \(alignment)")
        }
        return GGUFTensorInfo(name: name, dims: dims, type: type, offset: offset, elementCount: count, byteCount: bytes)
    }

    /// Checks every tensor's byte range lies inside the file and that no two ranges share a byte.
    static func validateRanges(_ tensors: [GGUFTensorInfo], dataOffset: Int, fileSize: Int, file: String) throws {
        guard tensors.isEmpty || dataOffset <= fileSize else {
            throw LoadError(
                .truncated, file: file, item: "data section",
                "the file ends at \(fileSize) before its data section starts at \(dataOffset)")
        }
        for t in tensors {
            let (start, o1) = dataOffset.addingReportingOverflow(t.offset)
            guard !o1, start <= fileSize else {
                throw LoadError(
                    .outOfBounds, file: file, item: t.name,
                    "data offset \(t.offset) (file offset \(dataOffset) + \(t.offset)) "
                        + "is past the end of the \(fileSize)-byte file"
                )
            }
            guard t.byteCount <= fileSize - start else {
                throw LoadError(
                    .truncated, file: file, item: t.name,
                    "needs bytes \(start)..<\(start &+ t.byteCount) but the file has \(fileSize)")
            }
        }
        let sorted = tensors.filter { $0.byteCount > 0 }.sorted { $0.offset < $1.offset }
        for (a, b) in zip(sorted, sorted.dropFirst()) where b.offset < a.offset + a.byteCount {
            throw LoadError(
                .overlap, file: file, item: b.name,
                "bytes \(b.offset)..<\(b.offset + b.byteCount) overlap "
                    + "'\(a.name)' at \(a.offset)..<\(a.offset + a.byteCount)"
            )
        }
    }
}
