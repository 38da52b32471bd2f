// A steady-state forward pass must allocate nothing: the session's workspace is sized by the first
// batch (in setup, outside the measurement) and reused. mallocCountTotal counts every malloc,
// calloc and realloc of an iteration, Swift's and the C kernels' (and the OpenMP runtime's).
import Benchmark
import Bertology

/// The model, session and batch every iteration reuses.
final class Fixture: @unchecked Sendable {
    let session: InferenceSession
    let batch: Batch
    let observer: SummingObserver?

    init(config: BertConfig, batchSize: Int, sequenceLength: Int, attentions: Bool, precision: Precision) throws {
        // A bf16 precision packs its weights when the model is made, before the measurement.
        session = InferenceSession(model: BertModel.random(config: config, seed: 1).with(precision: precision))
        var generator = SeededGenerator(seed: 2)
        batch = Batch(inputIds: (0..<batchSize).map { example in
            // Lengths differ, so padding and masks are exercised.
            (0..<(sequenceLength - example % 3)).map { _ in Int32(1000 + generator.next() % 20000) }
        })
        observer = attentions ? SummingObserver() : nil
        try session.forward(batch, observer: observer)  // sizes the workspace
    }

    func run() throws { try session.forward(batch, observer: observer) }
}

/// Reads every probability it is given, as an analysis would.
final class SummingObserver: AttentionObserver {
    var total: Double = 0

    func observe(_ attention: LayerAttention) {
        var sum: Float = 0
        for value in attention.probabilities { sum += value }
        total += Double(sum)
    }
}

nonisolated(unsafe) var fixtures: [String: Fixture] = [:]

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .mallocCountTotal, .mallocCountSmall, .mallocCountLarge, .memoryLeaked],
        warmupIterations: 1,
        maxDuration: .seconds(5),
        maxIterations: 20
    )
    var cases: [(name: String, config: BertConfig, batch: Int, seq: Int, attentions: Bool, precision: Precision)] = [
        ("forward minilm-l6 b8 s64", .miniLML6, 8, 64, false, .fp32),
        ("forward minilm-l6 b8 s64 +attentions", .miniLML6, 8, 64, true, .fp32),
        ("forward minilm-l6 b1 s32", .miniLML6, 1, 32, false, .fp32),
    ]
    // The bf16 modes (on the AVX512-BF16 kernels where the CPU has them, else the emulation: the
    // same buffers either way) and int8 (its activations quantized in the fp32 form's workspace).
    for precision in [Precision.bf16, .bf16x3, .int8] {
        cases.append(("forward minilm-l6 b8 s64 \(precision)", .miniLML6, 8, 64, false, precision))
        cases.append(("forward minilm-l6 b8 s64 +attentions \(precision)", .miniLML6, 8, 64, true, precision))
    }
    for item in cases {
        Benchmark(item.name) { benchmark in
            let fixture = fixtures[item.name]!
            for _ in benchmark.scaledIterations {
                try fixture.run()
            }
        } setup: {
            fixtures[item.name] = try Fixture(config: item.config, batchSize: item.batch,
                                              sequenceLength: item.seq, attentions: item.attentions,
                                              precision: item.precision)
        }
    }
}
