import CKernels
import Foundation
import Testing
@testable import BertologyEngine

/// The bf16 linear layer (CKernels/gemm_bf16.c): its AVX512-BF16 form against the scalar emulation,
/// bit for bit, on awkward shapes (odd K, tails of the 12 x 32 tile, several reduction blocks); the
/// same bits on 1 and 2 threads; and the emulation against fp32 within the bound bf16 rounding gives.
@Suite struct BF16KernelTests {
    func randomValues(_ count: Int, seed: UInt64, scale: Float = 1) -> [Float] {
        var generator = SeededGenerator(seed: seed)
        return (0..<count).map { _ in scale * generator.nextNormal() }
    }

    /// The bf16 linear layer's two forms, which take the same packed weight, workspace and epilogue.
    enum Kernel { case bf16, amx }

    /// ck_linear_bf16_forward (on the active ISA) or ck_linear_amx_forward with bias and residual
    /// (and GELU when asked), on `threads` threads (default: the current setting).
    func linearBF16(_ m: Int, _ n: Int, _ k: Int, input: [Float], weight: [Float], bias: [Float], residual: [Float],
                    gelu: Bool = false, terms: Int = 1, kernel: Kernel = .bf16, threads: Int? = nil) -> [Float] {
        let previous = Kernels.maxThreads
        if let threads { Kernels.setThreads(threads) }
        defer { Kernels.setThreads(previous) }
        var packed = [UInt32](repeating: 0xdead_beef, count: ck_pack_weight_bf16_size(Int32(n), Int32(k), Int32(terms)))
        ck_pack_weight_bf16(&packed, weight, Int32(n), Int32(k), Int32(terms))
        var workspace = [Float](repeating: 0, count: ck_linear_workspace_size(Int32(Kernels.maxThreads)))
        var out = [Float](repeating: .nan, count: m * n)
        bias.withUnsafeBufferPointer { biasPointer in
            residual.withUnsafeBufferPointer { residualPointer in
                var epilogue = ck_linear_epilogue()
                epilogue.bias = biasPointer.baseAddress
                epilogue.residual = residualPointer.baseAddress
                epilogue.activation = Int32(gelu ? CK_ACTIVATION_GELU.rawValue : CK_ACTIVATION_NONE.rawValue)
                switch kernel {
                case .bf16:
                    ck_linear_bf16_forward(&out, input, packed, Int32(terms), &epilogue, Int32(m), Int32(n), Int32(k), &workspace, workspace.count)
                case .amx:
                    ck_linear_amx_forward(&out, input, packed, Int32(terms), &epilogue, Int32(m), Int32(n), Int32(k), &workspace, workspace.count)
                }
            }
        }
        return out
    }

    /// Σ x w in double and Σ |x w| for output (i, j): the exact product and the bounds' scale.
    func exactProduct(_ input: [Float], _ weight: [Float], i: Int, j: Int, k: Int) -> (exact: Double, magnitude: Double) {
        var exact = 0.0, magnitude = 0.0
        for p in 0..<k {
            let product = Double(input[i * k + p]) * Double(weight[j * k + p])
            exact += product
            magnitude += abs(product)
        }
        return (exact, magnitude)
    }

    static let shapes = [(1, 1, 1), (13, 33, 7), (25, 67, 131), (3, 32, 384), (40, 65, 769), (12, 17, 1025)]

    @Test func avx512BF16EqualsTheEmulationBitForBit() throws {
        guard ck_cpu().pointee.avx512_bf16 == 1, KernelISA.avx512.isSupported else {
            print("skipped: this CPU has no AVX512-BF16 (avx512_bf16 in /proc/cpuinfo); the emulation runs alone")
            return
        }
        for (m, n, k) in Self.shapes {
            for terms in [1, 3] {
                let input = randomValues(m * k, seed: 1), weight = randomValues(n * k, seed: 2, scale: 0.05)
                let bias = randomValues(n, seed: 3), residual = randomValues(m * n, seed: 4)
                let emulated = Kernels.withISA(.scalar) {
                    linearBF16(m, n, k, input: input, weight: weight, bias: bias, residual: residual, terms: terms)
                }!
                let hardware = Kernels.withISA(.avx512) {
                    linearBF16(m, n, k, input: input, weight: weight, bias: bias, residual: residual, terms: terms)
                }!
                let same = zip(emulated, hardware).allSatisfy { $0.bitPattern == $1.bitPattern }
                #expect(same, "bf16 (terms \(terms)) linear \(m)x\(n)x\(k): AVX512-BF16 differs from the emulation")
            }
        }
    }

    @Test func sameBitsOnOneAndTwoThreads() {
        let (m, n, k) = (200, 96, 769)
        let input = randomValues(m * k, seed: 5), weight = randomValues(n * k, seed: 6, scale: 0.05)
        let bias = randomValues(n, seed: 7), residual = randomValues(m * n, seed: 8)
        for terms in [1, 3] {
            let one = linearBF16(m, n, k, input: input, weight: weight, bias: bias, residual: residual, gelu: true, terms: terms, threads: 1)
            let two = linearBF16(m, n, k, input: input, weight: weight, bias: bias, residual: residual, gelu: true, terms: terms, threads: 2)
            #expect(zip(one, two).allSatisfy { $0.bitPattern == $1.bitPattern }, "terms \(terms)")
        }
    }

