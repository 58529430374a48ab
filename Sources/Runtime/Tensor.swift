/// A dense row-major Float32 tensor in host memory. Owned storage, freed on deinit; a reference type so
/// layers can hold weights and reusable scratch buffers without copying.
public final class Tensor: @unchecked Sendable {
    public let shape: [Int]
    public let count: Int
    public let storage: UnsafeMutableBufferPointer<Float>

    public init(shape: [Int]) {
        precondition(shape.allSatisfy { $0 >= 0 }, "negative dimension in \(shape)")
        self.shape = shape
        count = shape.reduce(1, *)
        storage = .allocate(capacity: max(count, 1))
        storage.initialize(repeating: 0)
    }

    public convenience init(shape: [Int], values: [Float]) {
        precondition(values.count == shape.reduce(1, *), "\(values.count) values for shape \(shape)")
        self.init(shape: shape)
        _ = storage.initialize(from: values)
    }

    deinit { storage.deallocate() }

    /// A new tensor with the same shape and values.
    public func copy() -> Tensor {
        let out = Tensor(shape: shape)
        out.pointer.update(from: pointer, count: count)
        return out
    }

    public var pointer: UnsafeMutablePointer<Float> { storage.baseAddress! }
    public var values: [Float] { Array(storage.prefix(count)) }

    /// Whether the tensor holds exactly `values`, compared in place (no copy of a large weight).
    public func holds(_ values: [Float]) -> Bool {
        values.count == count && storage.prefix(count).elementsEqual(values)
    }

    /// Rows × columns when viewed as a matrix over the last dimension.
    public var rows: Int { shape.count < 2 ? 1 : count / shape[shape.count - 1] }
    public var columns: Int { shape.last ?? 1 }

    public subscript(i: Int) -> Float {
        get { storage[i] }
        set { storage[i] = newValue }
    }
}
