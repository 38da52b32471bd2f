import BertologyEngine
import Foundation

/// One number per attention head: a (layers x heads) grid, the shape of every per-head result
/// (the paper's 12x12 heatmaps). Indexed from 0 in code, JSON and NPY (`[layer][head]`); the
/// paper's names are 1-based (`L4-H1` is `[3][0]`).
public struct HeadGrid: Sendable, Equatable, Codable {
    /// Rows of the grid: the model's layers.
    public let layerCount: Int
    /// Columns of the grid: attention heads per layer.
    public let headCount: Int
    /// Row-major (layers, heads).
    public private(set) var values: [Double]

    /// Creates a grid with every cell set to `value`.
    /// - Parameters:
    ///   - layerCount: the model's layers.
    ///   - headCount: heads per layer.
    ///   - value: the value of every cell.
    public init(layerCount: Int, headCount: Int, repeating value: Double = 0) {
        self.layerCount = layerCount
        self.headCount = headCount
        self.values = Array(repeating: value, count: layerCount * headCount)
    }

    /// Creates a grid from row-major values.
    /// - Parameters:
    ///   - layerCount: the model's layers.
    ///   - headCount: heads per layer.
    ///   - values: `layerCount * headCount` values, layer by layer (a precondition).
    public init(layerCount: Int, headCount: Int, values: [Double]) {
        precondition(values.count == layerCount * headCount, "\(values.count) values for a \(layerCount)x\(headCount) grid")
        self.layerCount = layerCount
        self.headCount = headCount
        self.values = values
    }

    /// The value of head `head` (0-based) of layer `layer` (0-based).
    public subscript(layer: Int, head: Int) -> Double {
        get { values[layer * headCount + head] }
        set { values[layer * headCount + head] = newValue }
    }

    /// The value of the head `id`.
    public subscript(id: HeadID) -> Double {
        get { self[id.layer, id.head] }
        set { self[id.layer, id.head] = newValue }
    }

    /// `[layer][head]`.
    public var rows: [[Double]] {
        (0..<layerCount).map { Array(values[($0 * headCount)..<(($0 + 1) * headCount)]) }
    }

    /// Element-wise `transform`.
    public func map(_ transform: (Double) -> Double) -> HeadGrid {
        HeadGrid(layerCount: layerCount, headCount: headCount, values: values.map(transform))
    }

    /// The smallest value; 0 for an empty grid.
    public var minimum: Double { values.min() ?? 0 }
    /// The largest value; 0 for an empty grid.
    public var maximum: Double { values.max() ?? 0 }

    /// The head with the largest (or, with `smallest`, the smallest) value; ties go to the first.
    public func extremeHead(smallest: Bool = false) -> HeadID {
        var best = 0
        for index in values.indices where smallest ? values[index] < values[best] : values[index] > values[best] {
            best = index
        }
        return HeadID(layer: best / headCount, head: best % headCount)
    }

    /// Encodes as `[[Double]]`, `[layer][head]`.
    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rows)
    }

    /// Decodes what ``encode(to:)`` writes: `[[Double]]`, `[layer][head]`, every row as long.
    public init(from decoder: Decoder) throws {
        let rows = try decoder.singleValueContainer().decode([[Double]].self)
        let heads = rows.first?.count ?? 0
        guard rows.allSatisfy({ $0.count == heads }) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "the grid's rows differ in length"))
        }
        self.init(layerCount: rows.count, headCount: heads, values: rows.flatMap { $0 })
    }

    /// The grid as float32 (layers, heads), for NPY.
    public var float32: [Float] { values.map { Float($0) } }
}
