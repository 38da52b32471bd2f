import CKernels
import Foundation
import Testing
@testable import BertologyEngine
@testable import BertologyExperiments

/// Every SIMD path of every kernel against its scalar reference, on awkward shapes (1, primes,
/// vector-width tails such as 17, 33, 67, 131). The scalar path is the oracle: it is written to be
/// read, and the model parity tests check it (and the active path) against PyTorch.
@Suite struct KernelTests {
    static let simdPaths = KernelISA.allCases.filter { $0 != .scalar && $0.isSupported }
    static let awkward = [1, 2, 7, 16, 17, 33, 67, 131]

    /// Runs `body` once on the scalar path and once on `isa`.
    func both<R>(_ isa: KernelISA, _ body: () -> R) -> (reference: R, simd: R) {
        (Kernels.withISA(.scalar, body)!, Kernels.withISA(isa, body)!)
    }

    func randomValues(_ count: Int, seed: UInt64, scale: Float = 1) -> [Float] {
        var generator = SeededGenerator(seed: seed)
        return (0..<count).map { _ in scale * generator.nextNormal() }
    }

    @Test func everySIMDPathIsAvailableOnThisMachineOrSkippedByName() {
        // Documents which paths this run exercised (AVX-512 and AVX2 on the CI machines).
        #expect(KernelISA.scalar.isSupported)
        print("kernel paths tested against scalar:", Self.simdPaths.map(\.rawValue))
    }

