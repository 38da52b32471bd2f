import CKernels
import Foundation
import Testing
@testable import BertologyEngine
@testable import BertologyExperiments

/// The training kernels (ckernels.h, "Training"): each against PyTorch (Fixtures/training, written by
/// tools/reference/training_kernel_reference.py and dropout_reference.py), each SIMD path against its
/// scalar reference on awkward shapes, and every parallel one bit-identical on 1 and 2 threads.
///
/// Tolerances, and where they come from:
/// - against torch, relative to the tensor's largest magnitude: 1e-5 for the products (linear,
///   attention: a float sum of n terms is within n 2^-24 of the sum of |terms|, n <= 7 here, and torch
///   sums in another order) and layernorm; 1e-6 for the element-wise kernels, the losses and AdamW
///   (a few roundings of each value, the scalars computed from float arguments where torch has doubles);
/// - SIMD against scalar: per element 2 n 2^-24 (sum of |terms|) for the GEMMs (the recursive-summation
///   bound once per path, as KernelTests), 1e-5 of the largest magnitude for attention and layernorm
///   (sums of at most 131 terms of mixed sign in another order), 4 ulp-ish (2e-6 relative) for the GELU
///   derivative (the vector erf and exp are within about 1e-7 of erff and expf); bit-identical for
///   dropout, AdamW, scale, tanh and the embedding gradient (the same operations in the same order).
@Suite(.serialized) struct TrainingKernelTests {
    static let paths = KernelISA.allCases.filter(\.isSupported)
    static let simdPaths = paths.filter { $0 != .scalar }

    // MARK: - Fixtures

    struct Fixture: Decodable {
        struct CrossEntropy: Decodable { let B: Int, NL: Int, logits: [Float], labels: [Int32], loss: Double, d_logits: [Float] }
        struct MSE: Decodable { let B: Int, predictions: [Float], targets: [Float], loss: Double, d_predictions: [Float] }
        struct AdamW: Decodable {
            let n: Int, lr: Double, beta1: Double, beta2: Double, eps: Double, weight_decay: Double
            let initial: [Float], grads: [[Float]], params: [[Float]], m: [Float], v: [Float]
        }
        struct Gelu: Decodable { let x: [Float], d_out: [Float], d_inp: [Float] }
        struct Tanh: Decodable { let out: [Float], d_out: [Float], d_inp: [Float] }
        struct LayerNorm: Decodable {
            let N: Int, C: Int, eps: Double, x: [Float], weight: [Float], bias: [Float], out: [Float], d_out: [Float]
            let d_inp: [Float], d_weight: [Float], d_bias: [Float]
        }
        struct Linear: Decodable {
            let M: Int, N: Int, K: Int, x: [Float], weight: [Float], d_out: [Float], d_inp: [Float], d_weight: [Float], d_bias: [Float]
        }
        struct Embeddings: Decodable {
            let B: Int, T: Int, C: Int, V: Int, P: Int, TT: Int, ids: [Int32], types: [Int32], d_out: [Float]
            let d_word: [Float], d_position: [Float], d_token_type: [Float]
        }
        let cross_entropy: CrossEntropy, mse: MSE, adamw: AdamW, gelu: Gelu, tanh: Tanh
        let layernorm: LayerNorm, linear: Linear, embeddings: Embeddings
    }

    struct AttentionFixture: Decodable {
        struct Case: Decodable { let dropout_p: Float, seed: String, stream: String, context: [Float], probs: [Float], d_qkv: [Float] }
        let B: Int, T: Int, NH: Int, HS: Int, scale: Float, lengths: [Int32], qkv: [Float], d_context: [Float], cases: [Case]
    }

    struct DropoutFixture: Decodable {
        struct Case: Decodable { let seed: String, stream: String, offset: String, n: Int, p: Float, bits: [UInt32], mask: String, scale: Float }
        let cases: [Case]
    }

    static func load<T: Decodable>(_ path: String, as type: T.Type) -> T? {
        guard let data = try? Data(contentsOf: TestPaths.fixture(path)) else { return nil }
        return try? JSONDecoder().decode(T.self, from: data)
    }

