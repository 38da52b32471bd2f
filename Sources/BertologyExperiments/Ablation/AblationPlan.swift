import BertologyEngine
import Foundation

/// One run of an ablation sweep: nothing switched off (the baseline), one head, or a whole layer.
/// Named as the paper names them, 1-based: `baseline`, `L4-H1`, `L3`.
public enum Ablation: Hashable, Sendable, CustomStringConvertible {
    case baseline
    case head(HeadID)
    /// A whole layer, 0-based.
    case layer(Int)

    public var description: String {
        switch self {
        case .baseline: "baseline"
        case .head(let head): head.description
        case .layer(let layer): "L\(layer + 1)"
        }
    }

    /// `baseline`, `head` or `layer`.
    public var kind: String {
        switch self {
        case .baseline: "baseline"
        case .head: "head"
        case .layer: "layer"
        }
    }

    /// The layer it changes (0-based); nil for the baseline.
    public var layer: Int? {
        switch self {
        case .baseline: nil
        case .head(let head): head.layer
        case .layer(let layer): layer
        }
    }

    /// The head interventions of this ablation in `mode`; nil for the baseline.
    public func interventions(mode: HeadIntervention, layerCount: Int, headCount: Int) -> HeadInterventions? {
        var interventions = HeadInterventions(layerCount: layerCount, headCount: headCount)
        switch self {
        case .baseline: return nil
        case .head(let head): interventions.set(mode, for: head)
        case .layer(let layer): interventions.set(mode, forLayer: layer)
        }
        return interventions
    }

    /// Parses `baseline`, `L4-H1` or `L3` (1-based) for a model of `layerCount` x `headCount` heads.
    public init(parsing name: String, layerCount: Int, headCount: Int) throws {
        if name == "baseline" {
            self = .baseline
            return
        }
        let selection = try HeadSelection(parsing: name, layerCount: layerCount, headCount: headCount)
        if selection.heads.count == 1 && selection.layers.isEmpty {
            self = .head(selection.heads[0])
        } else if selection.layers.count == 1 && selection.heads.isEmpty {
            self = .layer(selection.layers[0])
        } else {
            throw BertologyError.usage("\"\(name)\" is not one ablation (baseline, L4-H1 or L3)")
        }
    }
}

/// A part of an ablation sweep, I/N: part I (1-based) of N. Ablation k of the plan (0-based, baseline excluded, in
/// plan order) belongs to part k mod N + 1, round-robin, so every part gets heads of every layer
/// (the layers cost differently: an ablation in layer 1 reruns every layer, one in the last
/// layer reruns one). Every part also runs the baseline.
public struct AblationShard: Hashable, Sendable, Codable, CustomStringConvertible {
    /// 1-based.
    public let index: Int
    public let count: Int

    public static let whole = AblationShard(uncheckedIndex: 1, count: 1)

    private init(uncheckedIndex: Int, count: Int) {
        self.index = uncheckedIndex
        self.count = count
    }

    public init(index: Int, count: Int) throws {
        guard count >= 1 else { throw BertologyError.usage("`shard` I/N: N must be at least 1 (got \(count))") }
        guard index >= 1 && index <= count else {
            throw BertologyError.usage("`shard` I/N: I is 1-based and must be in 1...\(count) (got \(index)); a 0-based array index i is shard \(index + 1)/\(count)")
        }
        self.index = index
        self.count = count
    }

    /// Parses `I/N`, for example `2/3`.
    public init(parsing text: String) throws {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let index = Int(parts[0].trimmingCharacters(in: .whitespaces)),
              let count = Int(parts[1].trimmingCharacters(in: .whitespaces)) else {
            throw BertologyError.usage("`shard` takes I/N, part I (1-based) of N, for example 2/3 (got \"\(text)\")")
        }
        try self.init(index: index, count: count)
    }

    public var isWhole: Bool { count == 1 }

    public var description: String { "\(index)/\(count)" }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }

    public init(from decoder: Decoder) throws {
        let container = try decoder.singleValueContainer()
        try self.init(parsing: try container.decode(String.self))
    }
}

