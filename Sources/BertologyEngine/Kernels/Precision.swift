internal import CKernels

/// How the model's products round their operands (docs/PRECISION.md). fp32 is the default and the
/// reference; the bf16 modes trade accuracy for the CPU's bf16 units.
public enum Precision: String, Sendable, CaseIterable, Codable, CustomStringConvertible {
    /// Every product in fp32 (the bits of every earlier release).
    case fp32
    /// Operands of the linear layers and of attention's two products rounded to bf16 (8 significant
    /// bits), products accumulated in fp32.
    case bf16
    /// Each operand split into bf16 hi + lo, three products hi·lo + lo·hi + hi·hi accumulated in
    /// fp32 (lo·lo dropped): about 16 significant bits per operand.
    case bf16x3
    /// Dynamic quantization of the linear layers: weights int8 per output channel, activations u8 per
    /// row, products summed exactly in int32, then dequantized; attention's products and softmax stay fp32.
    case int8

    /// The name, as `--precision` spells it.
    public var description: String { rawValue }

    /// The bf16 kernels' `terms` (0 for fp32 and int8: attention's operands are not rounded).
    var terms: Int32 {
        switch self {
        case .fp32, .int8: 0
        case .bf16: 1
        case .bf16x3: 3
        }
    }
}

/// The bf16 hardware of this CPU and what the OS allows of it (CPUID leaf 7, XCR0, and on Linux the
/// per-process tile permission, asked once).
public struct BF16Hardware: Sendable, Equatable, CustomStringConvertible {
    /// VDPBF16PS (CPUID.(7,1):EAX bit 5) with the OS's AVX-512 state.
    public var avx512BF16: Bool
    /// AMX-TILE and AMX-BF16 (CPUID.(7,0):EDX bits 24 and 22).
    public var amxTile: Bool, amxBF16: Bool
    /// The OS saves the tile state (XCR0 bits 17-18).
    public var amxOSEnabled: Bool
    /// The OS granted this process the tile data state (Linux arch_prctl ARCH_REQ_XCOMP_PERM).
    public var amxPermitted: Bool

    public init(avx512BF16: Bool, amxTile: Bool = false, amxBF16: Bool = false, amxOSEnabled: Bool = false,
                amxPermitted: Bool = false) {
        self.avx512BF16 = avx512BF16
        self.amxTile = amxTile
        self.amxBF16 = amxBF16
        self.amxOSEnabled = amxOSEnabled
        self.amxPermitted = amxPermitted
    }

    /// This CPU, as the kernels on this thread can use it: VDPBF16PS only under the AVX-512 kernels
    /// (`BERTOLOGY_ISA=avx2` or `scalar` turns it off, as it turns AVX-512 off). Asks for the tile
    /// permission when the CPU and OS have AMX.
    public static var detected: BF16Hardware {
        let cpu = ck_cpu().pointee
        let amx = cpu.amx_tile == 1 && cpu.amx_bf16 == 1 && cpu.os_amx == 1
        return BF16Hardware(avx512BF16: cpu.avx512_bf16 == 1 && KernelISA.active == .avx512,
                            amxTile: cpu.amx_tile == 1, amxBF16: cpu.amx_bf16 == 1,
                            amxOSEnabled: cpu.os_amx == 1, amxPermitted: amx && ck_amx_request_permission() == 1)
    }

    /// Whether tile instructions may run in this process.
    public var amxUsable: Bool { amxTile && amxBF16 && amxOSEnabled && amxPermitted }

    /// One line: `AMX no (AMX-TILE no, AMX-BF16 no, OS tile state no, permission no), AVX512-BF16 yes`.
    public var description: String {
        func yes(_ value: Bool) -> String { value ? "yes" : "no" }
        return "AMX \(yes(amxUsable)) (AMX-TILE \(yes(amxTile)), AMX-BF16 \(yes(amxBF16)), OS tile state "
            + "\(yes(amxOSEnabled)), permission \(yes(amxPermitted))), AVX512-BF16 \(yes(avx512BF16))"
    }
}

