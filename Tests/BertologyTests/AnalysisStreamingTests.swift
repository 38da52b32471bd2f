import Foundation
import Testing
@testable import BertologyEngine
@testable import BertologyExperiments

/// The analyzers fold batches into running sums: the results do not depend on how the examples are
/// batched, and an analyzer used alone agrees with the same analyzer in a group.
@Suite(.serialized) struct AnalysisStreamingTests {
    @Test func resultsDoNotDependOnBatching() throws {
        let checkpoint = try Checkpoint.load(TestPaths.defaultModel)
        let dataset = try GLUEDataset.load(task: .sst2, split: .dev, folder: TestPaths.glue).sampled(limit: 30, seed: 11)
        func run(_ batcher: Batcher) throws -> AnalysisResults {
            try AttentionAnalysis(checkpoint: checkpoint, dataset: dataset,
                                  options: AnalysisOptions(batcher: batcher, samplesPerType: 4)).run()
        }
        let large = try run(Batcher())
        let small = try run(Batcher(tokenBudget: 200, maxBatchSize: 3))
        // Other batch shapes pad differently, so the GEMMs may tile and sum in another order: the
        // probabilities agree to about 1e-7 (ModelParityTests: padded rows vs alone), the means too.
        func near(_ a: HeadGrid, _ b: HeadGrid) -> Bool { zip(a.values, b.values).allSatisfy { abs($0 - $1) <= 1e-6 } }
        #expect(near(large.specialTokens!.cls, small.specialTokens!.cls))
        #expect(near(large.specialTokens!.sepPaper, small.specialTokens!.sepPaper))
        #expect(near(large.entropy!.entropy, small.entropy!.entropy))
        #expect(large.patterns!.examples == 30 && small.patterns!.examples == 30)
        #expect(large.patterns!.mapCount == 30 * 72)
        // The sample maps are chosen by example and head, not by batch position.
        #expect(large.patterns!.samples.map { "\($0.row) \($0.head)" } == small.patterns!.samples.map { "\($0.row) \($0.head)" })
    }

    @Test func anAnalyzerUsedAloneAgreesWithTheGroup() throws {
        let checkpoint = try Checkpoint.load(TestPaths.defaultModel)
        let model = checkpoint.model
        let classes = TokenClasses(tokenizer: checkpoint.tokenizer)
        let encodings = ["A man is playing a guitar.", "Nobody, it seems, liked the film; not even the critics!"]
            .map { checkpoint.tokenizer.encode($0) }
        let batch = Batch(encodings: encodings, padId: checkpoint.tokenizer.padId)
        let alone = SpecialTokenAttention(layerCount: model.layerCount, headCount: model.headCount, tokenClasses: classes)
        let entropyAlone = AttentionEntropy(layerCount: model.layerCount, headCount: model.headCount, tokenClasses: classes)
        let grouped = SpecialTokenAttention(layerCount: model.layerCount, headCount: model.headCount, tokenClasses: classes)
        let session = InferenceSession(model: model)
        try session.forward(batch, observer: alone)
        try session.forward(batch, observer: entropyAlone)
        try session.forward(batch, observer: AnalyzerGroup([grouped], tokenClasses: classes))
        #expect(alone.result().cls == grouped.result().cls)
        #expect(alone.result().punctuationClark == grouped.result().punctuationClark)
        #expect(alone.result().examplesWithPunctuation == 2)
        // Checked by hand against the definition on the collected maps of one example.
        let inspection = try checkpoint.inspect("A man is playing a guitar.")
        let means = inspection.columnMeans(layer: 2, head: 4)
        let single = SpecialTokenAttention(layerCount: model.layerCount, headCount: model.headCount, tokenClasses: classes)
        try session.forward(Batch(encodings: [encodings[0]], padId: checkpoint.tokenizer.padId), observer: single)
        #expect(abs(single.result().cls[2, 4] - Double(means[0])) < 1e-6)
        #expect(abs(single.result().sepPaper[2, 4] - Double(means[means.count - 1])) < 1e-6)
        #expect(abs(single.result().punctuationPaper[2, 4] - Double(means[means.count - 2])) < 1e-6, "the final period")
    }
}
