import Dispatch
import Foundation

/// Timed loader workloads for `bayeval bench loaders`. Each returns per-run seconds so the caller reports
/// medians over several runs (the machines are noisy; a single timing says little).
public enum LoaderBenchmarks {
    /// Writes a synthetic bf16 safetensors file of about `megabytes` MB: 4096 × 2048 matrices as a 7B-class
    /// checkpoint stores them, values from a fixed sequence.
    public static func writeSyntheticBF16(path: String, megabytes: Int) throws -> (tensors: Int, bytes: Int) {
        let rows = 4096, cols = 2048
        let perTensor = rows * cols * 2
        let count = max(1, megabytes * 1_000_000 / perTensor)
        var w = SafeTensorsWriter(metadata: ["format": "pt", "made_by": "bayeval bench"])
        var bits = [UInt16](repeating: 0, count: rows * cols)
        for t in 0..<count {
            for i in bits.indices {
                bits[i] = ElementConversion.floatToBF16(Float((i &* 2654435761 &+ t) % 2001) / 1000 - 1)
            }
            try w.add(
                "model.layers.\(t).weight", dtype: .bf16, shape: [rows, cols], bytes: bits.withUnsafeBytes { Data($0) })
        }
        try w.write(to: path)
        return (count, count * perTensor)
    }

    /// Opens the file and converts every tensor to fresh Float32 arrays, tensors in parallel over `threads`,
    /// as a whole-model load does. Returns seconds and a checksum (so the work cannot be skipped).
    public static func loadAllAsFloat32(path: String, threads: Int) throws -> (seconds: Double, checksum: Double) {
        let start = DispatchTime.now()
        let f = try SafeTensorsFile(path: path)
        f.prefetch()
        let names = f.names
        nonisolated(unsafe) var results = [[Float]](repeating: [], count: names.count)
        nonisolated(unsafe) var failure: Error?
        let lock = NSLock()
        let perWorker = (names.count + threads - 1) / threads
        DispatchQueue.concurrentPerform(iterations: threads) { w in
            for i in (w * perWorker)..<min(names.count, (w + 1) * perWorker) {
                do {
                    let info = try f.require(names[i])
                    let src = try f.view(names[i])
                    // Per-tensor conversion is serial here: the parallelism is across tensors.
                    let values = [Float](unsafeUninitializedCapacity: info.elementCount) { dst, n in
                        ElementConversion.toFloat(
                            src.baseAddress!, dtype: info.dtype, count: info.elementCount, into: dst.baseAddress!)
                        n = info.elementCount
                    }
                    lock.lock(); results[i] = values; lock.unlock()
                } catch {
                    lock.lock(); failure = error; lock.unlock()
                }
            }
        }
        if let failure { throw failure }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9
        let checksum = results.reduce(0.0) { $0 + Double($1.first ?? 0) + Double($1.last ?? 0) }
        return (seconds, checksum)
    }

    /// Opens a GGUF file and decodes every tensor to Float32 in Hugging Face layout.
    public static func loadGGUF(path: String) throws -> (seconds: Double, parameters: Int) {
        let start = DispatchTime.now()
        let g = try GGUFFile(path: path, populate: true)
        let (_, tensors) = try g.llamaTensors()
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9
        return (seconds, tensors.values.reduce(0) { $0 + $1.values.count })
    }

    public static func median(_ xs: [Double]) -> Double {
        let s = xs.sorted()
        return s.isEmpty ? .nan : s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
    }
}
