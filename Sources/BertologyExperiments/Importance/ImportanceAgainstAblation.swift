import BertologyEngine
import Foundation

/// Gradient importance read against the paper's ablation (§4.6): the Spearman correlation between each head's
/// importance and the drop in the task score when that head alone is switched off (an `ablate` run's
/// `ablation.json`), and the heads both call most important.
public struct ImportanceAgainstAblation: Sendable, Equatable, Codable {
    /// The ablation file's name (`ablation.json`), its sweep's mode and the metric compared.
    public let ablation: String
    public let mode: String
    public let metric: String
    /// The heads compared: those the sweep switched off.
    public let heads: Int
    /// Spearman's rho between I_h and (baseline − score without h), over the compared heads.
    public let spearman: Double
    /// How many of the top heads each list gives (10% of the heads, at least 5).
    public let top: Int
    /// The top heads by importance, by the ablation's drop, and in both (1-based names, most important first).
    public let topByImportance: [String]
    public let topByAblation: [String]
    public let agreed: [String]

    enum CodingKeys: String, CodingKey {
        case ablation, mode, metric, heads, spearman, top
        case topByImportance = "top_by_importance", topByAblation = "top_by_ablation", agreed
    }

    /// The score drop of every head an ablation sweep switched off, read from its `ablation.json`.
    public struct AblationDrops: Sendable {
        public let mode: String
        public let metric: String
        /// (layers, heads): baseline − score without the head; nil where the sweep did not switch the head off.
        public let drops: [[Double?]]
    }

    /// Reads `ablation.json` of a sweep of `checkpoint` (the same model files, by their SHA-256).
    /// - Throws: `BertologyError` `.badInput` naming the file and what is wrong: not an ablation file, another model,
    ///   another shape, no head ablated.
    public static func readAblation(_ url: URL, checkpoint: Checkpoint) throws -> AblationDrops {
        let path = url.path
        let root = try JSONValue.parse(try InputFile.read(url), file: path)
        guard let object = root.object, let fingerprint = object["fingerprint"]?.object,
              let model = fingerprint["model"]?.object, let metric = object["primary_metric"]?.string,
              let baseline = object["baseline"]?.object?[metric]?.double,
              let grid = object["heads"]?.object?[metric]?.array else {
            throw BertologyError.badInput(path, "not an ablation.json of `bertology ablate` (expected fingerprint, primary_metric, baseline and heads)")
        }
        let files = try AblationFingerprint.modelFiles(checkpoint)
        var recorded: [String: String] = [:]
        for (name, value) in model["files"]?.object ?? [:] { recorded[name] = value.string }
        if recorded != files {
            let name = model["name"]?.string ?? "another model"
            throw BertologyError.badInput(path, "the sweep ran \(name), not this checkpoint (\(checkpoint.name)): its model files' SHA-256 differ")
        }
        let (layers, heads) = (checkpoint.model.layerCount, checkpoint.model.headCount)
        guard grid.count == layers, grid.allSatisfy({ $0.array?.count == heads }) else {
            throw BertologyError.badInput(path, "heads.\(metric) is not a \(layers) x \(heads) grid")
        }
        let drops: [[Double?]] = grid.map { row in row.array!.map { $0.double.map { baseline - $0 } } }
        guard drops.contains(where: { $0.contains { $0 != nil && $0!.isFinite } }) else {
            throw BertologyError.badInput(path, "the sweep switched no head off alone (only layers): importance is compared with single heads")
        }
        return AblationDrops(mode: object["mode"]?.string ?? "", metric: metric, drops: drops)
    }

    /// Compares `importance` with an ablation sweep's drops over the heads both cover.
    public init(_ importance: HeadImportanceResult, _ ablation: AblationDrops, file: String) {
        var ids: [HeadID] = []
        for layer in 0..<importance.layers {
            for head in 0..<importance.heads {
                if let drop = ablation.drops[layer][head], drop.isFinite { ids.append(HeadID(layer: layer, head: head)) }
            }
        }
        let scores = ids.map { importance.headImportance[$0.layer][$0.head] }
        let drops = ids.map { ablation.drops[$0.layer][$0.head]! }
        let top = min(ids.count, max(5, ids.count / 10))
        func ordered(_ values: [Double]) -> [HeadID] {
            ids.indices.sorted { values[$0] != values[$1] ? values[$0] > values[$1] : ids[$0] < ids[$1] }.map { ids[$0] }
        }
        let byImportance = Array(ordered(scores).prefix(top)), byAblation = Array(ordered(drops).prefix(top))
        let shared = Set(byAblation)
        self.ablation = file
        self.mode = ablation.mode
        self.metric = ablation.metric
        self.heads = ids.count
        self.spearman = Metrics.spearman(scores, drops)
        self.top = top
        self.topByImportance = byImportance.map(\.description)
        self.topByAblation = byAblation.map(\.description)
        self.agreed = byImportance.filter { shared.contains($0) }.map(\.description)
    }
}
