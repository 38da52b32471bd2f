// A steady-state training step (forward with saved activations, backward, clipping, AdamW, repacking)
// must allocate nothing: the trainer's arenas are allocated when it is created and its activations by
// the first step (in setup, outside the measurement). mallocCountTotal counts every malloc, calloc and
// realloc of an iteration, Swift's and the C kernels' (and the OpenMP runtime's).
import Benchmark
import Bertology

/// The trainer, batch and targets every iteration reuses.
final class Fixture: @unchecked Sendable {
    let trainer: SequenceClassifierTrainer
    let batch: Batch
    let targets: TrainingTargets

    init(config: BertConfig, batchSize: Int, sequenceLength: Int) throws {
        trainer = try SequenceClassifierTrainer(model: BertModel.random(config: config, seed: 1), numLabels: 2,
                                                initialization: .pretrained, seed: 1)
        var generator = SeededGenerator(seed: 2)
        batch = Batch(inputIds: (0..<batchSize).map { example in
            // Lengths differ, so padding and masks are exercised.
            (0..<(sequenceLength - example % 3)).map { _ in Int32(1000 + generator.next() % 20000) }
        })
        targets = .classes((0..<batchSize).map { Int32($0 % 2) })
        _ = try run()  // sizes the activations
    }

    func run() throws -> TrainingStepResult {
        try trainer.trainStep(batch, targets: targets, learningRate: 1e-5, options: AdamWOptions())
    }
}

nonisolated(unsafe) var fixtures: [String: Fixture] = [:]

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .mallocCountTotal, .mallocCountSmall, .mallocCountLarge, .memoryLeaked],
        warmupIterations: 1,
        maxDuration: .seconds(5),
        maxIterations: 10
    )
    let cases: [(name: String, config: BertConfig, batch: Int, seq: Int)] = [
        ("train step minilm-l6 b8 s64", .miniLML6, 8, 64),
        ("train step minilm-l6 b2 s17", .miniLML6, 2, 17),
    ]
    for item in cases {
        Benchmark(item.name) { benchmark in
            let fixture = fixtures[item.name]!
            for _ in benchmark.scaledIterations {
                blackHole(try fixture.run())
            }
        } setup: {
            fixtures[item.name] = try Fixture(config: item.config, batchSize: item.batch, sequenceLength: item.seq)
        }
    }
}
