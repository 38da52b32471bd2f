import Foundation
import Testing
@testable import BertologyEngine
@testable import BertologyExperiments

@Suite struct BatcherTests {
    static func lengths(_ count: Int, seed: UInt64) -> [Int] {
        var generator = SeededGenerator(seed: seed)
        return (0..<count).map { _ in 3 + Int(generator.next() % 120) }
    }

    @Test(arguments: [(16, 1_000_000), (512, 4), (1000, 64), (2048, 128), (100, 1)])
    func batchesRespectTheBudgetAndCoverEveryRowOnce(budget: Int, maxBatch: Int) {
        let lengths = Self.lengths(777, seed: 5)
        let plans = Batcher(tokenBudget: budget, maxBatchSize: maxBatch).plan(lengths: lengths)
        #expect(plans.flatMap(\.rows).sorted() == Array(0..<777))
        for plan in plans {
            #expect(plan.rows.count <= maxBatch)
            #expect(plan.paddedTokens <= budget || plan.rows.count == 1, "a batch over budget holds one row")
            #expect(plan.sequenceLength == plan.rows.map { lengths[$0] }.max())
            #expect(plan.rows.map { lengths[$0] } == plan.rows.map { lengths[$0] }.sorted(by: >))
        }
        // Longest first across batches, so buffers reach their size on the first batch.
        #expect(plans.map(\.sequenceLength) == plans.map(\.sequenceLength).sorted(by: >))
    }

    @Test func equalLengthsKeepTheirOriginalOrder() {
        let plans = Batcher(tokenBudget: 100, maxBatchSize: 3).plan(lengths: [5, 7, 5, 5, 7, 5])
        #expect(plans.map(\.rows) == [[1, 4, 0], [2, 3, 5]])
    }

    @Test func sortingCutsPaddingAgainstFileOrder() throws {
        let tokenizer = try BertTokenizer.load(folder: TestPaths.fixture("models/tiny-classifier"))
        let dataset = try GLUEDataset.load(task: .mnli, split: .dev, folder: TestPaths.fixture("glue-format"))
        let encodings = dataset.examples.map { tokenizer.encode($0.textA, pair: $0.textB) }
        let sorted = BatchedSequences(encodings: encodings, padId: tokenizer.padId, batcher: Batcher(tokenBudget: 200, maxBatchSize: 4))
        let longest = encodings.map(\.count).max()!
        #expect(sorted.tokenCount == encodings.map(\.count).reduce(0, +))
        #expect(sorted.paddedTokenCount < encodings.count * longest)
        // Every batch row holds its encoding's ids, and map() returns results in the original order.
        let ids = sorted.map { prepared in (0..<prepared.batch.size).map { Array(prepared.batch.tokenIds(example: $0)) } }
        #expect(ids == encodings.map(\.inputIds))
        let types = sorted.map { prepared in
            (0..<prepared.batch.size).map { b in
                Array(prepared.batch.tokenTypeIds[(b * prepared.batch.sequenceLength)..<(b * prepared.batch.sequenceLength + Int(prepared.batch.lengths[b]))])
            }
        }
        #expect(types == encodings.map(\.tokenTypeIds))
    }
}
