import CKernels
import Foundation
import Testing
@testable import BertologyEngine
@testable import BertologyExperiments

/// docs/DESIGN.md ("Numeric rules"): the same command on the same machine gives the same numbers. Three checks:
/// - every parallel kernel gives bit-identical results on 1 and 2 threads, on every ISA path;
/// - the default model's attentions and hidden states on 1 and 2 threads agree within 1e-6 (they
///   are in fact bit-identical today; the test prints the measured difference);
/// - `bertology inspect --json` twice gives byte-identical output, and on 1 and 2 threads the same
///   numbers.
///
/// Why the kernels are bit-identical across thread counts: each parallel loop splits the *outputs*
/// (GEMM tiles of C, rows of softmax and layernorm, chunks of element-wise arrays, (example, head)
/// pairs of attention), and every output is computed by one thread with the same code and the same
/// summation order whatever the split. No kernel reduces across threads. A kernel that starts to
/// (split-K GEMM, a parallel sum) fails `parallelKernelsAreBitIdenticalOnOneAndTwoThreads`; then
/// docs/RELIABILITY.md and that test must say which kernel is only close.
@Suite(.serialized) struct DeterminismTests {
    static let paths = KernelISA.allCases.filter(\.isSupported)

    /// Runs `body` with the kernels called from this thread on `threads` OpenMP threads.
    func withThreads<R>(_ threads: Int, _ body: () throws -> R) rethrows -> R {
        let previous = Kernels.maxThreads
        Kernels.setThreads(threads)
        defer { Kernels.setThreads(previous) }
        #expect(Kernels.observedThreads() == threads, "OpenMP did not run \(threads) threads")
        return try body()
    }

    func randomValues(_ count: Int, seed: UInt64) -> [Float] {
        var generator = SeededGenerator(seed: seed)
        return (0..<count).map { _ in generator.nextNormal() }
    }

    func bitIdentical(_ a: [Float], _ b: [Float]) -> Bool {
        a.count == b.count && zip(a, b).allSatisfy { $0.bitPattern == $1.bitPattern }
    }

    func maxDifference(_ a: [Float], _ b: [Float]) -> Float {
        zip(a, b).reduce(0) { max($0, abs($1.0 - $1.1)) }
    }

    // MARK: - Kernels

    /// Shapes above each kernel's `if` threshold, so the loops really run on two threads.
    @Test(arguments: paths)
    func parallelKernelsAreBitIdenticalOnOneAndTwoThreads(isa: KernelISA) throws {
        let (m, n, k) = (67, 200, 131)  // 2 m n k = 3.5 MFLOP, 3 x 4 tiles
        let a = randomValues(m * k, seed: 1), w = randomValues(n * k, seed: 2), bias = randomValues(n, seed: 3)
        let rows = 300, columns = 131
        let logits = randomValues(rows * columns, seed: 4)
        let (tokens, c) = (200, 384)
        let hidden = randomValues(tokens * c, seed: 5), gamma = randomValues(c, seed: 6), beta = randomValues(c, seed: 7)
        let big = randomValues(50_000, seed: 8), other = randomValues(50_000, seed: 9)
        let (b, t, vocabulary) = (4, 50, 30)
        let ids = (0..<(b * t)).map { Int32($0 * 7 % vocabulary) }, types = (0..<(b * t)).map { Int32($0 % 2) }
        let word = randomValues(vocabulary * c, seed: 10), position = randomValues(t * c, seed: 11)
        let typeTable = randomValues(2 * c, seed: 12)

        let kernels: [(String, () -> [Float])] = [
            ("ck_sgemm", {
                var out = [Float](repeating: 0, count: m * n)
                ck_sgemm(0, 1, Int32(m), Int32(n), Int32(k), 1, a, Int32(k), w, Int32(k), 0, &out, Int32(n))
                return out
            }),
            ("ck_linear_forward", {
                var out = [Float](repeating: 0, count: m * n)
                ck_linear_forward(&out, a, w, bias, Int32(m), Int32(n), Int32(k))
                return out
            }),
            ("ck_softmax_forward", {
                var x = logits
                ck_softmax_forward(&x, Int32(rows), Int32(columns), Int32(columns - 5), 0.125)
                return x
            }),
            ("ck_layernorm_forward", {
                var out = [Float](repeating: 0, count: tokens * c)
                ck_layernorm_forward(&out, hidden, gamma, beta, Int32(tokens), Int32(c), 1e-12)
                return out
            }),
            ("ck_gelu_forward", {
                var out = [Float](repeating: 0, count: big.count)
                ck_gelu_forward(&out, big, big.count)
                return out
            }),
            ("ck_add", {
                var out = [Float](repeating: 0, count: big.count)
                ck_add(&out, big, other, big.count)
                return out
            }),
            ("ck_add_bias", {
                var x = hidden
                ck_add_bias(&x, gamma, Int32(tokens), Int32(c))
                return x
            }),
            ("ck_embeddings_forward", {
                var out = [Float](repeating: 0, count: b * t * c)
                ck_embeddings_forward(&out, ids, types, word, position, typeTable, Int32(b), Int32(t), Int32(c))
                return out
            }),
        ]
        for (name, kernel) in kernels {
            let one = try #require(Kernels.withISA(isa) { withThreads(1, kernel) })
            let two = try #require(Kernels.withISA(isa) { withThreads(2, kernel) })
            #expect(bitIdentical(one, two), "\(name) on \(isa): 1 and 2 threads differ by up to \(maxDifference(one, two))")
        }
    }

    // MARK: - The default model