    /// Against the exact product of the fp32 operands: bf16 keeps 8 significant bits, so each operand's
    /// rounding is within u = 2^-8 relative and each product within (1 + u)^2 - 1 of |x w|; the fp32
    /// sums add at most 2 k 2^-24 Σ|x w|.
    @Test func emulationIsWithinBF16RoundingOfFP32() {
        for (m, n, k) in Self.shapes {
            let input = randomValues(m * k, seed: 9), weight = randomValues(n * k, seed: 10, scale: 0.05)
            let zeros = [Float](repeating: 0, count: max(n, m * n))
            let out = Kernels.withISA(.scalar) {
                linearBF16(m, n, k, input: input, weight: weight, bias: Array(zeros[0..<n]), residual: Array(zeros[0..<(m * n)]))
            }!
            for i in 0..<m {
                for j in 0..<n {
                    let (exact, magnitude) = exactProduct(input, weight, i: i, j: j, k: k)
                    let bound = ((1 + 0x1p-8) * (1 + 0x1p-8) - 1 + 2 * Double(k) * 0x1p-24) * magnitude + 1e-30
                    #expect(abs(Double(out[i * n + j]) - exact) <= bound, "bf16 \(m)x\(n)x\(k) at [\(i), \(j)]")
                }
            }
        }
    }

    /// bf16x3 against the exact product: hi + lo keeps about 16 bits of each operand (each within
    /// u^2 = 2^-16 of it, u = 2^-8), the dropped lo·lo is at most u^2 |x w|, so each product is within
    /// about 4 u^2 |x w|; the fp32 sums add at most 3 · 2 k 2^-24 Σ|x w| (three additions per pair).
    @Test func bf16x3IsWithinSixteenBitsOfFP32() {
        for (m, n, k) in Self.shapes {
            let input = randomValues(m * k, seed: 12), weight = randomValues(n * k, seed: 13, scale: 0.05)
            let zeros = [Float](repeating: 0, count: m * n)
            let out = Kernels.withISA(.scalar) {
                linearBF16(m, n, k, input: input, weight: weight, bias: Array(zeros[0..<n]), residual: zeros, terms: 3)
            }!
            var worst = 0.0
            for i in 0..<m {
                for j in 0..<n {
                    let (exact, magnitude) = exactProduct(input, weight, i: i, j: j, k: k)
                    let bound = (4 * 0x1p-16 + 6 * Double(k) * 0x1p-24) * magnitude + 1e-30
                    worst = max(worst, abs(Double(out[i * n + j]) - exact) / max(magnitude, 1e-30))
                    #expect(abs(Double(out[i * n + j]) - exact) <= bound, "bf16x3 \(m)x\(n)x\(k) at [\(i), \(j)]")
                }
            }
            print("bf16x3 \(m)x\(n)x\(k): worst |error| / Σ|x w| = \(worst)")
        }
    }

    /// The AMX form (ck_linear_amx_forward) against the emulation on the same packed weight: the same
    /// bf16 products summed in another order (TDPBF16PS adds a pair's two products before rounding),
    /// so within 2 · 3 · 2k · 2^-24 Σ|x w| of it (two fp32 summations of up to 3k terms each), and
    /// the same bits on 1 and 2 threads. Runs only where AMX and the OS's tile permission are present.
    @Test func amxIsWithinTheKBoundOfTheEmulation() throws {
        guard ck_amx_request_permission() == 1 else {
            print("skipped: no AMX here (\(BF16Hardware.detected)); the AMX kernel is compiled but not run")
            return
        }
        for terms in [1, 3] {
            for (m, n, k) in Self.shapes + [(33, 32, 32), (64, 96, 1536)] {
                let input = randomValues(m * k, seed: 14), weight = randomValues(n * k, seed: 15, scale: 0.05)
                let bias = randomValues(n, seed: 16), residual = randomValues(m * n, seed: 17)
                let emulated = Kernels.withISA(.scalar) {
                    linearBF16(m, n, k, input: input, weight: weight, bias: bias, residual: residual, terms: terms)
                }!
                func amx(threads: Int) -> [Float] {
                    linearBF16(m, n, k, input: input, weight: weight, bias: bias, residual: residual, terms: terms,
                               kernel: .amx, threads: threads)
                }
                let one = amx(threads: 1), two = amx(threads: 2)
                #expect(one.map(\.bitPattern) == two.map(\.bitPattern), "AMX \(m)x\(n)x\(k) terms \(terms): threads differ")
                for i in 0..<m {
                    for j in 0..<n {
                        let magnitude = exactProduct(input, weight, i: i, j: j, k: k).magnitude
                        let bound = 12 * Double(k) * 0x1p-24 * magnitude * 1.01 + 1e-6 * abs(Double(bias[j]) + Double(residual[i * n + j]))
                        #expect(abs(Double(one[i * n + j]) - Double(emulated[i * n + j])) <= bound,
                                "AMX \(m)x\(n)x\(k) terms \(terms) at [\(i), \(j)]")
                    }
                }
            }
        }
    }

    @Test func packedWeightPadsOddKAndColumnsWithZeros() {
        let (n, k) = (33, 7)
        let weight = randomValues(n * k, seed: 11)
        var packed = [UInt32](repeating: 0xdead_beef, count: ck_pack_weight_bf16_size(Int32(n), Int32(k), 1))
        ck_pack_weight_bf16(&packed, weight, Int32(n), Int32(k), 1)
        #expect(packed.count == 64 * 4)  // two panels of 32 columns, 4 pairs (K = 7 rounded up)
        #expect(!packed.contains(0xdead_beef))
        // Column 32 of panel 1 is the last real one; 33..63 are zero. Pair 3's odd half is K's padding.
        #expect(packed[(1 * 4 + 0) * 32 + 1] == 0)
        #expect(packed[(0 * 4 + 3) * 32 + 0] >> 16 == 0)
    }
}
