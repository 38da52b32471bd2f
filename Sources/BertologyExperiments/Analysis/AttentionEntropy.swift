import BertologyEngine
import Foundation

/// The entropy of each head's attention rows, in nats: for one example, the mean over its L real
/// query rows of H_i = -sum_{j<L} A[i,j] ln A[i,j] (0 ln 0 = 0, no smoothing); then the mean over
/// examples. A head attending uniformly has H_i = ln L; one attending to a single token has 0.
public final class AttentionEntropy: AttentionAnalyzer, ContextFolding {
    /// Layers of the model observed; the result grid has this many rows.
    public let layerCount: Int
    /// Attention heads per layer; the result grid has this many columns.
    public let headCount: Int
    let classes: TokenClasses
    private let standalone = StandaloneContext()
    private var sums: [Double]
    private var uniformSum = 0.0
    private var examples = 0

    /// Creates an analyzer with empty sums for a model of `layerCount` x `headCount` heads.
    /// - Parameters:
    ///   - layerCount: the model's layers.
    ///   - headCount: the model's heads per layer.
    ///   - tokenClasses: the token classes of the model's tokenizer (the per-batch token roles are computed from them; the entropy itself uses only each example's real length).
    public init(layerCount: Int, headCount: Int, tokenClasses: TokenClasses) {
        self.layerCount = layerCount
        self.headCount = headCount
        self.classes = tokenClasses
        sums = [Double](repeating: 0, count: layerCount * headCount)
    }

    public func beginBatch(rows: [Int], batch: Batch) { standalone.beginBatch(rows: rows) }

    /// Folds one layer's maps into the running sums (used when the analyzer runs alone, not in an ``AnalyzerGroup``).
    public func observe(_ attention: LayerAttention) {
        fold(attention, standalone.context(for: attention, classes: classes))
    }

    func fold(_ attention: LayerAttention, _ context: LayerContext) {
        let roles = context.roles, statistics = context.statistics
        let layer = attention.layer
        if layer == 0 {
            examples += roles.size
            for length in roles.lengths { uniformSum += log(Double(length)) }
        }
        for b in 0..<roles.size {
            let length = Double(roles.lengths[b])
            for h in 0..<headCount {
                sums[layer * headCount + h] += statistics.entropySum(example: b, head: h) / length
            }
        }
    }

    /// The mean row entropy per head over every example observed so far; an all-zero grid before any.
    public func result() -> EntropyResult {
        let n = Double(max(examples, 1))
        return EntropyResult(examples: examples,
                             entropy: HeadGrid(layerCount: layerCount, headCount: headCount, values: sums.map { $0 / n }),
                             uniformEntropy: uniformSum / n)
    }
}

/// The result of ``AttentionEntropy``: mean attention-row entropy per head, in nats.
public struct EntropyResult: Sendable, Encodable {
    /// Examples the means are over.
    public let examples: Int
    /// Mean row entropy (nats) per head.
    public let entropy: HeadGrid
    /// The mean over examples of ln L: what a head attending uniformly to every real token would score.
    public let uniformEntropy: Double

    enum CodingKeys: String, CodingKey { case examples, entropy, uniformEntropy = "uniform_entropy" }

    /// The entropy grid with its title and definition, as the report, CSV and NPY files write it.
    public var grids: [GridResult] {
        [GridResult(name: "entropy", title: "Entropy of attention rows (nats)",
                    definition: "mean over the L real query rows of -sum_j A[i,j] ln A[i,j], averaged over examples; uniform attention scores ln L (mean \(String(format: "%.3f", uniformEntropy)))",
                    grid: entropy, examples: examples)]
    }
}