/// The ablations of a sweep, in their one deterministic order: the baseline, then every chosen
/// head layer by layer (L1-H1, L1-H2, ..., LN-HM), then every chosen layer (L1, ..., LN). Output
/// files list ablations in this order; a run executes them grouped by layer (AblationSweep).
public struct AblationPlan: Sendable, Equatable {
    public let mode: HeadIntervention
    public let layerCount: Int
    public let headCount: Int
    /// Heads switched off one at a time, sorted.
    public let heads: [HeadID]
    /// Layers switched off one at a time (0-based), sorted.
    public let layers: [Int]

    public init(mode: HeadIntervention, layerCount: Int, headCount: Int, heads: [HeadID], layers: [Int]) {
        self.mode = mode
        self.layerCount = layerCount
        self.headCount = headCount
        self.heads = Array(Set(heads)).sorted()
        self.layers = Array(Set(layers)).sorted()
    }

    /// The plan of `heads` and `layers` for a model of `layerCount` x `headCount` heads. In `heads`, a
    /// layer stands for each of its heads (each switched off alone); `layers` takes whole layers only.
    /// - Throws: `BertologyError` `.usage` when `layers` names single heads, or a head or layer is
    ///   not in the model.
    public init(mode: HeadIntervention, heads: AblationSweepOptions.Targets, layers: AblationSweepOptions.Targets,
                layerCount: Int, headCount: Int) throws {
        func check(_ selection: HeadSelection) throws {
            for layer in selection.layers + selection.heads.map(\.layer) where !(0..<layerCount).contains(layer) {
                throw BertologyError.usage("layer \(layer + 1) is out of range (the model has layers 1-\(layerCount))")
            }
            for head in selection.heads where !(0..<headCount).contains(head.head) {
                throw BertologyError.usage("\(head): head \(head.head + 1) is out of range (each layer has heads 1-\(headCount))")
            }
        }
        let headList: [HeadID]
        switch heads {
        case .all: headList = (0..<layerCount).flatMap { layer in (0..<headCount).map { HeadID(layer: layer, head: $0) } }
        case .only(let selection):
            try check(selection)
            headList = selection.heads + selection.layers.flatMap { layer in (0..<headCount).map { HeadID(layer: layer, head: $0) } }
        }
        let layerList: [Int]
        switch layers {
        case .all: layerList = Array(0..<layerCount)
        case .only(let selection):
            try check(selection)
            guard selection.heads.isEmpty else {
                throw BertologyError.usage("whole-layer ablations take layers (L1,L6), not heads (\(selection.heads.map(\.description).joined(separator: ",")))")
            }
            layerList = selection.layers
        }
        self.init(mode: mode, layerCount: layerCount, headCount: headCount, heads: headList, layers: layerList)
    }

    /// Every ablation, baseline first (see the type's comment for the order).
    public var ablations: [Ablation] { [.baseline] + heads.map(Ablation.head) + layers.map(Ablation.layer) }

    /// The ablations part `shard` runs: the baseline and its round-robin share of the others.
    public func ablations(in shard: AblationShard) -> [Ablation] {
        let others = heads.map(Ablation.head) + layers.map(Ablation.layer)
        return [.baseline] + others.enumerated().filter { $0.offset % shard.count == shard.index - 1 }.map(\.element)
    }

    /// `all`, `none`, or the heads in the paper's notation (for fingerprints and reports).
    public var headSpec: String {
        if heads.isEmpty { return "none" }
        if heads.count == layerCount * headCount { return "all" }
        return HeadSelection(heads: heads).description
    }

    /// `all`, `none`, or the layers in the paper's notation.
    public var layerSpec: String {
        if layers.isEmpty { return "none" }
        if layers.count == layerCount { return "all" }
        return HeadSelection(layers: layers).description
    }

    /// The canonical position of `ablation` in `ablations`.
    public func index(of ablation: Ablation) -> Int? {
        switch ablation {
        case .baseline: 0
        case .head(let head): heads.firstIndex(of: head).map { 1 + $0 }
        case .layer(let layer): layers.firstIndex(of: layer).map { 1 + heads.count + $0 }
        }
    }
}
