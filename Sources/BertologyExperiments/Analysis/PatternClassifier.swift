import BertologyEngine
import Foundation

/// The five attention pattern types of Kovaleva et al. §4.1 (Fig 1-2).
public enum AttentionPattern: Int, CaseIterable, Sendable, Codable, CustomStringConvertible {
    /// Attention to a few columns: [CLS], [SEP] (or another single token such as a final period).
    case vertical
    /// Attention to the token itself and its neighbours (offsets -1, 0, +1).
    case diagonal
    /// Both at once.
    case verticalDiagonal
    /// Attention inside each sentence of a pair (pairs only).
    case block
    /// Everything else: the upper bound on "potentially linguistically informative" heads.
    case heterogeneous

    /// The type's name in JSON, CSV and file names: "vertical", "diagonal", "vertical+diagonal", "block", "heterogeneous".
    public var name: String {
        switch self {
        case .vertical: "vertical"
        case .diagonal: "diagonal"
        case .verticalDiagonal: "vertical+diagonal"
        case .block: "block"
        case .heterogeneous: "heterogeneous"
        }
    }

    /// The type's name capitalised, for headings and legends.
    public var title: String {
        switch self {
        case .vertical: "Vertical"
        case .diagonal: "Diagonal"
        case .verticalDiagonal: "Vertical+diagonal"
        case .block: "Block"
        case .heterogeneous: "Heterogeneous"
        }
    }

    /// One or two letters for grids: V, D, VD, B, H.
    public var abbreviation: String {
        switch self {
        case .vertical: "V"
        case .diagonal: "D"
        case .verticalDiagonal: "VD"
        case .block: "B"
        case .heterogeneous: "H"
        }
    }

    /// The type's ``name``.
    public var description: String { name }
}

/// Measurable features of one L x L attention map (rows = queries, real tokens only), from which
/// `PatternClassifier` decides the type. Each score is an excess over uniform attention:
/// (mass - uniform mass) / (1 - uniform mass), clipped to [0, 1], so 0 means "no more than a map
/// attending uniformly would put there" and 1 means "all of it", whatever the length.
public struct PatternFeatures: Sendable, Equatable, Codable {
    /// Vertical score: mass on the special columns ([CLS], [SEP]) plus the two non-special columns
    /// with the most mass outside the diagonal band, as an excess over uniform.
    public let vertical: Double
    /// Diagonal score: mass on offsets -1, 0, +1 (non-special columns), as an excess over uniform.
    public let diagonal: Double
    /// Block score (pairs only): the share of the remaining mass (non-special columns, off the band)
    /// that stays inside the query's own segment, as an excess over uniform; nil for single sentences.
    public let block: Double?
    /// Mean over query rows of the mass on the special columns (`[CLS]`, `[SEP]`), 0-1, before the excess over uniform.
    public let specialMass: Double
    /// Mean over query rows of the off-band mass on the two strongest non-special columns, 0-1.
    public let stripeMass: Double
    /// Mean over query rows of the mass on offsets -1, 0, +1 (non-special columns), 0-1.
    public let diagonalMass: Double
    /// Share of the off-band, non-special mass that stays in the query's own sentence, 0-1; nil for single sentences.
    public let ownSegmentShare: Double?

    enum CodingKeys: String, CodingKey {
        case vertical, diagonal, block, specialMass = "special_mass", stripeMass = "stripe_mass"
        case diagonalMass = "diagonal_mass", ownSegmentShare = "own_segment_share"
    }
}

/// Thresholds of the pattern classifier (calibrated on all-MiniLM-L6-v2 maps of SST-2 and MRPC dev
/// by looking at thumbnail sheets; docs/ANALYSES.md).
public struct PatternThresholds: Sendable, Equatable, Codable {
    /// vertical + diagonal at least this: the map is explained by those two components.
    public var explained: Double
    /// Both components at least this (and explained): vertical+diagonal.
    public var component: Double
    /// Block score at least this (when not explained): block.
    public var block: Double

    /// Creates thresholds; the defaults are the calibrated ``standard`` values.
    /// - Parameters:
    ///   - explained: least vertical + diagonal score for a map to be vertical, diagonal or both.
    ///   - component: least score of each component for vertical+diagonal.
    ///   - block: least block score for block (pairs only).
    public init(explained: Double = 0.5, component: Double = 0.15, block: Double = 0.6) {
        self.explained = explained
        self.component = component
        self.block = block
    }

    /// The calibrated thresholds: explained 0.5, component 0.15, block 0.6.
    public static let standard = PatternThresholds()
}

