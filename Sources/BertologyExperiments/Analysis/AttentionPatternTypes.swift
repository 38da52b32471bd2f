import BertologyEngine
import Foundation

/// Classifies every (example, head) map into the five pattern types (`PatternClassifier`) and keeps
/// counts per head, the mean features per head, and a few sample maps per type for the thumbnail
/// sheet. The samples are chosen by a seeded hash of (example, layer, head), so the same run picks the
/// same maps however the examples are batched; they are stored cropped (at most
/// `PatternSample.maximumSide` pixels a side), so memory stays bounded.
public final class AttentionPatternTypes: AttentionAnalyzer, ContextFolding {
    /// Layers of the model observed.
    public let layerCount: Int
    /// Attention heads per layer.
    public let headCount: Int
    /// The thresholds each map is classified with.
    public let thresholds: PatternThresholds
    /// Sample maps kept per pattern type for the thumbnail sheet (0 keeps none).
    public let samplesPerType: Int
    /// Seed of the hash that chooses the sample maps; the same seed picks the same maps.
    public let seed: UInt64
    let classes: TokenClasses
    private let standalone = StandaloneContext()

    /// (layers, heads, 5) map counts.
    private var counts: [Int]
    private var verticalSum: [Double], diagonalSum: [Double], blockSum: [Double]
    private var examples = 0
    private var pairExamples = 0
    /// Per type: the kept samples, sorted by priority (smallest first).
    private var samples: [[(priority: UInt64, sample: PatternSample)]]

    /// Creates an analyzer with empty counts for a model of `layerCount` x `headCount` heads.
    /// - Parameters:
    ///   - layerCount: the model's layers.
    ///   - headCount: the model's heads per layer.
    ///   - tokenClasses: the `[SEP]` id of the model's tokenizer: `[SEP]` columns (and position 0, `[CLS]`) are the vertical feature's special columns.
    ///   - thresholds: the classifier's thresholds.
    ///   - samplesPerType: sample maps to keep per pattern type.
    ///   - seed: seed of the choice of sample maps.
    public init(layerCount: Int, headCount: Int, tokenClasses: TokenClasses,
                thresholds: PatternThresholds = .standard, samplesPerType: Int = 12, seed: UInt64 = 42) {
        self.layerCount = layerCount
        self.headCount = headCount
        self.thresholds = thresholds
        self.samplesPerType = samplesPerType
        self.seed = seed
        self.classes = tokenClasses
        counts = [Int](repeating: 0, count: layerCount * headCount * AttentionPattern.allCases.count)
        let zeros = [Double](repeating: 0, count: layerCount * headCount)
        (verticalSum, diagonalSum, blockSum) = (zeros, zeros, zeros)
        samples = Array(repeating: [], count: AttentionPattern.allCases.count)
    }

    public func beginBatch(rows: [Int], batch: Batch) { standalone.beginBatch(rows: rows) }

    /// Classifies one layer's maps and folds them into the counts (used when the analyzer runs alone, not in an ``AnalyzerGroup``).
    public func observe(_ attention: LayerAttention) {
        fold(attention, standalone.context(for: attention, classes: classes))
    }

    func fold(_ attention: LayerAttention, _ context: LayerContext) {
        let roles = context.roles, statistics = context.statistics
        let t = attention.sequenceLength, layer = attention.layer
        let types = AttentionPattern.allCases.count
        if layer == 0 {
            examples += roles.size
            pairExamples += (0..<roles.size).reduce(0) { $0 + (roles.isPair($1) ? 1 : 0) }
        }
        let base = attention.probabilities.baseAddress!
        roles.special.withUnsafeBufferPointer { special in
            statistics.columnSums.withUnsafeBufferPointer { columns in
                for b in 0..<roles.size {
                    let n = Int(roles.lengths[b]), split = Int(roles.segmentStarts[b])
                    for h in 0..<headCount {
                        let map = base + (b * headCount + h) * t * t
                        let features = PatternClassifier.features(
                            map: map, stride: t, length: n, segmentStart: split, special: special.baseAddress! + b * t,
                            columnSums: columns.baseAddress! + (b * headCount + h) * 2 * t, columnStride: t)
                        let pattern = PatternClassifier.classify(features, thresholds: thresholds)
                        let cell = layer * headCount + h
                        counts[cell * types + pattern.rawValue] += 1
                        verticalSum[cell] += features.vertical
                        diagonalSum[cell] += features.diagonal
                        blockSum[cell] += features.block ?? 0
                        if samplesPerType > 0 {
                            consider(row: context.rows[b], layer: layer, head: h, map: map, stride: t, length: n,
                                     segmentStart: split, features: features, pattern: pattern)
                        }
                    }
                }
            }
        }
    }

