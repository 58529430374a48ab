import Dispatch

extension GGUFFile {
    /// The tensor decoded to Float32, in row-major order (`info.shape`).
    public func floats(_ name: String) throws -> [Float] {
        let t = try decodable(name)
        return [Float](unsafeUninitializedCapacity: t.elementCount) { buf, n in
            // An empty tensor may get no buffer at all.
            if let base = buf.baseAddress { decode(t, rowMap: nil, into: base) }
            n = t.elementCount
        }
    }

    /// Decodes the tensor into `buffer`, which must hold exactly its element count.
    public func floats(_ name: String, into buffer: UnsafeMutableBufferPointer<Float>) throws {
        let t = try decodable(name)
        guard buffer.count == t.elementCount else {
            throw LoadError(
                .shapeMismatch, file: path, item: name,
                "has \(t.elementCount) elements but the buffer holds \(buffer.count)")
        }
        if let base = buffer.baseAddress { decode(t, rowMap: nil, into: base) }
    }

    /// Every tensor decoded to Float32, keyed by GGUF name; tensors are decoded in parallel.
    public func allFloats() throws -> [String: [Float]] {
        let jobs = try tensors.map { DecodeJob(info: try decodable($0.name), rowMap: nil) }
        let out = decodeInParallel(jobs)
        return Dictionary(uniqueKeysWithValues: zip(jobs.map(\.info.name), out))
    }

    /// The tensor's info after checking that bayeval can decode its type.
    func decodable(_ name: String) throws -> GGUFTensorInfo {
        let t = try requireTensor(name)
        guard t.type.canDequantize else {
            throw LoadError(
                .unsupportedDType, file: path, item: name,
                "ggml type \(t.type.name) (id \(t.type.rawValue)) cannot be dequantised by bayeval")
        }
        return t
    }

    /// Decodes `t` row by row; with `rowMap`, source row r lands at destination row `rowMap[r]` (used to undo
    /// llama.cpp's Q/K row permutation without a second copy). Rows are whole blocks, so each row decodes
    /// independently.
    func decode(_ t: GGUFTensorInfo, rowMap: [Int]?, into dst: UnsafeMutablePointer<Float>) {
        let src = rawBytes(t)
        guard t.elementCount > 0, let base = src.baseAddress else { return }
        guard let rowMap else {
            GGUFDequant.decode(t.type, base, count: t.elementCount, into: dst)
            return
        }
        let rowLength = t.rowLength
        let rowBytes = rowLength / t.type.blockSize * t.type.blockBytes
        for (r, target) in rowMap.enumerated() {
            GGUFDequant.decode(t.type, base + r * rowBytes, count: rowLength, into: dst + target * rowLength)
        }
    }

    struct DecodeJob: Sendable {
        let info: GGUFTensorInfo
        let rowMap: [Int]?
    }

    /// Decodes each job into a fresh array, spreading the jobs over the cores (largest first, so that the
    /// embedding does not start last and leave one core idle). Jobs must already have passed `decodable`.
    func decodeInParallel(_ jobs: [DecodeJob]) -> [[Float]] {
        let results = ResultSlots(count: jobs.count)
        defer { results.free() }
        let order = jobs.indices.sorted { jobs[$0].info.byteCount > jobs[$1].info.byteCount }
        DispatchQueue.concurrentPerform(iterations: order.count) { k in
            let i = order[k]
            let job = jobs[i]
            let values = [Float](unsafeUninitializedCapacity: job.info.elementCount) { buf, n in
                if let base = buf.baseAddress { decode(job.info, rowMap: job.rowMap, into: base) }
                n = job.info.elementCount
            }
            results.store(values, at: i)
        }
        return results.collect()
    }
}

/// One slot per job, each written by exactly one worker of `concurrentPerform` and read only after it
/// returns; that discipline is what makes the unchecked Sendable sound.
private final class ResultSlots: @unchecked Sendable {
    private let slots: UnsafeMutableBufferPointer<[Float]>

    init(count: Int) {
        slots = .allocate(capacity: count)
        slots.initialize(repeating: [])
    }

    func store(_ v: [Float], at i: Int) { slots[i] = v }
    func collect() -> [[Float]] { Array(slots) }

    func free() {
        slots.deinitialize()
        slots.deallocate()
    }
}