/// What runs a precision's products.
public enum PrecisionBackend: String, Sendable, CustomStringConvertible {
    /// fp32 kernels.
    case fp32
    /// AMX tiles (TDPBF16PS). Detected, not implemented yet: never chosen.
    case amx
    /// AVX512-BF16 (VDPBF16PS), bit for bit the emulation.
    case avx512BF16 = "avx512-bf16"
    /// The scalar emulation (the reference; every CPU, slowly).
    case emulation
    /// int8 on AVX512-VNNI (VPDPBUSD).
    case avx512VNNI = "avx512-vnni"
    /// int8 on AVX2 without VNNI: exact int16 products (VPMADDWD), the VNNI path's bits.
    case avx2Int16 = "avx2-int16"
    /// int8 on the scalar reference (no AVX2): the same bits, slowly.
    case int8Scalar = "int8-scalar"

    public var description: String { rawValue }
}

/// A precision as asked for and as it will run.
public struct PrecisionChoice: Sendable, Equatable {
    /// The precision asked for.
    public let requested: Precision
    /// The precision that runs: `requested`, or fp32 after a fallback.
    public let precision: Precision
    /// What runs its products.
    public let backend: PrecisionBackend
    /// One line saying what fell back and why, when the precision that runs is not the one asked for.
    public let notice: String?
}

extension Precision {
    /// The precision to run for `requested` on `hardware`: AMX (detected; its kernels are not written
    /// yet, so it counts as missing), else AVX512-BF16, else fp32 with a notice (the emulation gives
    /// the bf16 numbers on any CPU but far slower than fp32, so a run never picks it by itself; pass
    /// `allowEmulation` to, as the accuracy tools do).
    public static func choose(_ requested: Precision, hardware: BF16Hardware = .detected,
                              allowEmulation: Bool = false) -> PrecisionChoice {
        guard requested != .fp32 else {
            return PrecisionChoice(requested: requested, precision: .fp32, backend: .fp32, notice: nil)
        }
        if requested == .int8 { return chooseInt8() }
        if hardware.avx512BF16 {
            return PrecisionChoice(requested: requested, precision: requested, backend: .avx512BF16, notice: nil)
        }
        if allowEmulation {
            return PrecisionChoice(requested: requested, precision: requested, backend: .emulation, notice: nil)
        }
        // AMX present counts as missing until its kernels exist; the notice says so.
        let amx = hardware.amxUsable ? " (AMX is present, but its kernels are not written yet)" : ""
        return PrecisionChoice(
            requested: requested, precision: .fp32, backend: .fp32,
            notice: "`precision` \(requested) needs AVX512-BF16 under the avx512 kernels\(amx); this process has "
                + "\(hardware), kernels \(KernelISA.active): running fp32")
    }
}

extension Precision {
    /// int8's kernel on the calling thread's ISA: the integer kernels give the same bits on every path, so
    /// int8 always runs as int8: AVX512-VNNI under the avx512 kernels where the CPU has it, else AVX2's exact
    /// int16 products, else the scalar reference with one notice (it is slow, not different).
    static func chooseInt8() -> PrecisionChoice {
        let isa = KernelISA.active
        if isa == .avx512 && ck_cpu().pointee.avx512_vnni == 1 {
            return PrecisionChoice(requested: .int8, precision: .int8, backend: .avx512VNNI, notice: nil)
        }
        if isa != .scalar {
            return PrecisionChoice(requested: .int8, precision: .int8, backend: .avx2Int16, notice: nil)
        }
        return PrecisionChoice(
            requested: .int8, precision: .int8, backend: .int8Scalar,
            notice: "`precision` int8 has no AVX2 or AVX512-VNNI kernels to run on here (kernels \(isa)): running "
                + "int8 on the scalar reference (the same numbers, slowly)")
    }
}
