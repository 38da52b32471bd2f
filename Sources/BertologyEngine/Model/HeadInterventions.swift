internal import CKernels
import Foundation

/// One attention head, 0-based inside the code; written 1-based as the paper writes it: `L4-H1`.
public struct HeadID: Hashable, Comparable, Sendable, CustomStringConvertible, Codable {
    /// 0-based layer index (`L4-H1` has layer 3).
    public let layer: Int
    /// 0-based head index within the layer (`L4-H1` has head 0).
    public let head: Int

    /// Creates a head from 0-based indices; they are not checked against any model.
    /// - Parameters:
    ///   - layer: 0-based layer.
    ///   - head: 0-based head within the layer.
    public init(layer: Int, head: Int) {
        self.layer = layer
        self.head = head
    }

    /// The paper's 1-based name, for example `L4-H1` for layer 3, head 0.
    public var description: String { "L\(layer + 1)-H\(head + 1)" }

    /// Orders by layer, then by head within the layer.
    public static func < (a: HeadID, b: HeadID) -> Bool { (a.layer, a.head) < (b.layer, b.head) }
}

/// How a head's attention probabilities are changed after softmax, before they multiply V.
public enum HeadIntervention: String, Sendable, CaseIterable, Codable {
    /// Unchanged.
    case keep
    /// Every probability 0: Hugging Face `head_mask = 0` (the head contributes only the output bias).
    case zero
    /// Every query row gives 1/L to each of the L non-padding keys (Kovaleva et al. 2019, §4.6).
    case uniform

    var kernelMode: Int32 {
        switch self {
        case .keep: Int32(CK_HEAD_KEEP.rawValue)
        case .zero: Int32(CK_HEAD_ZERO.rawValue)
        case .uniform: Int32(CK_HEAD_UNIFORM.rawValue)
        }
    }
}

/// A set of heads and whole layers, parsed from the paper's notation: `L4-H1,L2-H12,L3`.
public struct HeadSelection: Hashable, Sendable, CustomStringConvertible {
    /// Single heads, 0-based, in the order given (no duplicates when parsed).
    public var heads: [HeadID]
    /// Whole layers, 0-based.
    public var layers: [Int]

    /// Creates a selection from 0-based heads and layers; they are checked only when applied to a model.
    /// - Parameters:
    ///   - heads: single heads.
    ///   - layers: whole layers (every head of each).
    public init(heads: [HeadID] = [], layers: [Int] = []) {
        self.heads = heads
        self.layers = layers
    }

    /// Parses `L4-H1,L2-H12,L3` (1-based, comma-separated; `L3` is all heads of layer 3), checking
    /// every index against the model's shape.
    public init(parsing spec: String, layerCount: Int, headCount: Int) throws {
        self.init()
        let items = spec.split(separator: ",", omittingEmptySubsequences: false)
            .map { $0.trimmingCharacters(in: .whitespaces) }
        for item in items {
            guard !item.isEmpty else { throw BertologyError.usage("empty item in head list \"\(spec)\"") }
            let upper = item.uppercased()
            let parts = upper.split(separator: "-", omittingEmptySubsequences: false)
            guard parts.count <= 2, parts[0].hasPrefix("L"), let layer = Int(parts[0].dropFirst()) else {
                throw BertologyError.usage("\"\(item)\" is not a head (L4-H1) or a layer (L3)")
            }
            guard layer >= 1 && layer <= layerCount else {
                throw BertologyError.usage("\"\(item)\": layer \(layer) is out of range (the model has layers 1-\(layerCount))")
            }
            if parts.count == 1 {
                if !layers.contains(layer - 1) { layers.append(layer - 1) }
                continue
            }
            guard parts[1].hasPrefix("H"), let head = Int(parts[1].dropFirst()) else {
                throw BertologyError.usage("\"\(item)\" is not a head (L4-H1) or a layer (L3)")
            }
            guard head >= 1 && head <= headCount else {
                throw BertologyError.usage("\"\(item)\": head \(head) is out of range (each layer has heads 1-\(headCount))")
            }
            let id = HeadID(layer: layer - 1, head: head - 1)
            if !heads.contains(id) { heads.append(id) }
        }
    }

