import BertologyEngine
import Foundation

/// An analysis over a dataset: an `AttentionObserver` that folds each layer's maps into running
/// statistics, so memory does not grow with the number of examples.
///
/// Used alone, an analyzer numbers examples in the order it sees them. Run through an
/// `AnalyzerGroup`, it learns the dataset index of each batch row (`beginBatch`), and the per-map
/// sums every analyzer needs are computed once per layer (one C pass, `ck_attention_map_statistics`)
/// instead of once per analyzer.
public protocol AttentionAnalyzer: AttentionObserver {
    /// Called before each forward pass: `rows[b]` is the dataset index of the batch's example `b`.
    func beginBatch(rows: [Int], batch: Batch)
}

/// What an analyzer receives for one layer of one batch when run in a group.
struct LayerContext {
    let roles: BatchTokenRoles
    let statistics: LayerMapStatistics
    /// Dataset index of each batch row.
    let rows: [Int]
}

/// Analyzers that fold from the shared per-layer context (all of Bertology's).
protocol ContextFolding: AnyObject {
    func fold(_ attention: LayerAttention, _ context: LayerContext)
}

/// The sums of one layer's maps (one C pass over every (example, head) map, cropped to the real
/// tokens): column sums split by the segment of the query row, and row-entropy sums.
final class LayerMapStatistics {
    private(set) var headCount = 0
    private(set) var sequenceLength = 0
    /// (B,NH,2,T).
    private(set) var columnSums: [Double] = []
    /// (B,NH).
    private(set) var entropySums: [Double] = []

    func compute(_ attention: LayerAttention, roles: BatchTokenRoles) {
        let (b, nh, t) = (attention.batch.size, attention.headCount, attention.sequenceLength)
        headCount = nh
        sequenceLength = t
        if columnSums.count < b * nh * 2 * t { columnSums = [Double](repeating: 0, count: b * nh * 2 * t) }
        if entropySums.count < b * nh { entropySums = [Double](repeating: 0, count: b * nh) }
        roles.lengths.withUnsafeBufferPointer { lengths in
            roles.segmentStarts.withUnsafeBufferPointer { starts in
                columnSums.withUnsafeMutableBufferPointer { columns in
                    entropySums.withUnsafeMutableBufferPointer { entropy in
                        AttentionMapKernels.statistics(columnSums: columns, entropySums: entropy,
                                                       probabilities: attention.probabilities, lengths: lengths,
                                                       segmentStarts: starts, batch: b, heads: nh, sequenceLength: t)
                    }
                }
            }
        }
    }

    /// Sum over the real query rows of `segment` (0 or 1) of column `column`.
    @inline(__always)
    func columnSum(example b: Int, head h: Int, segment: Int, column j: Int) -> Double {
        columnSums[((b * headCount + h) * 2 + segment) * sequenceLength + j]
    }

    /// Sum over all real query rows of column `column`: L times the paper's s_j.
    @inline(__always)
    func columnTotal(example b: Int, head h: Int, column j: Int) -> Double {
        let base = (b * headCount + h) * 2 * sequenceLength + j
        return columnSums[base] + columnSums[base + sequenceLength]
    }

    /// Sum over the real rows of the rows' entropies (nats).
    @inline(__always)
    func entropySum(example b: Int, head h: Int) -> Double { entropySums[b * headCount + h] }
}

/// The bookkeeping an analyzer needs when it is used alone as an `AttentionObserver`: the roles of
/// the current batch (recomputed at layer 0), fresh statistics per layer, and running row numbers.
final class StandaloneContext {
    private var roles: BatchTokenRoles?
    private let statistics = LayerMapStatistics()
    private var rows: [Int] = []
    private var nextRow = 0
    private var announced = false

    func beginBatch(rows: [Int]) {
        self.rows = rows
        announced = true
    }

    func context(for attention: LayerAttention, classes: TokenClasses) -> LayerContext {
        if attention.layer == 0 || roles == nil {
            roles = BatchTokenRoles(batch: attention.batch, classes: classes)
            if !announced {
                rows = Array(nextRow..<(nextRow + attention.batch.size))
                nextRow += attention.batch.size
            }
        }
        if attention.layer == 0 { announced = false }
        statistics.compute(attention, roles: roles!)
        return LayerContext(roles: roles!, statistics: statistics, rows: rows)
    }
}

/// Runs several analyzers on one forward pass, computing the shared per-layer sums once.
public final class AnalyzerGroup: AttentionAnalyzer {
    /// The analyzers fed, in the order they receive each layer.
    public let analyzers: [any AttentionAnalyzer]
    private let classes: TokenClasses
    private let statistics = LayerMapStatistics()
    private var roles: BatchTokenRoles?
    private var rows: [Int] = []
    private var nextRow = 0
    private var announced = false
    /// Seconds spent in the analyzers (statistics included), for the overhead measurements.
    public private(set) var seconds: Double = 0

    /// Groups analyzers so that one forward pass feeds them all.
    /// - Parameters:
    ///   - analyzers: the analyzers to feed; Bertology's own share one pass of per-map sums, others get ``observe(_:)`` as usual.
    ///   - tokenClasses: the `[CLS]`, `[SEP]` and punctuation ids of the model's tokenizer (the same the analyzers were made with).
    public init(_ analyzers: [any AttentionAnalyzer], tokenClasses: TokenClasses) {
        self.analyzers = analyzers
        self.classes = tokenClasses
    }

    public func beginBatch(rows: [Int], batch: Batch) {
        self.rows = rows
        announced = true
        roles = BatchTokenRoles(batch: batch, classes: classes)
        for analyzer in analyzers { analyzer.beginBatch(rows: rows, batch: batch) }
    }

    /// Computes the layer's shared per-map sums once and passes the layer to every analyzer.
    public func observe(_ attention: LayerAttention) {
        let start = DispatchTime.now().uptimeNanoseconds
        defer { seconds += Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 }
        if attention.layer == 0 && !announced {
            // Used without beginBatch: number the rows in the order they come.
            beginBatch(rows: Array(nextRow..<(nextRow + attention.batch.size)), batch: attention.batch)
            nextRow += attention.batch.size
        }
        if attention.layer == 0 { announced = false }
        let roles = self.roles ?? BatchTokenRoles(batch: attention.batch, classes: classes)
        self.roles = roles
        var computed = false
        for analyzer in analyzers {
            if let folding = analyzer as? any ContextFolding {
                if !computed {
                    statistics.compute(attention, roles: roles)
                    computed = true
                }
                folding.fold(attention, LayerContext(roles: roles, statistics: statistics, rows: rows))
            } else {
                analyzer.observe(attention)
            }
        }
    }
}
