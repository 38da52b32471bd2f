import Foundation

/// The one batcher: sorts sequences by token length and cuts them into batches whose padded size
/// stays under a token budget, so little compute goes to padding. Results come back in the
/// original order (`BatchedSequences.map`).
///
/// A sequence is one row of a forward pass: a `[CLS] A [SEP] B [SEP]` pair for a classifier, or one
/// text for the cosine scorer (two rows per example).
public struct Batcher: Sendable, Equatable, Codable {
    /// Most padded tokens per batch: batch size x padded length <= `tokenBudget` (a single sequence
    /// longer than the budget gets a batch of its own).
    public var tokenBudget: Int
    /// Most sequences per batch.
    public var maxBatchSize: Int

    /// Defaults measured with all-MiniLM-L6-v2 on STS-B dev, 2 cores (docs/EVAL.md): budgets of
    /// 512-2048 tokens ran 5-10% faster than 8192 and 2-3x faster than 32768 (the activations of a
    /// batch stay in cache). The budget also bounds memory: an observer's attention probabilities
    /// are B x heads x T x T = budget x heads x T floats (50 MB at 12 heads and T = 512).
    public static let defaultTokenBudget = 2048
    /// The default most sequences per batch: texts shorter than 16 tokens fill a batch at 128 rows, before the default token budget.
    public static let defaultMaxBatchSize = 128

    /// Creates a batcher; both limits must be at least 1.
    /// - Parameters:
    ///   - tokenBudget: most padded tokens (batch size x padded length) per batch.
    ///   - maxBatchSize: most sequences per batch.
    public init(tokenBudget: Int = Batcher.defaultTokenBudget, maxBatchSize: Int = Batcher.defaultMaxBatchSize) {
        precondition(tokenBudget >= 1 && maxBatchSize >= 1, "a batch holds at least one token and one sequence")
        self.tokenBudget = tokenBudget
        self.maxBatchSize = maxBatchSize
    }

    /// Groups of row indices, longest sequences first (so the session's buffers reach their largest
    /// size on the first batch), each sorted by decreasing length; ties keep the original order.
    package func plan(lengths: [Int]) -> [BatchPlan] {
        let order = lengths.indices.sorted { lengths[$0] != lengths[$1] ? lengths[$0] > lengths[$1] : $0 < $1 }
        var plans: [BatchPlan] = []
        var rows: [Int] = []
        var longest = 0
        for row in order {
            // Sorted by decreasing length: the first row of a batch is its longest.
            let length = rows.isEmpty ? lengths[row] : longest
            if !rows.isEmpty && ((rows.count + 1) * length > tokenBudget || rows.count + 1 > maxBatchSize) {
                plans.append(BatchPlan(rows: rows, sequenceLength: longest))
                rows = []
            }
            if rows.isEmpty { longest = lengths[row] }
            rows.append(row)
        }
        if !rows.isEmpty { plans.append(BatchPlan(rows: rows, sequenceLength: longest)) }
        return plans
    }
}

/// Which rows make one batch, and their padded length.
package struct BatchPlan: Sendable, Equatable {
    /// Indices into the original sequences, in batch order.
    public let rows: [Int]
    /// The longest row's length (T).
    public let sequenceLength: Int

    /// Padded tokens, B x T.
    public var paddedTokens: Int { rows.count * sequenceLength }
}

/// A batch ready for `InferenceSession.forward`, with the original index of each of its rows.
public struct PreparedBatch: Sendable {
    /// `rows[b]` is the original index of the batch's example `b`.
    public let rows: [Int]
    /// The padded token ids of the rows, in batch order.
    public let batch: Batch
}

/// Sequences tokenized once and cut into batches once, to be run any number of times (every
/// ablation of a sweep, every observer of an analysis) with results in the original order.
public struct BatchedSequences: Sendable {
    /// Number of sequences (rows).
    public let count: Int
    /// In run order (longest first).
    public let batches: [PreparedBatch]
    /// Real tokens of each row, in the original order.
    public let lengths: [Int]
    /// The batcher that cut them.
    public let batcher: Batcher

    /// Batches `encodings` (padding with `padId`) as `batcher` plans them.
    public init(encodings: [Encoding], padId: Int32, batcher: Batcher = Batcher()) {
        count = encodings.count
        lengths = encodings.map(\.count)
        self.batcher = batcher
        batches = batcher.plan(lengths: lengths).map { plan in
            PreparedBatch(rows: plan.rows, batch: Batch(encodings: plan.rows.map { encodings[$0] }, padId: padId))
        }
    }

    /// Real tokens over all rows.
    public var tokenCount: Int { lengths.reduce(0, +) }
    /// Tokens the forward passes compute, padding included.
    public var paddedTokenCount: Int { batches.reduce(0) { $0 + $1.batch.size * $1.batch.sequenceLength } }

    /// Calls `body` on each batch in run order; `body` returns one result per row of the batch (in
    /// batch order). Returns the results in the original order of the sequences.
    public func map<Result>(_ body: (PreparedBatch) throws -> [Result]) rethrows -> [Result] {
        var results = [Result?](repeating: nil, count: count)
        for prepared in batches {
            let batchResults = try body(prepared)
            precondition(batchResults.count == prepared.rows.count, "one result per row of the batch")
            for (row, result) in zip(prepared.rows, batchResults) { results[row] = result }
        }
        return results.map { $0! }
    }
}
