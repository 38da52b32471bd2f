import Foundation
import Testing
@testable import BertologyEngine
@testable import BertologyExperiments

/// Prefix reuse (AblationEngine) against from-scratch forward passes (`PreparedEvaluation.run` with
/// the same interventions): the same bits, not merely close values.
@Suite struct AblationExactnessTests {
    static let glueFormat = TestPaths.fixture("glue-format")

    static func fromScratch(_ prepared: PreparedEvaluation, _ ablation: Ablation, mode: HeadIntervention) throws -> EvaluationResult {
        let model = prepared.checkpoint.model
        return try prepared.run(interventions: ablation.interventions(mode: mode, layerCount: model.layerCount, headCount: model.headCount))
    }

    /// Every head and every layer of the tiny models, both modes, with and without the prefix
    /// cache, each layer in one pass or in passes of 2 ablations, on every instruction set this CPU runs,
    /// and once in bf16x3 (the bf16 modes round Q, K, V once, so the patched heads see the whole pass's
    /// operands; bf16 takes the same code paths, with other rounding).
    @Test(arguments: [("tiny-classifier", Precision.fp32), ("tiny-regression", .fp32), ("tiny-encoder-bf16", .fp32),
                      ("tiny-regression", .bf16x3)])
    func prefixReuseGivesTheFromScratchBits(model name: String, precision: Precision) throws {
        let checkpoint = try Checkpoint.load(TestPaths.fixture("models/\(name)"), precision: precision)
        let task: GLUETask = name == "tiny-classifier" ? .mnli : .stsb
        let dataset = try GLUEDataset.load(task: task, split: .dev, folder: Self.glueFormat)
        // Small batches of mixed lengths.
        let prepared = try PreparedEvaluation(checkpoint: checkpoint, dataset: dataset,
                                              options: EvaluationOptions(batcher: Batcher(tokenBudget: 100, maxBatchSize: 4)))
        #expect(prepared.sequences.batches.count > 3)
        let model = checkpoint.model
        for isa in KernelISA.allCases where isa.isSupported {
            for mode in [HeadIntervention.zero, .uniform] {
                for (cacheBytes, perPass) in [(0, Int.max), (1 << 30, Int.max), (1 << 30, 2)] {
                    try Kernels.withISA(isa) {
                        let plan = try AblationPlan(mode: mode, heads: .all, layers: .all, layerCount: model.layerCount, headCount: model.headCount)
                        let engine = AblationEngine(evaluation: prepared, mode: mode, cacheBytes: cacheBytes)
                        #expect(engine.usesCache == (cacheBytes > 0))
                        var fast: [Ablation: EvaluationResult] = [:]
                        for layer in 0..<model.layerCount {
                            // In passes of `perPass` ablations: only the last moves the cache up.
                            let group = plan.ablations.filter { $0.layer == layer }
                            for start in stride(from: 0, to: group.count, by: min(perPass, group.count)) {
                                let pass = Array(group[start..<min(group.count, start + perPass)])
                                let outputs = try engine.run(layer: layer, ablations: pass,
                                                             advancesCache: start + pass.count == group.count)
                                for (ablation, output) in zip(pass, outputs) {
                                    fast[ablation] = prepared.result(outputs: output, interventions: nil, seconds: 0)
                                }
                            }
                        }
                        fast[.baseline] = prepared.result(outputs: try engine.run(layer: model.layerCount, ablations: [.baseline])[0],
                                                          interventions: nil, seconds: 0)
                        for ablation in plan.ablations {
                            let reference = try Self.fromScratch(prepared, ablation, mode: mode)
                            let result = try #require(fast[ablation])
                            #expect(result.predictions == reference.predictions, "\(name) \(precision) \(isa) \(mode) \(ablation) cache \(cacheBytes) passes of \(perPass)")
                            #expect(result.metrics == reference.metrics, "\(name) \(isa) \(mode) \(ablation)")
                        }
                    }
                }
            }
        }
    }
}