    static let fixture = load("training/training_kernels.json", as: Fixture.self)
    static let attentionFixture = load("training/training_attention.json", as: AttentionFixture.self)
    static let dropoutFixture = load("training/dropout_masks.json", as: DropoutFixture.self)

    // MARK: - Helpers

    func randomValues(_ count: Int, seed: UInt64, scale: Float = 1) -> [Float] {
        var generator = SeededGenerator(seed: seed)
        return (0..<count).map { _ in scale * generator.nextNormal() }
    }

    /// max |a - b| <= tolerance * max |b| (b the reference), with a message naming the worst element.
    func expectClose(_ a: [Float], _ b: [Float], relative tolerance: Float, _ what: String,
                     sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(a.count == b.count, "\(what): \(a.count) values, expected \(b.count)", sourceLocation: sourceLocation)
        let largest = b.reduce(Float(0)) { max($0, abs($1)) }
        var worst: Float = 0, at = 0
        for (i, (x, y)) in zip(a, b).enumerated() where !(abs(x - y) <= worst) {
            worst = abs(x - y)
            at = i
        }
        #expect(worst <= tolerance * max(largest, 1e-30),
                "\(what): |difference| \(worst) at \(at) > \(tolerance) x \(largest)", sourceLocation: sourceLocation)
    }

    func bitIdentical(_ a: [Float], _ b: [Float]) -> Bool {
        a.count == b.count && zip(a, b).allSatisfy { $0.bitPattern == $1.bitPattern }
    }

    func withThreads<R>(_ threads: Int, _ body: () throws -> R) rethrows -> R {
        let previous = Kernels.maxThreads
        Kernels.setThreads(threads)
        defer { Kernels.setThreads(previous) }
        #expect(Kernels.observedThreads() == threads, "OpenMP did not run \(threads) threads")
        return try body()
    }

    /// Runs body on `isa` with `threads` threads.
    func run<R>(_ isa: KernelISA, threads: Int = 1, _ body: () -> R) -> R {
        Kernels.withISA(isa) { withThreads(threads, body) }!
    }

    // MARK: - Kernel calls on arrays

    func linearBackward(dOut: [Float], x: [Float], weight: [Float], dWeight0: [Float], dBias0: [Float],
                        m: Int, n: Int, k: Int) -> (dInp: [Float], dWeight: [Float], dBias: [Float]) {
        var dInp = [Float](repeating: .nan, count: m * k), dWeight = dWeight0, dBias = dBias0
        var workspace = [Float](repeating: 0, count: max(1, ck_linear_backward_workspace_size(Int32(m), Int32(n), Int32(k), 4)))
        ck_linear_backward(&dInp, &dWeight, &dBias, dOut, x, weight, Int32(m), Int32(n), Int32(k), &workspace, workspace.count)
        return (dInp, dWeight, dBias)
    }

    struct AttentionShape { let b: Int, t: Int, nh: Int, hs: Int, lengths: [Int32] }

    func attentionForward(_ s: AttentionShape, qkv: [Float], p: Float, seed: UInt64, stream: UInt64) -> (context: [Float], probs: [Float]) {
        let c = s.nh * s.hs
        var context = [Float](repeating: .nan, count: s.b * s.t * c), probs = [Float](repeating: .nan, count: s.b * s.nh * s.t * s.t)
        var workspace = [Float](repeating: .nan, count: ck_attention_train_workspace_size(Int32(s.t), Int32(s.hs), 4))
        ck_attention_forward_train(&context, &probs, qkv, s.lengths, Int32(s.b), Int32(s.t), Int32(s.nh), Int32(s.hs),
                                   1 / Float(s.hs).squareRoot(), p, seed, stream, &workspace, workspace.count)
        return (context, probs)
    }

    func attentionBackward(_ s: AttentionShape, dContext: [Float], qkv: [Float], probs: [Float], p: Float, seed: UInt64,
                           stream: UInt64) -> [Float] {
        var dQKV = [Float](repeating: .nan, count: qkv.count)
        var workspace = [Float](repeating: .nan, count: ck_attention_backward_workspace_size(Int32(s.t), Int32(s.hs), 4))
        ck_attention_backward(&dQKV, dContext, qkv, probs, s.lengths, Int32(s.b), Int32(s.t), Int32(s.nh), Int32(s.hs),
                              1 / Float(s.hs).squareRoot(), p, seed, stream, &workspace, workspace.count)
        return dQKV
    }

    func layernorm(x: [Float], weight: [Float], bias: [Float], dOut: [Float], n: Int, c: Int, eps: Float,
                   dWeight0: [Float], dBias0: [Float]) -> [[Float]] {
        var out = [Float](repeating: .nan, count: n * c), mean = [Float](repeating: .nan, count: n)
        var rstd = [Float](repeating: .nan, count: n)
        ck_layernorm_forward_train(&out, &mean, &rstd, x, weight, bias, Int32(n), Int32(c), eps)
        var dInp = [Float](repeating: .nan, count: n * c), dWeight = dWeight0, dBias = dBias0
        ck_layernorm_backward(&dInp, &dWeight, &dBias, dOut, x, mean, rstd, weight, Int32(n), Int32(c))
        return [out, mean, rstd, dInp, dWeight, dBias]
    }

    func adamw(param: [Float], grad: [Float], m: [Float], v: [Float], step: Int64) -> [[Float]] {
        var param = param, m = m, v = v
        ck_adamw_step(&param, grad, &m, &v, param.count, 1e-3, 0.9, 0.999, 1e-8, 0.01, step)
        return [param, m, v]
    }

    // MARK: - Against PyTorch

    @Test func fixturesArePresent() {
        #expect(Self.fixture != nil && Self.attentionFixture != nil && Self.dropoutFixture != nil)
    }

    @Test func crossEntropyAndMSEEqualTorch() throws {
        let f = try #require(Self.fixture)
        let ce = f.cross_entropy
        var dLogits = [Float](repeating: .nan, count: ce.B * ce.NL)
        let loss = ck_cross_entropy_forward_backward(&dLogits, ce.logits, ce.labels, Int32(ce.B), Int32(ce.NL))
        #expect(abs(loss - ce.loss) <= 1e-6 * abs(ce.loss), "cross-entropy \(loss) vs torch \(ce.loss)")
        expectClose(dLogits, ce.d_logits, relative: 1e-6, "d_logits")
        let mse = f.mse
        var dPredictions = [Float](repeating: .nan, count: mse.B)
        let mseLoss = ck_mse_forward_backward(&dPredictions, mse.predictions, mse.targets, Int32(mse.B))
        #expect(abs(mseLoss - mse.loss) <= 1e-6 * abs(mse.loss), "mse \(mseLoss) vs torch \(mse.loss)")
        expectClose(dPredictions, mse.d_predictions, relative: 1e-6, "d_predictions")
    }

    @Test(arguments: paths)
    func adamwEqualsTorchOverFourSteps(isa: KernelISA) throws {
        let a = try #require(Self.fixture).adamw
        var param = a.initial, m = [Float](repeating: 0, count: a.n), v = [Float](repeating: 0, count: a.n)
        for step in 0..<a.grads.count {
            run(isa) {
                ck_adamw_step(&param, a.grads[step], &m, &v, a.n, a.lr, a.beta1, a.beta2, a.eps, a.weight_decay,
                              Int64(step + 1))
            }
            expectClose(param, a.params[step], relative: 1e-6, "AdamW step \(step + 1) on \(isa)")
        }
        expectClose(m, a.m, relative: 1e-6, "exp_avg")
        expectClose(v, a.v, relative: 1e-6, "exp_avg_sq")
    }

    @Test(arguments: paths)
    func geluAndTanhDerivativesEqualTorch(isa: KernelISA) throws {
        let f = try #require(Self.fixture)
        let gelu = run(isa) { () -> [Float] in
            var d = [Float](repeating: .nan, count: f.gelu.x.count)
            ck_gelu_backward(&d, f.gelu.d_out, f.gelu.x, d.count)
            return d
        }
        expectClose(gelu, f.gelu.d_inp, relative: 1e-6, "GELU backward on \(isa)")
        let tanh = run(isa) { () -> [Float] in
            var d = f.tanh.d_out  // in place
            ck_tanh_backward(&d, d, f.tanh.out, d.count)
            return d
        }
        expectClose(tanh, f.tanh.d_inp, relative: 1e-6, "tanh backward on \(isa)")
    }

    @Test(arguments: paths)
    func layernormForwardAndBackwardEqualTorch(isa: KernelISA) throws {
        let l = try #require(Self.fixture).layernorm
        let r = run(isa) {
            layernorm(x: l.x, weight: l.weight, bias: l.bias, dOut: l.d_out, n: l.N, c: l.C, eps: Float(l.eps),
                      dWeight0: [Float](repeating: 0, count: l.C), dBias0: [Float](repeating: 0, count: l.C))
        }
        expectClose(r[0], l.out, relative: 1e-5, "layernorm out on \(isa)")
        expectClose(r[3], l.d_inp, relative: 1e-5, "layernorm d_inp on \(isa)")
        expectClose(r[4], l.d_weight, relative: 1e-5, "layernorm d_weight on \(isa)")
        expectClose(r[5], l.d_bias, relative: 1e-5, "layernorm d_bias on \(isa)")
    }

    @Test(arguments: paths)
    func linearBackwardEqualsTorch(isa: KernelISA) throws {
        let l = try #require(Self.fixture).linear
        let r = run(isa) {
            linearBackward(dOut: l.d_out, x: l.x, weight: l.weight, dWeight0: [Float](repeating: 0, count: l.N * l.K),
                           dBias0: [Float](repeating: 0, count: l.N), m: l.M, n: l.N, k: l.K)
        }
        expectClose(r.dInp, l.d_inp, relative: 1e-5, "d_inp on \(isa)")
        expectClose(r.dWeight, l.d_weight, relative: 1e-5, "d_weight on \(isa)")
        expectClose(r.dBias, l.d_bias, relative: 1e-5, "d_bias on \(isa)")
    }

    @Test func embeddingsBackwardEqualsTorch() throws {
        let e = try #require(Self.fixture).embeddings
        var word = [Float](repeating: 0, count: e.V * e.C), position = [Float](repeating: 0, count: e.P * e.C)
        var type = [Float](repeating: 0, count: e.TT * e.C)
        ck_embeddings_backward(&word, &position, &type, e.d_out, e.ids, e.types, Int32(e.B), Int32(e.T), Int32(e.C))
        expectClose(word, e.d_word, relative: 1e-6, "d_word")
        expectClose(position, e.d_position, relative: 1e-6, "d_position")
        expectClose(type, e.d_token_type, relative: 1e-6, "d_token_type")
    }

    /// A padded batch (lengths 5 and 3 of T = 5), with dropout off and with dropout 0.2 given to torch
    /// as our own mask.
    @Test(arguments: paths)
    func attentionForwardAndBackwardEqualTorch(isa: KernelISA) throws {
        let a = try #require(Self.attentionFixture)
        let shape = AttentionShape(b: a.B, t: a.T, nh: a.NH, hs: a.HS, lengths: a.lengths)
        for c in a.cases {
            let seed = try #require(UInt64(c.seed)), stream = try #require(UInt64(c.stream))
            let (context, probs) = run(isa) { attentionForward(shape, qkv: a.qkv, p: c.dropout_p, seed: seed, stream: stream) }
            expectClose(context, c.context, relative: 1e-5, "context, dropout \(c.dropout_p) on \(isa)")
            expectClose(probs, c.probs, relative: 1e-5, "probs, dropout \(c.dropout_p) on \(isa)")
            let dQKV = run(isa) {
                attentionBackward(shape, dContext: a.d_context, qkv: a.qkv, probs: probs, p: c.dropout_p, seed: seed, stream: stream)
            }
            expectClose(dQKV, c.d_qkv, relative: 1e-5, "d_qkv, dropout \(c.dropout_p) on \(isa)")
        }
    }

    /// The masks of tools/reference/dropout_reference.py (Python integers), on every path and 1 or 2 threads.
    @Test(arguments: paths)
    func dropoutMasksEqualThePythonReference(isa: KernelISA) throws {
        let f = try #require(Self.dropoutFixture)
        for c in f.cases {
            let seed = try #require(UInt64(c.seed)), stream = try #require(UInt64(c.stream))
            let offset = try #require(UInt64(c.offset))
            let expected = c.mask.map { $0 == "1" ? UInt8(1) : 0 }
            for threads in [1, 2] {
                let mask = run(isa, threads: threads) { () -> [UInt8] in
                    var mask = [UInt8](repeating: 7, count: c.n)
                    ck_dropout_mask(&mask, c.n, c.p, seed, stream, offset)
                    return mask
                }
                #expect(mask == expected, "mask seed \(c.seed) stream \(c.stream) on \(isa), \(threads) threads")
            }
            let x = randomValues(c.n, seed: 3)
            let out = run(isa) { () -> [Float] in
                var out = x
                ck_dropout_forward(&out, out, c.n, c.p, seed, stream, offset)
                return out
            }
            #expect(bitIdentical(out, zip(x, expected).map { $1 == 1 ? $0 * c.scale : 0 }), "dropout forward on \(isa)")
        }
        // A big mask on 2 threads (several chunks) equals its first elements computed alone.
        let n = 50_000
        let whole = run(isa, threads: 2) { () -> [UInt8] in
            var mask = [UInt8](repeating: 7, count: n)
            ck_dropout_mask(&mask, n, 0.1, 42, 9, 0)
            return mask
        }
        let tail = run(.scalar) { () -> [UInt8] in
            var mask = [UInt8](repeating: 7, count: 1000)
            ck_dropout_mask(&mask, 1000, 0.1, 42, 9, UInt64(n - 1000))
            return mask
        }
        #expect(Array(whole[(n - 1000)...]) == tail, "offsets address the same elements")
        let dropped = whole.filter { $0 == 0 }.count
        #expect(abs(Double(dropped) / Double(n) - 0.1) < 0.01, "dropped fraction \(Double(dropped) / Double(n))")
    }

    @Test(arguments: paths)
    func dropoutBackwardUsesTheForwardMaskAndPZeroIsTheIdentity(isa: KernelISA) {
        let x = randomValues(4099, seed: 5), g = randomValues(4099, seed: 6)
        let (forward, backward, identity) = run(isa) { () -> ([Float], [Float], [Float]) in
            var mask = [UInt8](repeating: 0, count: x.count)
            ck_dropout_mask(&mask, x.count, 0.3, 1, 2, 3)
            var out = [Float](repeating: .nan, count: x.count), d = g, same = x
            ck_dropout_forward(&out, x, x.count, 0.3, 1, 2, 3)
            ck_dropout_backward(&d, d, d.count, 0.3, 1, 2, 3)
            ck_dropout_forward(&same, same, same.count, 0, 1, 2, 3)
            let scale = 1 / Float(1 - Double(Float(0.3)))
            #expect(bitIdentical(out, zip(x, mask).map { $1 == 1 ? $0 * scale : 0 }))
            return (out, d, same)
        }
        #expect(zip(forward, backward).allSatisfy { ($0 == 0) == ($1 == 0) })
        #expect(bitIdentical(identity, x))
    }

    // MARK: - SIMD paths against the scalar references

    static let linearShapes = [(1, 1, 1), (17, 33, 67), (67, 17, 131), (131, 67, 33), (33, 131, 17), (2, 7, 1)]

    @Test(arguments: simdPaths)
    func linearBackwardMatchesScalarOnAwkwardShapes(isa: KernelISA) {
        for (m, n, k) in Self.linearShapes {
            let dOut = randomValues(m * n, seed: 1), x = randomValues(m * k, seed: 2), w = randomValues(n * k, seed: 3)
            let dw0 = randomValues(n * k, seed: 4), db0 = randomValues(n, seed: 5)
            let reference = run(.scalar) { linearBackward(dOut: dOut, x: x, weight: w, dWeight0: dw0, dBias0: db0, m: m, n: n, k: k) }
            let simd = run(isa) { linearBackward(dOut: dOut, x: x, weight: w, dWeight0: dw0, dBias0: db0, m: m, n: n, k: k) }
            // Per element: 2 n 2^-24 sum |terms| (two summation orders), plus one rounding of the old value.
            for i in 0..<m {
                for j in 0..<k {
                    var magnitude: Double = 0
                    for p in 0..<n { magnitude += Double(abs(dOut[i * n + p] * w[p * k + j])) }
                    let bound = 2 * Double(n) * 0x1p-24 * magnitude + 1e-30
                    #expect(Double(abs(reference.dInp[i * k + j] - simd.dInp[i * k + j])) <= bound, "d_inp \(m)x\(n)x\(k) [\(i), \(j)] on \(isa)")
                }
            }
            for i in 0..<n {
                for j in 0..<k {
                    var magnitude = Double(abs(dw0[i * k + j]))
                    for p in 0..<m { magnitude += Double(abs(dOut[p * n + i] * x[p * k + j])) }
                    let bound = 2 * Double(m + 1) * 0x1p-24 * magnitude + 1e-30
                    #expect(Double(abs(reference.dWeight[i * k + j] - simd.dWeight[i * k + j])) <= bound, "d_weight \(m)x\(n)x\(k) [\(i), \(j)] on \(isa)")
                }
            }
            #expect(bitIdentical(reference.dBias, simd.dBias), "d_bias \(m)x\(n)x\(k) on \(isa)")
        }
    }

    static let attentionShapes = [
        AttentionShape(b: 1, t: 1, nh: 1, hs: 1, lengths: [1]),
        AttentionShape(b: 2, t: 17, nh: 3, hs: 33, lengths: [17, 5]),
        AttentionShape(b: 3, t: 33, nh: 1, hs: 17, lengths: [1, 33, 20]),
        AttentionShape(b: 1, t: 67, nh: 2, hs: 7, lengths: [40]),
        AttentionShape(b: 1, t: 13, nh: 5, hs: 64, lengths: [13]),
    ]

    @Test(arguments: simdPaths)
    func attentionTrainingMatchesScalarOnAwkwardShapes(isa: KernelISA) {
        for s in Self.attentionShapes {
            let c = s.nh * s.hs
            let qkv = randomValues(s.b * s.t * 3 * c, seed: 7), dContext = randomValues(s.b * s.t * c, seed: 8)
            for p: Float in [0, 0.2] {
                let reference = run(.scalar) { attentionForward(s, qkv: qkv, p: p, seed: 3, stream: 4) }
                let simd = run(isa) { attentionForward(s, qkv: qkv, p: p, seed: 3, stream: 4) }
                let what = "T \(s.t) NH \(s.nh) HS \(s.hs) lengths \(s.lengths) p \(p) on \(isa)"
                expectClose(simd.probs, reference.probs, relative: 1e-5, "probs, \(what)")
                expectClose(simd.context, reference.context, relative: 1e-5, "context, \(what)")
                // Both backwards from the same (scalar) probabilities.
                let dReference = run(.scalar) { attentionBackward(s, dContext: dContext, qkv: qkv, probs: reference.probs, p: p, seed: 3, stream: 4) }
                let dSIMD = run(isa) { attentionBackward(s, dContext: dContext, qkv: qkv, probs: reference.probs, p: p, seed: 3, stream: 4) }
                expectClose(dSIMD, dReference, relative: 1e-5, "d_qkv, \(what)")
            }
        }
    }

    /// With dropout off, the training forward gives ck_attention_forward's bits (and the layernorm's
    /// forward those of ck_layernorm_forward): turning training on changes no inference result.
    @Test(arguments: paths)
    func trainingForwardsGiveTheInferenceBits(isa: KernelISA) {
        for s in Self.attentionShapes {
            let c = s.nh * s.hs
            let qkv = randomValues(s.b * s.t * 3 * c, seed: 9)
            let train = run(isa) { attentionForward(s, qkv: qkv, p: 0, seed: 0, stream: 0) }
            let inference = run(isa) { () -> ([Float], [Float]) in
                var context = [Float](repeating: .nan, count: s.b * s.t * c)
                var probs = [Float](repeating: .nan, count: s.b * s.nh * s.t * s.t)
                var workspace = [Float](repeating: .nan, count: ck_attention_workspace_size(Int32(s.t), Int32(s.hs), 4))
                ck_attention_forward(&context, &probs, qkv, s.lengths, nil, Int32(s.b), Int32(s.t), Int32(s.nh), Int32(s.hs),
                                     1 / Float(s.hs).squareRoot(), &workspace, workspace.count)
                return (context, probs)
            }
            let same = bitIdentical(train.context, inference.0) && bitIdentical(train.probs, inference.1)
            #expect(same, "attention T \(s.t) HS \(s.hs) on \(isa)")
        }
        for (n, c) in [(1, 1), (17, 33), (67, 131), (5, 384)] {
            let x = randomValues(n * c, seed: 10), w = randomValues(c, seed: 11), b = randomValues(c, seed: 12)
            let train = run(isa) { layernorm(x: x, weight: w, bias: b, dOut: x, n: n, c: c, eps: 1e-12, dWeight0: w, dBias0: b)[0] }
            let inference = run(isa) { () -> [Float] in
                var out = [Float](repeating: .nan, count: n * c)
                ck_layernorm_forward(&out, x, w, b, Int32(n), Int32(c), 1e-12)
                return out
            }
            let same = bitIdentical(train, inference)
            #expect(same, "layernorm \(n)x\(c) on \(isa)")
        }
    }

    @Test(arguments: simdPaths)
    func layernormTrainingMatchesScalarOnAwkwardShapes(isa: KernelISA) {
        for (n, c) in [(1, 1), (2, 17), (17, 33), (67, 131), (33, 7), (5, 384)] {
            let x = randomValues(n * c, seed: 13, scale: 2), w = randomValues(c, seed: 14), b = randomValues(c, seed: 15)
            let dOut = randomValues(n * c, seed: 16), dw0 = randomValues(c, seed: 17), db0 = randomValues(c, seed: 18)
            let reference = run(.scalar) { layernorm(x: x, weight: w, bias: b, dOut: dOut, n: n, c: c, eps: 1e-5, dWeight0: dw0, dBias0: db0) }
            let simd = run(isa) { layernorm(x: x, weight: w, bias: b, dOut: dOut, n: n, c: c, eps: 1e-5, dWeight0: dw0, dBias0: db0) }
            for (index, name) in ["out", "mean", "rstd", "d_inp", "d_weight", "d_bias"].enumerated() {
                expectClose(simd[index], reference[index], relative: 1e-5, "layernorm \(name) \(n)x\(c) on \(isa)")
            }
        }
    }

    @Test(arguments: simdPaths)
    func elementwiseTrainingKernelsMatchScalar(isa: KernelISA) {
        for n in [1, 7, 16, 17, 33, 67, 131, 4099] {
            let x = randomValues(n, seed: 19, scale: 3), g = randomValues(n, seed: 20)
            let gelu = { () -> [Float] in
                var d = g
                ck_gelu_backward(&d, d, x, n)
                return d
            }
            expectClose(run(isa, gelu), run(.scalar, gelu), relative: 2e-6, "GELU backward n \(n) on \(isa)")
            let tanh = { () -> [Float] in
                var d = [Float](repeating: .nan, count: n)
                ck_tanh_backward(&d, g, x, n)
                return d
            }
            #expect(bitIdentical(run(isa, tanh), run(.scalar, tanh)), "tanh backward n \(n) on \(isa)")
            let dropout = { () -> [Float] in
                var out = [Float](repeating: .nan, count: n)
                ck_dropout_forward(&out, x, n, 0.1, 5, 6, 7)
                var mask = [UInt8](repeating: 9, count: n)
                ck_dropout_mask(&mask, n, 0.1, 5, 6, 7)
                return out + mask.map { Float($0) }
            }
            #expect(bitIdentical(run(isa, dropout), run(.scalar, dropout)), "dropout n \(n) on \(isa)")
            let m0 = randomValues(n, seed: 21, scale: 0.1), v0 = randomValues(n, seed: 22).map { $0 * $0 }
            let adam = { adamw(param: x, grad: g, m: m0, v: v0, step: 3) }
            let (a, r) = (run(isa, adam), run(.scalar, adam))
            #expect(bitIdentical(a[0], r[0]) && bitIdentical(a[1], r[1]) && bitIdentical(a[2], r[2]), "AdamW n \(n) on \(isa)")
            let scale = { () -> [Float] in
                var y = x
                ck_scale(&y, n, 0.37)
                return y
            }
            #expect(bitIdentical(run(isa, scale), run(.scalar, scale)), "scale n \(n) on \(isa)")
            let squares = (run(isa) { ck_sum_squares(x, n) }, run(.scalar) { ck_sum_squares(x, n) })
            #expect(abs(squares.0 - squares.1) <= 1e-12 * squares.1, "sum of squares n \(n) on \(isa)")
        }
    }

    // MARK: - 1 and 2 threads

    /// Shapes above every kernel's threshold for running on more than one thread.
    @Test(arguments: paths)
    func trainingKernelsAreBitIdenticalOnOneAndTwoThreads(isa: KernelISA) {
        let (m, n, k) = (131, 67, 200)
        let dOut = randomValues(m * n, seed: 1), x = randomValues(m * k, seed: 2), w = randomValues(n * k, seed: 3)
        let dw0 = randomValues(n * k, seed: 4), db0 = randomValues(n, seed: 5)
        let s = AttentionShape(b: 3, t: 33, nh: 3, hs: 17, lengths: [33, 9, 20])
        let qkv = randomValues(3 * 33 * 3 * 51, seed: 6), dContext = randomValues(3 * 33 * 51, seed: 7)
        let (rows, c) = (300, 384)
        let hidden = randomValues(rows * c, seed: 8), gamma = randomValues(c, seed: 9), beta = randomValues(c, seed: 10)
        let big = randomValues(200_000, seed: 11), other = randomValues(200_000, seed: 12)
        let ids = (0..<(4 * 50)).map { Int32($0 * 7 % 30) }, types = (0..<(4 * 50)).map { Int32($0 % 2) }
        let embeddingGradient = randomValues(4 * 50 * c, seed: 13)

        let kernels: [(String, () -> [Float])] = [
            ("ck_linear_backward", {
                let r = linearBackward(dOut: dOut, x: x, weight: w, dWeight0: dw0, dBias0: db0, m: m, n: n, k: k)
                return r.dInp + r.dWeight + r.dBias
            }),
            ("ck_attention_forward_train", {
                let r = attentionForward(s, qkv: qkv, p: 0.1, seed: 1, stream: 2)
                return r.context + r.probs
            }),
            ("ck_attention_backward", {
                let probs = attentionForward(s, qkv: qkv, p: 0.1, seed: 1, stream: 2).probs
                return attentionBackward(s, dContext: dContext, qkv: qkv, probs: probs, p: 0.1, seed: 1, stream: 2)
            }),
            ("ck_layernorm_forward_train, ck_layernorm_backward", {
                layernorm(x: hidden, weight: gamma, bias: beta, dOut: hidden, n: rows, c: c, eps: 1e-12, dWeight0: gamma, dBias0: beta)
                    .flatMap { $0 }
            }),
            ("ck_gelu_backward", {
                var d = other
                ck_gelu_backward(&d, d, big, big.count)
                return d
            }),
            ("ck_dropout_forward", {
                var out = big
                ck_dropout_forward(&out, out, out.count, 0.1, 3, 4, 5)
                return out
            }),
            ("ck_embeddings_backward", {
                var word = [Float](repeating: 0.5, count: 30 * c), position = [Float](repeating: 0, count: 50 * c)
                var type = [Float](repeating: 0, count: 2 * c)
                ck_embeddings_backward(&word, &position, &type, embeddingGradient, ids, types, 4, 50, Int32(c))
                return word + position + type
            }),
            ("ck_adamw_step", { adamw(param: big, grad: other, m: other, v: big.map { $0 * $0 }, step: 2).flatMap { $0 } }),
            ("ck_sum_squares", {
                let bits = ck_sum_squares(big, big.count).bitPattern
                return [Float(bitPattern: UInt32(bits >> 32)), Float(bitPattern: UInt32(bits & 0xFFFF_FFFF))]
            }),
        ]
        for (name, kernel) in kernels {
            let one = run(isa, threads: 1, kernel), two = run(isa, threads: 2, kernel)
            #expect(bitIdentical(one, two), "\(name) on \(isa): 1 and 2 threads differ")
        }
    }
}
