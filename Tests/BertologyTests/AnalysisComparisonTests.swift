import Foundation
import Testing
@testable import BertologyEngine
@testable import BertologyExperiments

/// The model-vs-model cosine: a model against itself, and against a copy whose layer-6 query weights
/// are perturbed (saved with SafeTensorsWriter, loaded back as a checkpoint).
@Suite(.serialized) struct AnalysisComparisonTests {
    /// Twelve MRPC dev pairs: enough to exercise batching, short enough for a debug build.
    static func dataset() throws -> GLUEDataset {
        try GLUEDataset.load(task: .mrpc, split: .dev, folder: TestPaths.glue).sampled(limit: 12, seed: 7)
    }

    static func cosines(_ checkpoint: Checkpoint, _ other: Checkpoint) throws -> [CosineVariant: HeadGrid] {
        let options = AnalysisOptions(analyses: [.cosine], batcher: Batcher(tokenBudget: 400, maxBatchSize: 5),
                                      cosineVariants: [.cropped, .padded])
        let results = try AttentionAnalysis(checkpoint: checkpoint, dataset: try dataset(), comparison: other, options: options).run()
        #expect(results.cosine.map(\.variant) == [.cropped, .padded])
        #expect(results.cosine.allSatisfy { $0.examples == 12 })
        return Dictionary(uniqueKeysWithValues: results.cosine.map { ($0.variant, $0.cosine) })
    }

    @Test func cosineOfAModelWithItselfIsOneForEveryHead() throws {
        let checkpoint = try Checkpoint.load(TestPaths.defaultModel)
        for (variant, grid) in try Self.cosines(checkpoint, checkpoint) {
            // Same weights, same batches: the maps are bit-identical; only the double sums round.
            #expect(grid.values.allSatisfy { abs($0 - 1) <= 1e-6 }, "\(variant): \(grid.minimum)...\(grid.maximum)")
        }
    }

    @Test func perturbingLayerSixQueriesChangesOnlyLayerSixAndAbove() throws {
        let checkpoint = try Checkpoint.load(TestPaths.defaultModel)
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("bertology-perturbed-\(getpid())")
        try? FileManager.default.removeItem(at: folder)
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        // Layer 6 (index 5): add seeded noise of 0.05 std to the query weights.
        var generator = SeededGenerator(seed: 6)
        let tensors = checkpoint.model.weights.namedTensors().map { name, tensor -> (name: String, tensor: Tensor) in
            guard name == "encoder.layer.5.attention.self.query.weight" else { return (name, tensor) }
            let values = tensor.array.map { $0 + 0.05 * generator.nextNormal() }
            return (name, Tensor(shape: tensor.shape, values: values))
        }
        #expect(tensors.contains { $0.name == "encoder.layer.5.attention.self.query.weight" })
        try SafeTensorsWriter.encode(tensors).write(to: folder.appendingPathComponent("model.safetensors"))
        try checkpoint.model.config.huggingFaceJSON().write(to: folder.appendingPathComponent("config.json"))
        for name in ["vocab.txt", "tokenizer_config.json"] {
            let source = checkpoint.folder.appendingPathComponent(name)
            if FileManager.default.fileExists(atPath: source.path) {
                try FileManager.default.copyItem(at: source, to: folder.appendingPathComponent(name))
            }
        }
        let perturbed = try Checkpoint.load(folder)
        let last = checkpoint.model.layerCount - 1
        #expect(last == 5, "the default model has 6 layers")
        for (variant, grid) in try Self.cosines(checkpoint, perturbed) {
            for layer in 0..<last {
                for head in 0..<grid.headCount {
                    #expect(abs(grid[layer, head] - 1) <= 1e-6, "\(variant) L\(layer + 1)-H\(head + 1): \(grid[layer, head])")
                }
            }
            for head in 0..<grid.headCount {
                #expect(grid[last, head] < 1 - 1e-4, "\(variant) L6-H\(head + 1): \(grid[last, head])")
            }
            print("perturbed layer 6, \(variant): layer-6 cosines \(grid.rows[last].map { String(format: "%.4f", $0) })")
        }
    }

    @Test func comparisonRefusesModelsWithDifferentTokenizersOrShapes() throws {
        let model = try Checkpoint.load(TestPaths.defaultModel)
        let tiny = try Checkpoint.load(TestPaths.fixture("models/tiny-classifier"))
        let error = #expect(throws: BertologyError.self) {
            try AttentionAnalysis(checkpoint: model, dataset: try Self.dataset(), comparison: tiny)
        }
        #expect(error?.kind == .usage)
        let missing = #expect(throws: BertologyError.self) {
            try AttentionAnalysis(checkpoint: model, dataset: try Self.dataset(), options: AnalysisOptions(analyses: [.cosine]))
        }
        #expect(missing?.reason.contains("`comparison`") == true)
    }
}