    /// A padded batch (lengths 5 to 24, one pair) through all-MiniLM-L6-v2 with every attention map
    /// observed: 1 and 2 threads within 1e-6 (the bound), printed as measured.
    @Test func defaultModelAgreesOnOneAndTwoThreads() throws {
        let checkpoint = try Checkpoint.load(TestPaths.defaultModel)
        let tokenizer = checkpoint.tokenizer
        let encodings = [
            tokenizer.encode("A man is playing a guitar."),
            tokenizer.encode("The quick brown fox jumps over the lazy dog while the cat sleeps on the warm mat."),
            tokenizer.encode("Someone is slicing a tomato.", pair: "A woman cuts a tomato into pieces."),
            tokenizer.encode("Hi."),
        ]
        let batch = Batch(encodings: encodings, padId: tokenizer.padId)

        final class Recorder: AttentionObserver {
            var probabilities: [Float] = []
            func observe(_ attention: LayerAttention) { probabilities += attention.probabilities }
        }
        func run(threads: Int) throws -> (attentions: [Float], hidden: [Float]) {
            try withThreads(threads) {
                let session = InferenceSession(model: checkpoint.model)
                let recorder = Recorder()
                try session.forward(batch, observer: recorder)
                let hidden = (0..<batch.size).flatMap { session.lastHiddenState(example: $0) }
                return (recorder.probabilities, hidden)
            }
        }
        let one = try run(threads: 1), two = try run(threads: 2)
        #expect(one.attentions.count == 6 * 4 * 12 * batch.sequenceLength * batch.sequenceLength)
        let attentionDifference = maxDifference(one.attentions, two.attentions)
        let hiddenDifference = maxDifference(one.hidden, two.hidden)
        print("determinism: all-MiniLM-L6-v2, batch of 4 (T = \(batch.sequenceLength)), 1 vs 2 threads:",
              "max |difference| attentions \(attentionDifference), last hidden state \(hiddenDifference);",
              "bit-identical: \(bitIdentical(one.attentions, two.attentions) && bitIdentical(one.hidden, two.hidden))")
        #expect(attentionDifference <= 1e-6)
        #expect(hiddenDifference <= 1e-6)
    }

    // MARK: - The command line

    struct InspectOutput: Decodable {
        let tokens: [String]
        let attentions: [[[[Float]]]]
        let last_hidden_state: [[Float]]
    }

    @Test func inspectJSONIsByteIdenticalRunToRunAndAgreesAcrossThreadCounts() throws {
        let arguments = ["inspect", "--json", "--model", TestPaths.defaultModel.path,
                         "--pair", "A woman cuts a tomato into pieces.", "Someone is slicing a tomato."]
        var outputs: [Data] = []
        for threads in ["2", "2", "1"] {
            let result = try CommandLineTool.run(arguments, environment: ["OMP_NUM_THREADS": threads])
            #expect(result.status == 0, "\(result.stderrText)")
            #expect(result.stderr.isEmpty)
            outputs.append(result.stdout)
        }
        #expect(!outputs[0].isEmpty)
        #expect(outputs[0] == outputs[1], "the same command twice gave different JSON")
        let two = try JSONDecoder().decode(InspectOutput.self, from: outputs[0])
        let one = try JSONDecoder().decode(InspectOutput.self, from: outputs[2])
        #expect(one.tokens == two.tokens)
        let flat = { (output: InspectOutput) in (output.attentions.flatMap { $0.flatMap { $0.flatMap { $0 } } }, output.last_hidden_state.flatMap { $0 }) }
        let (attentionsOne, hiddenOne) = flat(one), (attentionsTwo, hiddenTwo) = flat(two)
        #expect(maxDifference(attentionsOne, attentionsTwo) <= 1e-6)
        #expect(maxDifference(hiddenOne, hiddenTwo) <= 1e-6)
        print("determinism: inspect --json on 1 and 2 threads is byte-identical: \(outputs[0] == outputs[2])")
    }

    /// `analyze` twice into two folders: every file but the wall times (`timing.json`, and the
    /// time row of `index.html`) is byte-identical.
    @Test func analyzeOutputsAreByteIdenticalRunToRun() throws {
        let manager = FileManager.default
        let scratch = manager.temporaryDirectory.appendingPathComponent("bertology-determinism-\(UUID().uuidString)")
        defer { try? manager.removeItem(at: scratch) }
        var folders: [URL] = []
        for run in 0..<2 {
            let out = scratch.appendingPathComponent("run\(run)")
            let result = try CommandLineTool.run(["analyze", "--model", TestPaths.defaultModel.path, "--task", "STS-B",
                                                  "--data", TestPaths.repositoryRoot.appendingPathComponent("Examples/demo-glue").path,
                                                  "--limit", "24", "--relations",
                                                  TestPaths.repositoryRoot.appendingPathComponent("docs/examples/relations.jsonl").path,
                                                  "--out", out.path])
            #expect(result.status == 0, "\(result.stderrText)")
            folders.append(out)
        }
        let names = try manager.contentsOfDirectory(atPath: folders[0].path).sorted()
        #expect(names == (try manager.contentsOfDirectory(atPath: folders[1].path).sorted()))
        #expect(names.contains("analysis.json") && names.contains("timing.json"))
        for name in names where name != "timing.json" && name != "index.html" {
            let a = try Data(contentsOf: folders[0].appendingPathComponent(name))
            let b = try Data(contentsOf: folders[1].appendingPathComponent(name))
            #expect(a == b, "\(name) differs between two runs of the same command")
        }
    }
}
