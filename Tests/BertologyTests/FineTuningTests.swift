import Foundation
import Testing
@testable import BertologyEngine
@testable import BertologyExperiments

/// The pieces of fine-tuning that do not need the trainer: the learning-rate schedule against
/// transformers' `get_linear_schedule_with_warmup`, the per-epoch shuffle, the label names and
/// config.json that `Checkpoint.load` and `LabelMapping` read back.
@Suite struct FineTuningTests {
    struct ScheduleCase: Decodable {
        let total_steps: Int
        let warmup_ratio: Double
        let peak: Double
        let warmup_steps: Int
        let learning_rates: [Double]
    }

    @Test func scheduleEqualsTransformersLinearScheduleWithWarmup() throws {
        struct File: Decodable { let cases: [ScheduleCase] }
        let data = try Data(contentsOf: TestPaths.fixture("reference/finetune/schedule.json"))
        let cases = try JSONDecoder().decode(File.self, from: data).cases
        #expect(cases.count >= 5)
        for reference in cases {
            let schedule = LinearWarmupSchedule(peak: reference.peak, totalSteps: reference.total_steps,
                                                warmupRatio: reference.warmup_ratio)
            #expect(schedule.warmupSteps == reference.warmup_steps, "total \(reference.total_steps) ratio \(reference.warmup_ratio)")
            for (step, expected) in reference.learning_rates.enumerated() {
                // Both compute in Double; ours is rounded to Float once for the trainer.
                #expect(schedule.learningRate(afterSteps: step) == Float(expected),
                        "step \(step) of \(reference.total_steps): \(schedule.learningRate(afterSteps: step)) vs \(expected)")
            }
        }
    }

    @Test func epochShuffleIsASeededPermutationThatChangesEachEpoch() {
        let first = EpochShuffle.order(count: 100, seed: 42, epoch: 0)
        #expect(first.sorted() == Array(0..<100))
        #expect(first == EpochShuffle.order(count: 100, seed: 42, epoch: 0))
        #expect(first != EpochShuffle.order(count: 100, seed: 42, epoch: 1))
        #expect(first != EpochShuffle.order(count: 100, seed: 43, epoch: 0))
        #expect(EpochShuffle.order(count: 1, seed: 42, epoch: 0) == [0])
        #expect(EpochShuffle.order(count: 0, seed: 42, epoch: 0) == [])
        // The documented generator: Fisher-Yates with splitmix64 seeded seed + (e + 1) * 0xD1B54A32D192ED03.
        var generator = SeededGenerator(seed: 42 &+ 2 &* 0xD1B5_4A32_D192_ED03)
        var order = Array(0..<10)
        for i in stride(from: 9, to: 0, by: -1) { order.swapAt(i, Int(generator.next() % UInt64(i + 1))) }
        #expect(EpochShuffle.order(count: 10, seed: 42, epoch: 1) == order)
    }

    @Test func labelNamesMapBackToTheTaskLabelsInOrder() throws {
        for task in GLUETask.allCases where !task.isRegression {
            let names = FineTuning.labelNames(task)
            var config = BertConfig(hiddenSize: 8, numHiddenLayers: 1, numAttentionHeads: 2, intermediateSize: 8,
                                    numLabels: names.count)
            config.id2label = Dictionary(uniqueKeysWithValues: names.enumerated().map { ($0.offset, $0.element) })
            let mapping = try LabelMapping.resolve(task: task, config: config)
            #expect(mapping.taskLabels == Array(0..<names.count), "\(task): \(names)")
        }
        #expect(FineTuning.labelNames(.mrpc) == ["not_equivalent", "equivalent"])
        #expect(FineTuning.labelNames(.rte) == ["entailment", "not_entailment"])
        #expect(FineTuning.labelNames(.stsb) == [])
    }

    @Test func stepRowsReadBackAsTheSameValues() throws {
        let step = FineTuningStep(step: 7, epoch: 2, loss: 0.1 + 0.2, learningRate: 4.4444445e-05, gradNorm: 1.0 / 3.0)
        let parsed = try #require(FineTuningStep(csvRow: Substring(step.csvRow)))
        #expect(parsed == step)
    }

    /// Each refusal names the setting in the library's words (`epochs`); the CLI says the flag (FineTuningCommandTests).
    @Test func optionsOutOfRangeAreUsageErrors() {
        let base = FineTuningOptions(task: .mrpc, dataFolder: TestPaths.glue)
        func refused(_ change: (inout FineTuningOptions) -> Void, _ option: String) {
            var options = base
            change(&options)
            #expect(throws: BertologyError.self) { try options.validate() }
            do { try options.validate() } catch let error as BertologyError {
                #expect(error.kind == .usage && error.reason.contains(option), "\(error)")
            } catch {}
        }
        refused({ $0.epochs = -1 }, "`epochs`")
        refused({ $0.epochs = 1001 }, "`epochs`")
        refused({ $0.learningRate = 0 }, "`learningRate`")
        refused({ $0.learningRate = .nan }, "`learningRate`")
        refused({ $0.learningRate = 2 }, "`learningRate`")
        refused({ $0.batchSize = 0 }, "`batchSize`")
        refused({ $0.batchSize = 100_000 }, "`batchSize`")
        refused({ $0.warmupRatio = 1.5 }, "`warmupRatio`")
        refused({ $0.weightDecay = -0.1 }, "`weightDecay`")
        refused({ $0.limit = 0 }, "`limit`")
        refused({ $0.saveEvery = 0 }, "`saveEvery`")
        refused({ $0.extraSeeds = [1, 2] }, "`extraSeeds`")
        #expect(throws: Never.self) { try base.validate() }
    }
}
