/// Memory for a tensor's floats, allocated by a backend (`ComputeBackend.allocate`) and released by the
/// closure it gives; host memory on the CPU. `pointer` is the address the backend's kernels take.
public final class TensorStorage: @unchecked Sendable {
    public let pointer: UnsafeMutablePointer<Float>
    public let capacity: Int
    private let release: (UnsafeMutablePointer<Float>) -> Void

    public init(
        pointer: UnsafeMutablePointer<Float>, capacity: Int, release: @escaping (UnsafeMutablePointer<Float>) -> Void
    ) {
        self.pointer = pointer
        self.capacity = capacity
        self.release = release
    }

    /// Zeroed host memory.
    public static func host(count: Int) -> TensorStorage {
        let p = UnsafeMutablePointer<Float>.allocate(capacity: max(count, 1))
        p.initialize(repeating: 0, count: max(count, 1))
        return TensorStorage(pointer: p, capacity: max(count, 1), release: { $0.deallocate() })
    }

    deinit { release(pointer) }
}

/// A dense row-major Float32 tensor: a shape over a backend's storage (host memory unless a backend
/// allocated it). A reference type so layers can hold weights and reusable scratch buffers without copying.
public final class Tensor: @unchecked Sendable {
    public let shape: [Int]
    public let count: Int
    public let memory: TensorStorage
    /// The floats, as a buffer (`count` long).
    public var storage: UnsafeMutableBufferPointer<Float> {
        UnsafeMutableBufferPointer(start: memory.pointer, count: count)
    }

    /// A zeroed tensor in host memory.
    public convenience init(shape: [Int]) {
        precondition(shape.allSatisfy { $0 >= 0 }, "negative dimension in \(shape)")
        self.init(shape: shape, storage: .host(count: shape.reduce(1, *)))
    }

    /// A tensor over `storage`, which must hold at least the shape's element count.
    public init(shape: [Int], storage: TensorStorage) {
        precondition(shape.allSatisfy { $0 >= 0 }, "negative dimension in \(shape)")
        self.shape = shape
        count = shape.reduce(1, *)
        precondition(storage.capacity >= count, "storage of \(storage.capacity) floats for shape \(shape)")
        memory = storage
    }

    public convenience init(shape: [Int], values: [Float]) {
        precondition(values.count == shape.reduce(1, *), "\(values.count) values for shape \(shape)")
        self.init(shape: shape)
        _ = storage.update(fromContentsOf: values)
    }

    public var pointer: UnsafeMutablePointer<Float> { memory.pointer }
    public var values: [Float] { Array(storage.prefix(count)) }

    /// Whether the tensor holds exactly `values`, compared in place (no copy of a large weight).
    public func holds(_ values: [Float]) -> Bool {
        values.count == count && storage.prefix(count).elementsEqual(values)
    }

    /// Rows × columns when viewed as a matrix over the last dimension.
    public var rows: Int { shape.count < 2 ? 1 : count / shape[shape.count - 1] }
    public var columns: Int { shape.last ?? 1 }

    public subscript(i: Int) -> Float {
        get { memory.pointer[i] }
        set { memory.pointer[i] = newValue }
    }
}