    private func consider(row: Int, layer: Int, head: Int, map: UnsafePointer<Float>, stride: Int, length: Int,
                          segmentStart: Int, features: PatternFeatures, pattern: AttentionPattern) {
        var generator = SeededGenerator(seed: seed ^ (UInt64(row) &* 0x9E37_79B9_7F4A_7C15)
            ^ (UInt64(layer) &* 0xC2B2_AE3D_27D4_EB4F) ^ (UInt64(head) &* 0x1656_67B1_9E37_79F9))
        let priority = generator.next()
        var kept = samples[pattern.rawValue]
        guard kept.count < samplesPerType || priority < kept[kept.count - 1].priority else { return }
        let sample = PatternSample(row: row, head: HeadID(layer: layer, head: head), pattern: pattern, features: features,
                                   map: map, stride: stride, length: length, segmentStart: segmentStart)
        kept.append((priority, sample))
        kept.sort { $0.priority < $1.priority }
        if kept.count > samplesPerType { kept.removeLast() }
        samples[pattern.rawValue] = kept
    }

    /// The counts, mean features and samples over every example observed so far.
    public func result() -> PatternTypeResult {
        let types = AttentionPattern.allCases
        let cells = layerCount * headCount
        var perHead: [[Int]] = []
        for cell in 0..<cells { perHead.append(Array(counts[(cell * types.count)..<((cell + 1) * types.count)])) }
        let n = Double(max(examples, 1)), pairs = Double(max(pairExamples, 1))
        return PatternTypeResult(
            examples: examples, pairExamples: pairExamples, layerCount: layerCount, headCount: headCount,
            thresholds: thresholds, countsPerHead: perHead,
            meanVertical: HeadGrid(layerCount: layerCount, headCount: headCount, values: verticalSum.map { $0 / n }),
            meanDiagonal: HeadGrid(layerCount: layerCount, headCount: headCount, values: diagonalSum.map { $0 / n }),
            meanBlock: pairExamples > 0 ? HeadGrid(layerCount: layerCount, headCount: headCount, values: blockSum.map { $0 / pairs }) : nil,
            samples: samples.flatMap { $0.map(\.sample) })
    }
}

/// One map kept for the thumbnail sheet.
public struct PatternSample: Sendable, Encodable {
    /// Largest side stored; longer maps are averaged down to this many bins per side.
    public static let maximumSide = 128

    /// Dataset index of the example.
    public let row: Int
    /// The head whose map this is.
    public let head: HeadID
    /// The type the map was classified as.
    public let pattern: AttentionPattern
    /// The features the classification was made from.
    public let features: PatternFeatures
    /// Real tokens L.
    public let length: Int
    /// Position of the second segment's first token (after the first `[SEP]`); equal to ``length`` for a single sentence.
    public let segmentStart: Int
    /// Side of `pixels` (L, or `maximumSide` when L is longer).
    public let side: Int
    /// (side, side) probabilities, rows = queries.
    public let pixels: [Float]

    init(row: Int, head: HeadID, pattern: AttentionPattern, features: PatternFeatures, map: UnsafePointer<Float>,
         stride: Int, length: Int, segmentStart: Int) {
        self.row = row
        self.head = head
        self.pattern = pattern
        self.features = features
        self.length = length
        self.segmentStart = segmentStart
        let side = min(length, Self.maximumSide)
        self.side = side
        var pixels = [Float](repeating: 0, count: side * side)
        if side == length {
            for i in 0..<length { for j in 0..<length { pixels[i * side + j] = map[i * stride + j] } }
        } else {
            var counts = [Float](repeating: 0, count: side * side)
            for i in 0..<length {
                let bi = i * side / length
                for j in 0..<length {
                    let cell = bi * side + j * side / length
                    pixels[cell] += map[i * stride + j]
                    counts[cell] += 1
                }
            }
            for cell in pixels.indices where counts[cell] > 0 { pixels[cell] /= counts[cell] }
        }
        self.pixels = pixels
    }

    init(row: Int, head: HeadID, pattern: AttentionPattern, features: PatternFeatures, length: Int,
                segmentStart: Int, side: Int, pixels: [Float]) {
        precondition(pixels.count == side * side, "side x side pixels")
        self.row = row
        self.head = head
        self.pattern = pattern
        self.features = features
        self.length = length
        self.segmentStart = segmentStart
        self.side = side
        self.pixels = pixels
    }

    enum CodingKeys: String, CodingKey { case row, head, pattern, features, length, segmentStart = "segment_start" }
}

/// Pattern-type counts per head and over the run.
public struct PatternTypeResult: Sendable, Encodable {
    /// Examples classified (each contributes layers x heads maps).
    public let examples: Int
    /// Examples that are sentence pairs (the block feature exists only for these).
    public let pairExamples: Int
    /// Layers of the model.
    public let layerCount: Int
    /// Attention heads per layer.
    public let headCount: Int
    /// The thresholds the maps were classified with.
    public let thresholds: PatternThresholds
    /// [layer * heads + head][type] map counts (types in `AttentionPattern` order).
    public let countsPerHead: [[Int]]
    /// Mean vertical feature per head, 0-1 (see ``PatternFeatures/vertical``).
    public let meanVertical: HeadGrid
    /// Mean diagonal feature per head, 0-1 (see ``PatternFeatures/diagonal``).
    public let meanDiagonal: HeadGrid
    /// Over pair examples only; nil without pairs.
    public let meanBlock: HeadGrid?
    /// The sample maps kept, grouped by type in ``AttentionPattern`` order, at most ``AttentionPatternTypes/samplesPerType`` each.
    public let samples: [PatternSample]