/// A deterministic stand-in for the paper's unreleased CNN: features of the map, then thresholds.
///
///     if vertical + diagonal >= explained:
///         vertical+diagonal  if vertical >= component and diagonal >= component
///         vertical           else if vertical >= diagonal
///         diagonal           otherwise
///     else block             if the input is a pair and block >= block threshold
///     else heterogeneous
package enum PatternClassifier {
    /// How many non-special columns count as stripes in the vertical score (the two strongest).
    public static let stripeColumns = 2

    /// The pattern type of a map with `features` (the rule in the type's overview).
    /// - Parameters:
    ///   - features: the map's features, from ``features(map:length:special:segmentStart:)``.
    ///   - thresholds: the decision thresholds.
    /// - Returns: one of the five types; block only when `features.block` is not nil.
    public static func classify(_ features: PatternFeatures, thresholds: PatternThresholds = .standard) -> AttentionPattern {
        let (v, d) = (features.vertical, features.diagonal)
        if v + d >= thresholds.explained {
            if v >= thresholds.component && d >= thresholds.component { return .verticalDiagonal }
            return v >= d ? .vertical : .diagonal
        }
        if let block = features.block, block >= thresholds.block { return .block }
        return .heterogeneous
    }

    /// Features of a dense n x n map (row-major, rows = queries). `special[j]` marks the [CLS] and
    /// [SEP] columns; `segmentStart` is the first token of the second sentence (n for a single one).
    public static func features(map: [Float], length n: Int, special: [Bool], segmentStart: Int) -> PatternFeatures {
        precondition(map.count == n * n && special.count == n && segmentStart <= n, "an n x n map with n flags")
        var columns = [Double](repeating: 0, count: 2 * n)
        for i in 0..<n {
            for j in 0..<n { columns[(i < segmentStart ? 0 : n) + j] += Double(map[i * n + j]) }
        }
        return map.withUnsafeBufferPointer { values in
            columns.withUnsafeBufferPointer { sums in
                special.withUnsafeBufferPointer { flags in
                    features(map: values.baseAddress!, stride: n, length: n, segmentStart: segmentStart,
                             special: flags.baseAddress!, columnSums: sums.baseAddress!, columnStride: n)
                }
            }
        }
    }

    /// The features from a map with row stride `stride`, its special flags (n), and column sums
    /// split by the query row's segment: `columnSums[j]` over segment-0 rows and
    /// `columnSums[columnStride + j]` over segment-1 rows (the layout of `ck_attention_map_statistics`).
    static func features(map: UnsafePointer<Float>, stride t: Int, length n: Int, segmentStart split: Int,
                         special: UnsafePointer<Bool>, columnSums: UnsafePointer<Double>, columnStride: Int) -> PatternFeatures {
        let length = Double(n)
        let cells = length * length
        // Special columns.
        var specialMass = 0.0, specialCount = 0
        for j in 0..<n where special[j] {
            specialMass += columnSums[j] + columnSums[columnStride + j]
            specialCount += 1
        }
        // The band: offsets -1, 0, +1 on non-special columns.
        var band = 0.0, bandCells = 0
        for i in 0..<n {
            for j in max(0, i - 1)...min(n - 1, i + 1) where !special[j] {
                band += Double(map[i * t + j])
                bandCells += 1
            }
        }
        // Off-band mass of each non-special column, and the part of it inside the query's segment.
        var offTotal = 0.0, ownTotal = 0.0, offCells = 0, ownCells = 0
        // The two strongest stripes (stripeColumns == 2), kept in scalars: this runs for every map.
        var first = (mass: -1.0, cells: 0), second = (mass: -1.0, cells: 0)
        for j in 0..<n where !special[j] {
            let segment = j < split ? 0 : 1
            var bandColumn = 0.0, bandColumnOwn = 0.0, bandRows = 0, bandRowsOwn = 0
            for i in max(0, j - 1)...min(n - 1, j + 1) {
                let value = Double(map[i * t + j])
                bandColumn += value
                bandRows += 1
                if (i < split ? 0 : 1) == segment {
                    bandColumnOwn += value
                    bandRowsOwn += 1
                }
            }
            let off = max(0, columnSums[j] + columnSums[columnStride + j] - bandColumn)
            let own = max(0, columnSums[segment * columnStride + j] - bandColumnOwn)
            offTotal += off
            ownTotal += own
            offCells += n - bandRows
            ownCells += (segment == 0 ? split : n - split) - bandRowsOwn
            if off > first.mass {
                second = first
                first = (off, n - bandRows)
            } else if off > second.mass {
                second = (off, n - bandRows)
            }
        }
        let stripe = max(0, first.mass) + max(0, second.mass)
        let stripeCells = first.cells + second.cells

        let specialShare = specialMass / length, uniformSpecial = Double(specialCount) / length
        let stripeShare = stripe / length, uniformStripe = Double(stripeCells) / cells
        let diagonalShare = band / length, uniformDiagonal = Double(bandCells) / cells
        let vertical = excess(specialShare + stripeShare, over: uniformSpecial + uniformStripe)
        let diagonal = excess(diagonalShare, over: uniformDiagonal)
        var block: Double?, ownShare: Double?
        if split < n {
            let share = offTotal > 0 ? ownTotal / offTotal : 0
            ownShare = share
            block = excess(share, over: offCells > 0 ? Double(ownCells) / Double(offCells) : 0)
        }
        return PatternFeatures(vertical: vertical, diagonal: diagonal, block: block, specialMass: specialShare,
                               stripeMass: stripeShare, diagonalMass: diagonalShare, ownSegmentShare: ownShare)
    }

    /// (value - uniform) / (1 - uniform), clipped to [0, 1]; 0 when uniform attention already fills it.
    static func excess(_ value: Double, over uniform: Double) -> Double {
        guard uniform < 1 else { return 0 }
        return min(1, max(0, (value - uniform) / (1 - uniform)))
    }
}