    @Test(arguments: simdPaths)
    func sgemmMatchesScalarForEveryTransposeAndTail(isa: KernelISA) {
        for (m, n, k) in [(1, 1, 1), (17, 33, 67), (7, 131, 17), (33, 2, 131), (67, 17, 1), (2, 67, 33)] {
            for (transA, transB) in [(0, 0), (0, 1), (1, 0), (1, 1)] {
                for (alpha, beta) in [(Float(1), Float(0)), (0.5, 2)] {
                    // Leading dimensions 3 wider than needed, so strided access is tested too.
                    let lda = (transA == 1 ? m : k) + 3, ldb = (transB == 1 ? k : n) + 3, ldc = n + 3
                    let a = randomValues((transA == 1 ? k : m) * lda, seed: 1)
                    let bValues = randomValues((transB == 1 ? n : k) * ldb, seed: 2)
                    let c0 = randomValues(m * ldc, seed: 3)
                    let (reference, simd) = both(isa) { () -> [Float] in
                        var c = c0
                        ck_sgemm(Int32(transA), Int32(transB), Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda),
                                 bValues, Int32(ldb), beta, &c, Int32(ldc))
                        return c
                    }
                    // Two summation orders of k products differ by at most 2 k 2^-24 sum|a b| (the
                    // standard bound for recursive summation, once per path), scaled by alpha, plus
                    // one rounding of beta * c.
                    for i in 0..<m {
                        for j in 0..<n {
                            var magnitude: Double = 0
                            for p in 0..<k {
                                let av = transA == 1 ? a[p * lda + i] : a[i * lda + p]
                                let bv = transB == 1 ? bValues[j * ldb + p] : bValues[p * ldb + j]
                                magnitude += Double(abs(av * bv))
                            }
                            let bound = 2 * Double(k) * 0x1p-24 * magnitude * Double(alpha)
                                + 0x1p-23 * Double(abs(beta * c0[i * ldc + j])) + 1e-30
                            let difference = Double(abs(reference[i * ldc + j] - simd[i * ldc + j]))
                            #expect(difference <= bound, "sgemm \(m)x\(n)x\(k) trans \(transA)\(transB) on \(isa) at [\(i), \(j)]")
                        }
                    }
                }
            }
        }
    }

    @Test(arguments: simdPaths)
    func sgemmWithBetaZeroIgnoresNaNInOutput(isa: KernelISA) {
        let a = randomValues(17 * 33, seed: 4), b = randomValues(33 * 19, seed: 5)
        let result = Kernels.withISA(isa) { () -> [Float] in
            var c = [Float](repeating: .nan, count: 17 * 19)
            ck_sgemm(0, 0, 17, 19, 33, 1, a, 33, b, 19, 0, &c, 19)
            return c
        }!
        #expect(result.allSatisfy { $0.isFinite })
    }

    @Test(arguments: simdPaths)
    func linearMatchesScalar(isa: KernelISA) {
        for (m, n, k) in [(1, 1, 1), (17, 67, 131), (33, 36, 36), (131, 17, 50)] {
            let input = randomValues(m * k, seed: 6), weight = randomValues(n * k, seed: 7), bias = randomValues(n, seed: 8)
            let (reference, simd) = both(isa) { () -> [Float] in
                var out = [Float](repeating: 0, count: m * n)
                ck_linear_forward(&out, input, weight, bias, Int32(m), Int32(n), Int32(k))
                return out
            }
            // Same bound as sgemm: 2 k 2^-24 sum|x w|, plus one rounding for the bias.
            for i in 0..<m {
                for j in 0..<n {
                    let magnitude = (0..<k).reduce(0.0) { $0 + Double(abs(input[i * k + $1] * weight[j * k + $1])) }
                    let bound = 2 * Double(k) * 0x1p-24 * magnitude + 0x1p-23 * Double(abs(reference[i * n + j]))
                    #expect(Double(abs(reference[i * n + j] - simd[i * n + j])) <= bound, "linear \(m)x\(n)x\(k) on \(isa) at [\(i), \(j)]")
                }
            }
        }
    }

    /// The GEMM's row blocks and weight-panel groups come from the L2 size the machine reports (a fifth
    /// of L2 for the group of 384 x 32 panels, the activation and C blocks up to three quarters).
    @Test func gemmBlockingFollowsTheReportedL2() {
        var l1d = 0, l2 = 0, l3 = 0
        var rows: Int32 = 0, group: Int32 = 0
        ck_cache_sizes(&l1d, &l2, &l3)
        ck_gemm_blocking(&rows, &group)
        let panel = 384 * 32 * 4
        #expect(l1d >= 16 << 10 && l2 >= 256 << 10)
        #expect(Int(group) == max(1, min(64, l2 / 5 / panel)))
        let expectedRows = (l2 / 4 * 3 - Int(group) * panel) / ((384 + 384) * 4) / 12 * 12
        #expect(Int(rows) == max(96, min(768, expectedRows)))
        // The AVX2 path: a group of three eighths of L2, a fixed 576-row block; the workspace covers both.
        var rows256: Int32 = 0, group256: Int32 = 0
        ck_gemm_blocking_avx2(&rows256, &group256)
        #expect(Int(group256) == max(1, min(64, l2 / 8 * 3 / panel)))
        #expect(rows256 == 576)
        #expect(ck_linear_workspace_size(2) == 2 * Int(max(rows, rows256)) * 384)
        print("caches: L1d \(l1d >> 10) KB, L2 \(l2 >> 10) KB, L3 \(l3 >> 20) MB -> \(rows) rows, \(group) panels per group; avx2 \(rows256) rows, \(group256) panels")
    }

    @Test func packedWeightRoundTripsAndPadsWithZeros() {
        for (n, k) in [(1, 1), (33, 7), (64, 5), (67, 131)] {
            let weight = randomValues(n * k, seed: UInt64(n * k))
            var packed = [Float](repeating: .nan, count: ck_pack_weight_size(Int32(n), Int32(k)))
            ck_pack_weight(&packed, weight, Int32(n), Int32(k))
            var back = [Float](repeating: .nan, count: n * k)
            ck_unpack_weight(&back, packed, Int32(n), Int32(k))
            #expect(back == weight, "pack/unpack \(n)x\(k)")
            #expect(packed.allSatisfy { !$0.isNaN }, "padding columns are written (zeros)")
        }
    }

    /// Runs ck_linear_packed_forward with every epilogue stage on the given ISA.
    func packedLinear(_ m: Int, _ n: Int, _ k: Int, gelu: Bool, residual: [Float]?, norm: Bool,
                      input: [Float], weight: [Float], bias: [Float], normWeight: [Float], normBias: [Float]) -> [Float] {
        var packed = [Float](repeating: 0, count: ck_pack_weight_size(Int32(n), Int32(k)))
        ck_pack_weight(&packed, weight, Int32(n), Int32(k))
        var workspace = [Float](repeating: 0, count: ck_linear_workspace_size(Int32(Kernels.maxThreads)))
        var out = [Float](repeating: .nan, count: m * n)
        bias.withUnsafeBufferPointer { biasPointer in
            (residual ?? []).withUnsafeBufferPointer { residualPointer in
                normWeight.withUnsafeBufferPointer { nw in
                    normBias.withUnsafeBufferPointer { nb in
                        var epilogue = ck_linear_epilogue()
                        epilogue.bias = biasPointer.baseAddress
                        epilogue.activation = Int32(gelu ? CK_ACTIVATION_GELU.rawValue : CK_ACTIVATION_NONE.rawValue)
                        epilogue.residual = residual == nil ? nil : residualPointer.baseAddress
                        epilogue.norm_weight = norm ? nw.baseAddress : nil
                        epilogue.norm_bias = norm ? nb.baseAddress : nil
                        epilogue.norm_eps = 1e-12
                        ck_linear_packed_forward(&out, input, packed, &epilogue, Int32(m), Int32(n), Int32(k),
                                                 &workspace, workspace.count)
                    }
                }
            }
        }
        return out
    }

    @Test(arguments: simdPaths)
    func packedLinearMatchesScalarWithEveryEpilogue(isa: KernelISA) {
        // Row counts around the 12-row tile and its tails, the 384-row block (192 when K > 1024) and
        // several blocks with the layernorm completed by whichever thread finishes a block; K across
        // the 384-column block with 16-column packing tails (385, 800, 1030); N around the 32-column panel.
        for (m, n, k) in [(1, 1, 1), (1, 67, 131), (13, 33, 385), (97, 32, 17), (131, 96, 800), (200, 7, 64),
                          (390, 33, 1030), (800, 64, 40)] {
            let input = randomValues(m * k, seed: UInt64(m + k)), weight = randomValues(n * k, seed: UInt64(n))
            let bias = randomValues(n, seed: 14), residual = randomValues(m * n, seed: 15)
            let normWeight = randomValues(n, seed: 16), normBias = randomValues(n, seed: 17)
            // sum_k |x w| per output, for the error bound (once per shape: it is the slow part in debug).
            var magnitudes = [Double](repeating: 0, count: m * n)
            input.withUnsafeBufferPointer { x in
                weight.withUnsafeBufferPointer { w in
                    for i in 0..<m {
                        for j in 0..<n {
                            var sum: Float = 0
                            for p in 0..<k { sum += abs(x[i * k + p] * w[j * k + p]) }
                            magnitudes[i * n + j] = Double(sum) * (1 + 1e-5)
                        }
                    }
                }
            }
            for (gelu, withResidual, norm) in [(false, false, false), (true, false, false), (false, true, true)] {
                let (reference, simd) = both(isa) { () -> [Float] in
                    packedLinear(m, n, k, gelu: gelu, residual: withResidual ? residual : nil, norm: norm,
                                 input: input, weight: weight, bias: bias, normWeight: normWeight, normBias: normBias)
                }
                // Before the layernorm: the sgemm bound, 2 k 2^-24 sum|x w| (GELU's slope is at most
                // 1.13 and its SIMD erf adds 2e-6 relative). A layernorm rescales a row by 1/sigma,
                // so there the bound is taken relative to the row's spread (measured below 1e-5).
                var worst: Double = 0
                for i in 0..<m {
                    for j in 0..<n {
                        let bound = 2.3 * Double(k) * 0x1p-24 * magnitudes[i * n + j] + 2e-6 * Double(max(1, abs(reference[i * n + j])))
                        let difference = Double(abs(reference[i * n + j] - simd[i * n + j]))
                        if norm { worst = max(worst, difference / max(1, Double(abs(reference[i * n + j])))) }
                        else { #expect(difference <= bound, "packed linear \(m)x\(n)x\(k) gelu \(gelu) on \(isa) at [\(i), \(j)]") }
                    }
                }
                #expect(worst <= 2e-5, "packed linear + layernorm \(m)x\(n)x\(k) on \(isa): \(worst)")
            }
        }
    }

    @Test func packedLinearScalarPathIsTheDefinition() {
        // The oracle itself against a plain double-precision sum: out = gelu(x wᵀ + b).
        let (m, n, k) = (5, 37, 19)
        let input = randomValues(m * k, seed: 18), weight = randomValues(n * k, seed: 19), bias = randomValues(n, seed: 20)
        let out = Kernels.withISA(.scalar) {
            packedLinear(m, n, k, gelu: true, residual: nil, norm: false, input: input, weight: weight, bias: bias,
                         normWeight: [], normBias: [])
        }!
        for i in 0..<m {
            for j in 0..<n {
                let x = (0..<k).reduce(Double(bias[j])) { $0 + Double(input[i * k + $1]) * Double(weight[j * k + $1]) }
                let expected = 0.5 * x * (1 + erf(x / 2.0.squareRoot()))
                #expect(abs(Double(out[i * n + j]) - expected) <= 1e-5 * max(1, abs(expected)))
            }
        }
    }

    @Test(arguments: simdPaths)
    func softmaxMatchesScalarAndZeroesMaskedColumns(isa: KernelISA) {
        for cols in Self.awkward {
            for valid in Set([1, cols / 2 + 1, cols]) where valid <= cols {
                let x0 = randomValues(3 * cols, seed: UInt64(cols), scale: 4)
                let (reference, simd) = both(isa) { () -> [Float] in
                    var x = x0
                    ck_softmax_forward(&x, 3, Int32(cols), Int32(valid), 0.37)
                    return x
                }
                // exp: the SIMD polynomial is within 2 ulp of expf; normalisation adds a few more.
                let worst = zip(reference, simd).map { abs($0 - $1) }.max()!
                #expect(worst <= 1e-6, "softmax \(cols) valid \(valid) on \(isa): \(worst)")
                for row in 0..<3 {
                    #expect(simd[(row * cols + valid)..<(row * cols + cols)].allSatisfy { $0 == 0 })
                    let sum = simd[(row * cols)..<(row * cols + valid)].reduce(0, +)
                    #expect(abs(sum - 1) <= 1e-5)
                }
            }
        }
    }

    func attentionWorkspace(_ t: Int, _ headSize: Int) -> [Float] {
        // NaN-filled: no path may read workspace it has not written.
        [Float](repeating: .nan, count: ck_attention_workspace_size(Int32(t), Int32(headSize), Int32(Kernels.maxThreads)))
    }

    @Test(arguments: simdPaths)
    func attentionMatchesScalarWithEveryHeadMode(isa: KernelISA) {
        for (heads, headSize) in [(3, 12), (4, 5), (2, 17), (1, 33), (2, 64)] {
            for t in [1, 7, 17, 33, 70] {
                let batch = 3, c = heads * headSize
                let qkv = randomValues(batch * t * 3 * c, seed: UInt64(t * 31 + heads), scale: 2)
                let lengths: [Int32] = [Int32(t), Int32(max(1, t / 2)), 1]
                let modes: [Int32] = (0..<heads).map { Int32($0 % 3) }  // keep, zero, uniform, ...
                let (reference, simd) = both(isa) { () -> [Float] in
                    var workspace = attentionWorkspace(t, headSize)
                    var context = [Float](repeating: .nan, count: batch * t * c)
                    var probabilities = [Float](repeating: .nan, count: batch * heads * t * t)
                    ck_attention_forward(&context, &probabilities, qkv, lengths, modes, Int32(batch), Int32(t),
                                         Int32(heads), Int32(headSize), 1 / Float(headSize).squareRoot(),
                                         &workspace, workspace.count)
                    var contextOnly = [Float](repeating: .nan, count: batch * t * c)
                    ck_attention_forward(&contextOnly, nil, qkv, lengths, modes, Int32(batch), Int32(t),
                                         Int32(heads), Int32(headSize), 1 / Float(headSize).squareRoot(),
                                         &workspace, workspace.count)
                    #expect(contextOnly == context, "keeping probabilities must not change the context")
                    return context + probabilities
                }
                // Scores (dot products of up to 33 terms, values of magnitude ~10), the polynomial exp
                // and the p·V sums all reassociate between paths: measured up to 2.9e-6.
                let worst = zip(reference, simd).map { abs($0 - $1) / max(1, abs($0)) }.max()!
                #expect(worst <= 1e-5, "attention heads \(heads) size \(headSize) T \(t) on \(isa): \(worst)")
            }
        }
    }

    @Test func attentionHeadModesFollowTheirDefinitions() {
        let (batch, t, heads, headSize) = (2, 5, 3, 4)
        let c = heads * headSize
        let qkv = randomValues(batch * t * 3 * c, seed: 9)
        let lengths: [Int32] = [5, 3]
        var context = [Float](repeating: 0, count: batch * t * c)
        var p = [Float](repeating: 0, count: batch * heads * t * t)
        var workspace = attentionWorkspace(t, headSize)
        ck_attention_forward(&context, &p, qkv, lengths, [0, 1, 2], Int32(batch), Int32(t), Int32(heads), Int32(headSize), 0.5,
                             &workspace, workspace.count)
        for b in 0..<batch {
            let length = Int(lengths[b])
            for i in 0..<t {
                let row = { (h: Int) in Array(p[(((b * heads + h) * t + i) * t)..<(((b * heads + h) * t + i + 1) * t)]) }
                #expect(abs(row(0).reduce(0, +) - 1) < 1e-6)
                #expect(row(0)[length...].allSatisfy { $0 == 0 }, "padding keys get exactly 0")
                #expect(row(1).allSatisfy { $0 == 0 }, "zero: every probability 0")
                #expect(row(2) == (0..<t).map { $0 < length ? 1 / Float(length) : 0 }, "uniform: 1/L on real keys")
                for d in 0..<headSize {
                    #expect(context[(b * t + i) * c + headSize + d] == 0, "zero: no context")
                    // Uniform: the mean of V over the real tokens, in every query row.
                    let mean = (0..<length).map { qkv[(b * t + $0) * 3 * c + 2 * c + 2 * headSize + d] }.reduce(0, +) / Float(length)
                    #expect(abs(context[(b * t + i) * c + 2 * headSize + d] - mean) < 1e-5)
                }
            }
        }
    }

    @Test(arguments: simdPaths)
    func layernormMatchesScalar(isa: KernelISA) {
        for c in Self.awkward + [384] {
            let x = randomValues(5 * c, seed: UInt64(c), scale: 3).map { $0 + 7 }
            let weight = randomValues(c, seed: 10), bias = randomValues(c, seed: 11)
            let (reference, simd) = both(isa) { () -> [Float] in
                var out = [Float](repeating: 0, count: 5 * c)
                ck_layernorm_forward(&out, x, weight, bias, 5, Int32(c), 1e-12)
                return out
            }
            // The mean of C values near 7 is summed in 16 (AVX-512) or 8 (AVX2) partial sums instead of
            // one: about sqrt(C) ulp(7 C) apart, amplified by 1/sigma = 1/3. Measured 2.3e-6 at C = 384.
            let worst = zip(reference, simd).map { abs($0 - $1) / max(1, abs($0)) }.max()!
            #expect(worst <= 1e-5, "layernorm C \(c) on \(isa): \(worst)")
        }
    }

    @Test(arguments: simdPaths)
    func elementwiseKernelsMatchScalar(isa: KernelISA) {
        for n in Self.awkward + [4097, 20000] {
            let x = randomValues(n, seed: UInt64(n), scale: 3), y = randomValues(n, seed: UInt64(n + 1))
            let (reference, simd) = both(isa) { () -> [[Float]] in
                var gelu = [Float](repeating: 0, count: n), sum = [Float](repeating: 0, count: n)
                ck_gelu_forward(&gelu, x, n)
                ck_add(&sum, x, y, n)
                return [gelu, sum]
            }
            // GELU: the SIMD erf is a rational approximation within 5e-7 of erff (see vecmath.h).
            let geluError = zip(reference[0], simd[0]).map { abs($0 - $1) / max(1, abs($0)) }.max()!
            #expect(geluError <= 2e-6, "gelu n \(n) on \(isa): \(geluError)")
            #expect(reference[1] == simd[1], "add is exact")
        }
        // Bias per row, embeddings gather: exact sums in the same order.
        for c in Self.awkward {
            let rows = 9
            let x0 = randomValues(rows * c, seed: 12), bias = randomValues(c, seed: 13)
            let (reference, simd) = both(isa) { () -> [Float] in
                var x = x0
                ck_add_bias(&x, bias, Int32(rows), Int32(c))
                return x
            }
            #expect(reference == simd)
        }
    }

    @Test func geluIsTheExactErfForm() {
        let x: [Float] = [-6, -3, -1.5, -0.5, -1e-3, 0, 1e-3, 0.5, 1, 2.5, 6]
        for isa in KernelISA.allCases where isa.isSupported {
            let out = Kernels.withISA(isa) { () -> [Float] in
                var out = [Float](repeating: 0, count: x.count)
                ck_gelu_forward(&out, x, x.count)
                return out
            }!
            for (value, result) in zip(x, out) {
                let exact = 0.5 * Double(value) * (1 + erf(Double(value) / 2.0.squareRoot()))
                #expect(abs(Double(result) - exact) <= 2e-6 * max(1, abs(exact)), "gelu(\(value)) on \(isa)")
            }
        }
    }

    @Test(arguments: simdPaths)
    func halfPrecisionConversionIsExactForAll65536Values(isa: KernelISA) {
        let all = (0...UInt16.max).map { $0 }
        let (reference, simd) = both(isa) { () -> [UInt32] in
            var out = [Float](repeating: 0, count: all.count)
            ck_convert_f16_to_f32(&out, all, all.count)
            return out.map(\.bitPattern)
        }
        // NaN payloads may differ between conversions; everything else must be bit-identical.
        for (index, (r, s)) in zip(reference, simd).enumerated() where r != s {
            let isNaN = Float(bitPattern: r).isNaN && Float(bitPattern: s).isNaN
            #expect(isNaN, "f16 0x\(String(index, radix: 16)) -> \(Float(bitPattern: r)) vs \(Float(bitPattern: s))")
        }
        // Spot values from IEEE 754: 1.0, -2.0, max half, smallest subnormal, infinity.
        let spot: [UInt16: Float] = [0x3C00: 1, 0xC000: -2, 0x7BFF: 65504, 0x0001: 5.9604645e-8, 0x7C00: .infinity]
        for (bits, value) in spot { #expect(Float(bitPattern: reference[Int(bits)]) == value) }
    }

    @Test func bfloat16ConversionKeepsTheTopHalfOfAFloat() {
        let values: [Float] = [1, -2.5, 3.140625, .infinity, 1e-38]
        let bits = values.map { UInt16($0.bitPattern >> 16) }
        var out = [Float](repeating: 0, count: values.count)
        ck_convert_bf16_to_f32(&out, bits, bits.count)
        #expect(out.map(\.bitPattern) == values.map { $0.bitPattern & 0xFFFF_0000 })
    }

    @Test func meanPoolAveragesOnlyRealTokens() {
        let (b, t, c) = (2, 3, 2)
        let hidden: [Float] = [1, 2, 3, 4, 100, 100, /* example 2 */ 5, 6, 100, 100, 100, 100]
        var out = [Float](repeating: 0, count: b * c)
        ck_mean_pool(&out, hidden, [2, 1], Int32(b), Int32(t), Int32(c))
        #expect(out == [2, 3, 5, 6])
    }

    /// A thread's ISA override reaches the kernel's other threads: under an AVX2 override on an
    /// AVX-512 machine, both threads of a 2-thread pieces call run AVX2 register tiles, none AVX-512.
    @Test(.enabled(if: KernelISA.avx512.isSupported && KernelISA.avx2.isSupported && Kernels.openMPEnabled))
    func anISAOverrideReachesEveryThreadOfTheCall() {
        let threads = 2, panels = 1, kc = 8
        let a = [Float](repeating: 1, count: threads * panels * 12 * kc)
        let b = [Float](repeating: 0.5, count: threads * panels * kc * 32)
        var c = [Float](repeating: 0, count: threads * 12 * 32)
        let before = (avx2: ck_gemm_piece_tile_runs(CK_ISA_AVX2), avx512: ck_gemm_piece_tile_runs(CK_ISA_AVX512))
        let ran = Kernels.withISA(.avx2) {
            ck_gemm_piece_tiles(a, b, &c, Int32(kc), Int32(panels), 1, Int32(threads))
        }
        #expect(ran == 1)
        #expect(ck_gemm_piece_tile_runs(CK_ISA_AVX2) - before.avx2 == threads)
        #expect(ck_gemm_piece_tile_runs(CK_ISA_AVX512) - before.avx512 == 0)
        #expect(c.allSatisfy { $0 == 4 })  // 8 products of 1 x 0.5, exact
    }
}
