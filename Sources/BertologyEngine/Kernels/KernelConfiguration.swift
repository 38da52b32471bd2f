internal import CKernels

/// The instruction set the C kernels run on.
public enum KernelISA: String, Sendable, CaseIterable, CustomStringConvertible {
    /// Plain C, any CPU: the reference the vector kernels are tested against.
    case scalar
    /// 256-bit AVX2 with FMA (x86-64 since about 2013).
    case avx2
    /// 512-bit AVX-512 (F, BW, VL and DQ, with FMA).
    case avx512

    var cValue: ck_isa {
        switch self {
        case .scalar: CK_ISA_SCALAR
        case .avx2: CK_ISA_AVX2
        case .avx512: CK_ISA_AVX512
        }
    }

    init(_ value: ck_isa) {
        switch value {
        case CK_ISA_AVX512: self = .avx512
        case CK_ISA_AVX2: self = .avx2
        default: self = .scalar
        }
    }

    /// The instruction set's name: `scalar`, `avx2` or `avx512`.
    public var description: String { rawValue }

    /// Whether this CPU can run the instruction set.
    public var isSupported: Bool { ck_isa_is_supported(cValue) != 0 }

    /// The best instruction set this CPU supports.
    public static var bestSupported: KernelISA { KernelISA(ck_isa_best_supported()) }

    /// The instruction set kernels called from this thread use now.
    public static var active: KernelISA { KernelISA(ck_isa_active()) }
}

/// Process-wide settings of the C kernels: instruction set and threads.
public enum Kernels {
    /// Whether the kernels were compiled with OpenMP.
    public static var openMPEnabled: Bool { ck_openmp_enabled() != 0 }

    /// Threads a parallel kernel uses.
    public static var maxThreads: Int { Int(ck_threads_max()) }

    /// Sets the number of threads parallel kernels use (at least 1).
    public static func setThreads(_ count: Int) { ck_threads_set(Int32(max(1, count))) }

    /// Runs one parallel region and counts the threads that really executed it.
    static func observedThreads() -> Int { Int(ck_threads_observed()) }

    /// Chooses the instruction set for the whole process. Returns false (and changes nothing)
    /// when this CPU cannot run it.
    @discardableResult
    public static func setISA(_ isa: KernelISA) -> Bool { ck_isa_set_global(isa.cValue) == 0 }

    /// Runs `body` with the kernels it calls on this thread forced to `isa` (tests, benchmarks).
    /// Other threads are not affected. Returns nil when this CPU cannot run `isa`.
    public static func withISA<R>(_ isa: KernelISA, _ body: () throws -> R) rethrows -> R? {
        guard ck_isa_set_thread_override(Int32(isa.cValue.rawValue)) == 0 else { return nil }
        defer { ck_isa_set_thread_override(-1) }
        return try body()
    }
}
