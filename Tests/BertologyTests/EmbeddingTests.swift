import Foundation
import Testing
@testable import BertologyEngine
@testable import BertologyExperiments

/// What an app that embeds the engine relies on: one loaded model shared by concurrent tasks,
/// cancellation that stops within one batch, and no partial output after it.
@Suite struct EmbeddingTests {
    static let demoFolder = TestPaths.repositoryRoot.appendingPathComponent("Examples/demo-glue")

    static func defaultCheckpoint() throws -> Checkpoint {
        try Checkpoint.load(TestPaths.defaultModel)
    }

    /// The ten-line example of the README and the DocC overview, verbatim except for the folders,
    /// compiles and gives consistent numbers (the example's API is the public API).
    @Test func theReadmeExampleRuns() throws {
        let modelFolder = TestPaths.defaultModel, glueFolder = Self.demoFolder
        // --- README "Embedding the library in a Swift app" ---
        let checkpoint = try Checkpoint.load(modelFolder)
        let model = checkpoint.model
        let baseline = try checkpoint.cosineSimilarity("A man plays a guitar.", "Someone plays music.")
        let heads = try HeadSelection(parsing: "L4-H1,L2-H12", layerCount: model.layerCount, headCount: model.headCount)
        let switchedOff = HeadInterventions(heads, mode: .uniform, layerCount: model.layerCount, headCount: model.headCount)
        let ablated = try checkpoint.cosineSimilarity("A man plays a guitar.", "Someone plays music.", interventions: switchedOff)
        let stsb = try GLUEDataset.load(task: .stsb, split: .dev, folder: glueFolder)
        let result = try checkpoint.evaluate(stsb, interventions: switchedOff)
        // ---
        #expect(baseline > 0.3 && baseline < 1 && ablated != baseline)
        #expect(result.metrics["pearson"].map { $0.isFinite && abs($0) <= 1 } == true)
    }

    @Test func twoConcurrentEvaluationsOnOneModelEqualSequentialOnes() async throws {
        let checkpoint = try Self.defaultCheckpoint()
        let dataset = try GLUEDataset.load(task: .stsb, split: .dev, folder: Self.demoFolder)
        let model = checkpoint.model
        let ablated = HeadInterventions(try HeadSelection(parsing: "L2-H12,L4-H1", layerCount: model.layerCount, headCount: model.headCount),
                                        mode: .uniform, layerCount: model.layerCount, headCount: model.headCount)
        // Small batches so the two tasks interleave many forward passes.
        let options = EvaluationOptions(batcher: Batcher(tokenBudget: 128, maxBatchSize: 4))
        let sequential = [try checkpoint.evaluate(dataset, options: options),
                          try checkpoint.evaluate(dataset, options: options, interventions: ablated)]
        async let plain = Task.detached { try checkpoint.evaluate(dataset, options: options) }.value
        async let changed = Task.detached { try checkpoint.evaluate(dataset, options: options, interventions: ablated) }.value
        let concurrent = try await [plain, changed]
        for (one, other) in zip(sequential, concurrent) {
            #expect(one.metrics == other.metrics)
            #expect(one.predictions.map(\.prediction) == other.predictions.map(\.prediction))
        }
        #expect(sequential[0].metrics != sequential[1].metrics, "the ablation changes the score")
    }

    @Test func cancellingAnEvaluationStopsWithinOneBatch() async throws {
        let checkpoint = try Self.defaultCheckpoint()
        let dataset = try GLUEDataset.load(task: .stsb, split: .dev, folder: Self.demoFolder)
        let prepared = try PreparedEvaluation(checkpoint: checkpoint, dataset: dataset,
                                              options: EvaluationOptions(batcher: Batcher(tokenBudget: 64, maxBatchSize: 2)))
        let batches = prepared.sequences.batches.count
        #expect(batches > 10)
        let counter = BatchCounter()
        let task = Task.detached {
            try prepared.run(progress: { progress in
                // Cancel from inside the operation once the second batch is done.
                if counter.increment() == 3 { withUnsafeCurrentTask { $0?.cancel() } }
            })
        }
        do {
            _ = try await task.value
            Issue.record("the evaluation finished despite the cancellation")
        } catch let error as BertologyError {
            #expect(error.kind == .cancelled)
        }
        // Progress is reported once before the first batch and once after each batch: cancelled
        // after batch 2, the run stops before batch 3.
        #expect(counter.value == 3, "ran \(counter.value - 1) of \(batches) batches")
    }

    @Test func cancelledAnalysisLeavesNoOutputFiles() async throws {
        let checkpoint = try Self.defaultCheckpoint()
        let dataset = try GLUEDataset.load(task: .stsb, split: .dev, folder: Self.demoFolder)
        var options = AnalysisOptions()
        options.batcher = Batcher(tokenBudget: 64, maxBatchSize: 2)
        let analysis = try AttentionAnalysis(checkpoint: checkpoint, dataset: dataset, options: options)
        let folderURL = FileManager.default.temporaryDirectory.appendingPathComponent("bertology-cancel-\(UUID().uuidString)")
        let task = Task.detached {
            let results = try analysis.run(progress: { progress in
                if progress.completed > 0 { withUnsafeCurrentTask { $0?.cancel() } }
            })
            _ = try AnalysisReport.write(results, to: try OutputFolder(folderURL, force: false))
        }
        await #expect(throws: BertologyError.self) { try await task.value }
        let leftovers = (try? FileManager.default.contentsOfDirectory(atPath: folderURL.path)) ?? []
        #expect(leftovers.isEmpty, "files left after cancellation: \(leftovers)")
    }

    @Test func sentenceEmbeddingsAreTheSessionsMeanPooling() throws {
        let checkpoint = try Self.defaultCheckpoint()
        let texts = ["A man is playing a guitar.", "Someone plays music.", "The cat sleeps."]
        let embeddings = try checkpoint.sentenceEmbeddings(texts)
        let session = InferenceSession(model: checkpoint.model)
        for (text, embedding) in zip(texts, embeddings) {
            try session.forward(Batch(encodings: [checkpoint.tokenizer.encode(text)], padId: checkpoint.tokenizer.padId))
            let alone = session.sentenceEmbedding(example: 0)
            #expect(zip(alone, embedding).allSatisfy { abs($0 - $1) <= 1e-6 })
        }
        let similarity = try checkpoint.cosineSimilarity(texts[0], texts[1])
        #expect(abs(similarity - Metrics.cosine(embeddings[0], embeddings[1])) < 1e-6)
    }
}

/// A counter the progress callback (a @Sendable closure) can bump.
final class BatchCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    var value: Int { lock.withLock { count } }
    func increment() -> Int { lock.withLock { count += 1; return count } }
}