    /// Whether the selection names no head and no layer.
    public var isEmpty: Bool { heads.isEmpty && layers.isEmpty }

    /// The paper's notation, 1-based: `L2-H12,L4-H1,L3`.
    public var description: String {
        (heads.sorted().map(\.description) + layers.sorted().map { "L\($0 + 1)" }).joined(separator: ",")
    }
}

/// The intervention on every head of a model, applied during the forward pass.
/// Interventions never change the weights: they act on the attention probabilities only.
public struct HeadInterventions: Hashable, Sendable, CustomStringConvertible {
    /// Layers of the model the interventions are for.
    public let layerCount: Int
    /// Attention heads per layer of the model the interventions are for.
    public let headCount: Int
    /// (layers, heads) kernel modes, row-major.
    private(set) var modes: [Int32]

    /// Every head kept.
    public init(layerCount: Int, headCount: Int) {
        self.layerCount = layerCount
        self.headCount = headCount
        self.modes = Array(repeating: HeadIntervention.keep.kernelMode, count: layerCount * headCount)
    }

    /// `mode` on every head and layer of `selection`, every other head kept.
    public init(_ selection: HeadSelection, mode: HeadIntervention, layerCount: Int, headCount: Int) {
        self.init(layerCount: layerCount, headCount: headCount)
        for head in selection.heads { set(mode, for: head) }
        for layer in selection.layers { set(mode, forLayer: layer) }
    }

    /// Sets the intervention on one head (a precondition checks it is inside the model's shape).
    /// - Parameters:
    ///   - mode: the change to apply (`.keep` undoes an earlier one).
    ///   - head: the head, 0-based.
    public mutating func set(_ mode: HeadIntervention, for head: HeadID) {
        precondition(head.layer < layerCount && head.head < headCount, "\(head) outside \(layerCount)x\(headCount)")
        modes[head.layer * headCount + head.head] = mode.kernelMode
    }

    /// Sets the intervention on every head of one layer.
    /// - Parameters:
    ///   - mode: the change to apply (`.keep` undoes an earlier one).
    ///   - layer: the layer, 0-based.
    public mutating func set(_ mode: HeadIntervention, forLayer layer: Int) {
        for head in 0..<headCount { set(mode, for: HeadID(layer: layer, head: head)) }
    }

    /// The intervention on `head` (0-based); `.keep` for an unchanged head.
    public func mode(of head: HeadID) -> HeadIntervention {
        switch modes[head.layer * headCount + head.head] {
        case HeadIntervention.zero.kernelMode: .zero
        case HeadIntervention.uniform.kernelMode: .uniform
        default: .keep
        }
    }

    /// Whether any head is changed.
    public var isEmpty: Bool { modes.allSatisfy { $0 == HeadIntervention.keep.kernelMode } }

    /// The first layer with a changed head: the layers before it compute exactly as without
    /// interventions (what ablation sweeps reuse).
    public var firstAffectedLayer: Int? {
        modes.firstIndex { $0 != HeadIntervention.keep.kernelMode }.map { $0 / headCount }
    }

    /// The changed heads with their modes, in order.
    public var changedHeads: [(head: HeadID, mode: HeadIntervention)] {
        (0..<layerCount).flatMap { layer in
            (0..<headCount).compactMap { head -> (head: HeadID, mode: HeadIntervention)? in
                let id = HeadID(layer: layer, head: head)
                let mode = mode(of: id)
                return mode == .keep ? nil : (id, mode)
            }
        }
    }

    /// The changed heads with their modes, for example `L4-H1=zero,L6-H3=uniform`; "none" when no head is changed.
    public var description: String {
        isEmpty ? "none" : changedHeads.map { "\($0.head)=\($0.mode.rawValue)" }.joined(separator: ",")
    }

    /// Calls `body` with the (heads) kernel modes of one layer.
    func withLayerModes<R>(_ layer: Int, _ body: (UnsafePointer<Int32>) -> R) -> R {
        modes.withUnsafeBufferPointer { body($0.baseAddress! + layer * headCount) }
    }
}