    /// Maps classified: examples x layers x heads.
    public var mapCount: Int { countsPerHead.reduce(0) { $0 + $1.reduce(0, +) } }

    /// Percentage of all (example, head) maps of each type (the paper's Fig 2 bar for this task).
    public var distribution: [AttentionPattern: Double] {
        distribution(layers: 0..<layerCount)
    }

    /// Percentage of the maps of `layers` of each type.
    public func distribution(layers: Range<Int>) -> [AttentionPattern: Double] {
        var totals = [Int](repeating: 0, count: AttentionPattern.allCases.count)
        for layer in layers {
            for head in 0..<headCount {
                for (type, count) in countsPerHead[layer * headCount + head].enumerated() { totals[type] += count }
            }
        }
        let all = Double(max(totals.reduce(0, +), 1))
        return Dictionary(uniqueKeysWithValues: AttentionPattern.allCases.map { ($0, 100 * Double(totals[$0.rawValue]) / all) })
    }

    /// The most frequent type of each head (ties: the first in `AttentionPattern` order).
    public var dominant: [[AttentionPattern]] {
        (0..<layerCount).map { layer in
            (0..<headCount).map { head in
                let row = countsPerHead[layer * headCount + head]
                let best = row.indices.max { row[$0] < row[$1] || (row[$0] == row[$1] && $0 > $1) } ?? 0
                return AttentionPattern(rawValue: best)!
            }
        }
    }

    /// The share of a head's maps that are of its dominant type.
    public var dominantShare: HeadGrid {
        HeadGrid(layerCount: layerCount, headCount: headCount, values: countsPerHead.map { row in
            Double(row.max() ?? 0) / Double(max(row.reduce(0, +), 1))
        })
    }

    /// The share of each head's maps that are of `pattern`.
    public func share(of pattern: AttentionPattern) -> HeadGrid {
        HeadGrid(layerCount: layerCount, headCount: headCount, values: countsPerHead.map { row in
            Double(row[pattern.rawValue]) / Double(max(row.reduce(0, +), 1))
        })
    }

    /// The per-type share grids (block only with pairs) and the mean-feature grids, as the report, CSV and NPY files write them.
    public var grids: [GridResult] {
        // Single sentences cannot be block: no share-of-block grid without pairs.
        let shown = AttentionPattern.allCases.filter { $0 != .block || pairExamples > 0 }
        var grids = shown.map { pattern in
            GridResult(name: "share-\(pattern.name.replacingOccurrences(of: "+", with: "-"))",
                       title: "Share of maps classified \(pattern.title.lowercased())",
                       definition: "fraction of the head's (example) maps classified \(pattern.name)",
                       grid: share(of: pattern), examples: examples, range: 0...1)
        }
        grids.append(GridResult(name: "vertical-score", title: "Mean vertical score",
                                definition: "mean over examples of the vertical feature (excess mass on [CLS], [SEP] and the two strongest other columns)",
                                grid: meanVertical, examples: examples, range: 0...1))
        grids.append(GridResult(name: "diagonal-score", title: "Mean diagonal score",
                                definition: "mean over examples of the diagonal feature (excess mass on offsets -1, 0, +1)",
                                grid: meanDiagonal, examples: examples, range: 0...1))
        if let meanBlock {
            grids.append(GridResult(name: "block-score", title: "Mean block score (pairs)",
                                    definition: "mean over pair examples of the block feature (excess own-segment share of the remaining mass)",
                                    grid: meanBlock, examples: pairExamples, range: 0...1))
        }
        return grids
    }

    /// Counts, shares and mean features; the sample maps' pixels stay out of JSON (they are drawn in
    /// patterns-samples.svg; patterns.json lists which maps they are).
    public func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(examples, forKey: .examples)
        try container.encode(pairExamples, forKey: .pairExamples)
        try container.encode(thresholds, forKey: .thresholds)
        try container.encode(AttentionPattern.allCases.map(\.name), forKey: .types)
        try container.encode(Dictionary(uniqueKeysWithValues: distribution.map { ($0.key.name, $0.value) }), forKey: .distribution)
        try container.encode(dominant.map { $0.map(\.name) }, forKey: .dominant)
        try container.encode((0..<layerCount).map { layer in (0..<headCount).map { countsPerHead[layer * headCount + $0] } },
                             forKey: .counts)
        try container.encode(meanVertical, forKey: .meanVertical)
        try container.encode(meanDiagonal, forKey: .meanDiagonal)
        try container.encodeIfPresent(meanBlock, forKey: .meanBlock)
    }

    enum CodingKeys: String, CodingKey {
        case examples, pairExamples = "pair_examples", thresholds, types, distribution, dominant, counts
        case meanVertical = "mean_vertical", meanDiagonal = "mean_diagonal", meanBlock = "mean_block"
    }
}
