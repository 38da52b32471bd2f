import Foundation

/// Float32 storage aligned for SIMD loads, owned by one or more `Tensor` values.
///
/// Sendable because of how it is used, which the compiler cannot check: model weights are written
/// once while loading and only read afterwards; workspace buffers belong to one `InferenceSession`,
/// which is not Sendable, so they never cross tasks.
@_spi(Benchmarks) public final class TensorStorage: @unchecked Sendable {
    /// 64 bytes: one cache line, the width of an AVX-512 register.
    static let alignment = 64
    /// Storage of at least this size (weights, activations, attention maps) is placed on 2 MB pages
    /// where the kernel allows it: the GEMM streams multi-megabyte weight panels and every 4 KB page
    /// costs a TLB miss, a two-level page walk under a hypervisor. Measured in same-run A/B against
    /// MKL on 4096 x 768 x 768: 0.91x with 4 KB pages, 1.11x with 2 MB pages.
    static let hugePage = 2 << 20

    let pointer: UnsafeMutablePointer<Float>
    let capacity: Int

    init(capacity: Int) {
        var bytes = max(1, capacity) * MemoryLayout<Float>.stride
        let raw: UnsafeMutableRawPointer
        if bytes >= Self.hugePage {
            bytes = (bytes + Self.hugePage - 1) / Self.hugePage * Self.hugePage
            raw = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: Self.hugePage)
            #if os(Linux)
            // Advice only: before the first touch below, so the zero-fill faults in huge pages.
            // Ignored (4 KB pages) when transparent huge pages are off.
            _ = madvise(raw, bytes, MADV_HUGEPAGE)
            #endif
        } else {
            raw = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: Self.alignment)
        }
        raw.initializeMemory(as: UInt8.self, repeating: 0, count: bytes)
        pointer = raw.bindMemory(to: Float.self, capacity: max(1, capacity))
        self.capacity = capacity
    }

    deinit { UnsafeMutableRawPointer(pointer).deallocate() }
}

/// A dense, row-major Float32 tensor: the one tensor type of Bertology.
///
/// Values are copied only when asked (`array`); kernels read and write through `pointer`.
public struct Tensor: Sendable {
    /// The size of each dimension, outermost first; for ``Inspection/attentions``, `[layers, heads, T, T]`.
    public let shape: [Int]
    let storage: TensorStorage

    /// A zero-filled tensor.
    public init(zeros shape: [Int]) {
        precondition(shape.allSatisfy { $0 >= 0 }, "negative dimension in \(shape)")
        self.shape = shape
        self.storage = TensorStorage(capacity: shape.reduce(1, *))
    }

    /// A tensor holding `values` (row-major), which must have `shape`'s element count.
    public init(shape: [Int], values: [Float]) {
        precondition(values.count == shape.reduce(1, *), "\(values.count) values for shape \(shape)")
        self.init(zeros: shape)
        values.withUnsafeBufferPointer { source in
            storage.pointer.update(from: source.baseAddress!, count: values.count)
        }
    }

    /// The same storage seen with another shape of the same or smaller element count.
    func reshaped(_ newShape: [Int]) -> Tensor {
        precondition(newShape.reduce(1, *) <= storage.capacity, "reshape \(shape) -> \(newShape) exceeds storage")
        return Tensor(shape: newShape, storage: storage)
    }

    private init(shape: [Int], storage: TensorStorage) {
        self.shape = shape
        self.storage = storage
    }

    /// Number of elements.
    public var count: Int { shape.reduce(1, *) }

    /// Read-only access for kernels.
    var pointer: UnsafePointer<Float> { UnsafePointer(storage.pointer) }

    /// Write access for kernels. Only for tensors the caller owns (workspace buffers, or weights
    /// while they are being built).
    var mutablePointer: UnsafeMutablePointer<Float> { storage.pointer }

    /// The values, copied out in row-major order.
    public var array: [Float] { Array(UnsafeBufferPointer(start: storage.pointer, count: count)) }

    /// Calls `body` with the values in row-major order, without copying.
    public func withUnsafeBufferPointer<R>(_ body: (UnsafeBufferPointer<Float>) throws -> R) rethrows -> R {
        try body(UnsafeBufferPointer(start: storage.pointer, count: count))
    }

    /// The element at a full index (one coordinate per dimension).
    public subscript(_ index: Int...) -> Float {
        precondition(index.count == shape.count, "index \(index) for shape \(shape)")
        var offset = 0
        for (i, (coordinate, size)) in zip(index, shape).enumerated() {
            precondition(coordinate >= 0 && coordinate < size, "index \(index) out of range in dimension \(i) of \(shape)")
            offset = offset * size + coordinate
        }
        return storage.pointer[offset]
    }
}
