import BertologyEngine
import Foundation

/// Which part of each map the model-vs-model cosine compares.
public enum CosineVariant: String, CaseIterable, Sendable, Codable, CustomStringConvertible {
    /// The L x L map of the real tokens (the clean definition; the default).
    case cropped
    /// The whole map of inputs padded to a fixed length (200 in the paper's released code), padding
    /// query rows included: the paper's Fig 5 as computed.
    case padded

    /// The variant's name in options and file names: `cropped` or `padded`.
    public var description: String { rawValue }
}

/// Per head, the cosine similarity between two models' attention maps on the same input, averaged
/// over examples (Kovaleva et al. §4.3, Fig 5): cos(vec A, vec B) = sum A B / (|A| |B|), maps
/// flattened.
///
/// Both models run on the same batches: first the reference model with `reference` as its observer
/// (it copies each layer's probabilities: one batch's worth, layers x B x NH x T x T floats), then
/// the other model with `candidate` (it compares layer by layer). Nothing outlives the batch.
package final class AttentionComparison {
    /// Layers of both models; the result grid has this many rows.
    public let layerCount: Int
    /// Attention heads per layer of both models; the result grid has this many columns.
    public let headCount: Int
    /// Which part of each map is compared: the real tokens only, or the whole padded map.
    public let variant: CosineVariant
    /// Observer for the reference model's forward pass (run first, on each batch).
    public private(set) var reference: any AttentionAnalyzer = NoAnalyzer()
    /// Observer for the compared model's forward pass on the same batch.
    public private(set) var candidate: any AttentionAnalyzer = NoAnalyzer()

    private var stored: [[Float]]
    private var storedBatch: Batch?
    private var products: [Double] = []
    private var sums: [Double]
    private var examples = 0

    /// Creates a comparison with empty sums for two models of `layerCount` x `headCount` heads.
    /// - Parameters:
    ///   - layerCount: layers of both models.
    ///   - headCount: heads per layer of both models.
    ///   - variant: the part of each map compared; with `.padded`, batch the inputs padded to one fixed length.
    public init(layerCount: Int, headCount: Int, variant: CosineVariant = .cropped) {
        self.layerCount = layerCount
        self.headCount = headCount
        self.variant = variant
        stored = Array(repeating: [], count: layerCount)
        sums = [Double](repeating: 0, count: layerCount * headCount)
        reference = Recorder(self)
        candidate = Comparer(self)
    }

    /// Bytes held for one batch of `size` examples padded to `length` tokens.
    static func bufferBytes(layerCount: Int, headCount: Int, size: Int, length: Int) -> Int {
        layerCount * headCount * size * length * length * MemoryLayout<Float>.size
    }

    fileprivate func record(_ attention: LayerAttention) {
        let count = attention.probabilities.count
        if stored[attention.layer].count < count { stored[attention.layer] = [Float](repeating: 0, count: count) }
        stored[attention.layer].withUnsafeMutableBufferPointer { destination in
            destination.baseAddress!.update(from: attention.probabilities.baseAddress!, count: count)
        }
        if attention.layer == 0 { storedBatch = attention.batch }
    }

    fileprivate func compare(_ attention: LayerAttention) {
        let batch = attention.batch
        guard let storedBatch, storedBatch.size == batch.size, storedBatch.sequenceLength == batch.sequenceLength,
              storedBatch.lengths == batch.lengths else {
            preconditionFailure("AttentionComparison: run the reference model on a batch before the compared model")
        }
        precondition(attention.headCount == headCount && attention.layer < layerCount, "the models differ in shape")
        let (b, t) = (batch.size, batch.sequenceLength)
        if products.count < b * headCount * 3 { products = [Double](repeating: 0, count: b * headCount * 3) }
        stored[attention.layer].withUnsafeBufferPointer { reference in
            batch.lengths.withUnsafeBufferPointer { lengths in
                products.withUnsafeMutableBufferPointer { out in
                    AttentionMapKernels.products(out, reference, attention.probabilities, lengths: lengths,
                                                 crop: variant == .cropped, batch: b, heads: headCount, sequenceLength: t)
                }
            }
        }
        if attention.layer == 0 { examples += b }
        for example in 0..<b {
            for h in 0..<headCount {
                let p = (example * headCount + h) * 3
                let (dot, aa, bb) = (products[p], products[p + 1], products[p + 2])
                // Only a zeroed head (an intervention) has a zero map: equal zero maps count as identical.
                let cosine = aa > 0 && bb > 0 ? dot / (aa.squareRoot() * bb.squareRoot()) : (aa == bb ? 1 : 0)
                sums[attention.layer * headCount + h] += cosine
            }
        }
    }

    /// The mean cosine per head over every example compared so far (0 before any).
    /// - Parameters:
    ///   - paddedLength: the fixed length the inputs were padded to, recorded for the padded variant (ignored for `.cropped`).
    ///   - truncated: examples the caller truncated to fit `paddedLength`, recorded in the result.
    public func result(paddedLength: Int? = nil, truncated: Int = 0) -> CosineResult {
        let n = Double(max(examples, 1))
        return CosineResult(variant: variant, examples: examples, paddedLength: variant == .padded ? paddedLength : nil,
                            truncated: truncated,
                            cosine: HeadGrid(layerCount: layerCount, headCount: headCount, values: sums.map { $0 / n }))
    }

    private final class Recorder: AttentionAnalyzer {
        unowned let owner: AttentionComparison
        init(_ owner: AttentionComparison) { self.owner = owner }
        func beginBatch(rows: [Int], batch: Batch) {}
        func observe(_ attention: LayerAttention) { owner.record(attention) }
    }

    private final class Comparer: AttentionAnalyzer {
        unowned let owner: AttentionComparison
        init(_ owner: AttentionComparison) { self.owner = owner }
        func beginBatch(rows: [Int], batch: Batch) {}
        func observe(_ attention: LayerAttention) { owner.compare(attention) }
    }
}

/// Placeholder before `AttentionComparison.init` finishes.
private final class NoAnalyzer: AttentionAnalyzer {
    func beginBatch(rows: [Int], batch: Batch) {}
    func observe(_ attention: LayerAttention) {}
}

/// The result of ``AttentionComparison``: per head, the mean cosine between two models' attention maps.
public struct CosineResult: Sendable, Encodable {
    /// Which part of each map was compared.
    public let variant: CosineVariant
    /// Examples the means are over.
    public let examples: Int
    /// For the padded variant: the fixed length every input was padded to.
    public let paddedLength: Int?
    /// Examples truncated to fit `paddedLength`.
    public let truncated: Int
    /// Mean cosine per head, from 0 (orthogonal maps) to 1 (identical up to scale); maps are non-negative, so never below 0.
    public let cosine: HeadGrid

    /// The cosine grid with its title and definition, as the report, CSV and NPY files write it.
    public var grids: [GridResult] {
        let what = variant == .cropped
            ? "the L x L maps of the real tokens"
            : "the whole \(paddedLength ?? 0) x \(paddedLength ?? 0) maps of inputs padded to \(paddedLength ?? 0) tokens (padding query rows included; the paper's code)"
        return [GridResult(name: variant.rawValue, title: variant == .cropped ? "Cosine of the two models' maps, real tokens" : "Cosine of the two models' maps, padded to \(paddedLength ?? 0)",
                           definition: "cos(vec A, vec B) over \(what), averaged over examples",
                           grid: cosine, examples: examples)]
    }

    enum CodingKeys: String, CodingKey { case variant, examples, paddedLength = "padded_length", truncated, cosine }
}
