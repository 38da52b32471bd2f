import BertologyEngine
import Foundation

/// `importance.json`: the importance of every head and layer, Michel et al.'s per-layer normalisation, the ranking,
/// and (when an ablation run was given) the comparison with it. Written and read back as this type.
public struct ImportanceFile: Sendable, Equatable, Codable {
    public static let currentFormatVersion = 1
    public var formatVersion = ImportanceFile.currentFormatVersion
    public var definitions: [String: String] = ImportanceFile.definitions
    public var indexing = "head_importance and head_importance_normalized are [layer][head], layer_importance [layer], 0-based: the paper's L4-H1 is [3][0]. Names (L4-H1) are 1-based."
    public let importance: HeadImportanceResult
    /// Each layer's I_h divided by their L2 norm over the layer (Michel et al.'s normalisation), [layer][head].
    public let headImportanceNormalized: [[Double]]
    /// Every head that is not removed, most important first by the normalised score (1-based names).
    public let ranking: [String]
    public let againstAblation: ImportanceAgainstAblation?

    public init(_ importance: HeadImportanceResult, againstAblation: ImportanceAgainstAblation? = nil) {
        var timeless = importance
        timeless.seconds = 0
        self.importance = timeless
        headImportanceNormalized = importance.normalizedHeadImportance.rows
        ranking = importance.ranking.map(\.description)
        self.againstAblation = againstAblation
    }

    public static let definitions: [String: String] = [
        "head_importance": "I_h = (1/N) sum over the N examples of |d L(x) / d xi_h|: xi_h is a gate multiplying head h's context before the output projection (xi = 1), L(x) the example's loss with its gold label (cross-entropy; squared error for a regression head), in eval mode (Michel et al. 2019). The absolute value is taken per example, so the result does not depend on the batch size (Michel et al.'s script took it per batch and divided by the number of tokens).",
        "head_importance_normalized": "each layer's I_h divided by the L2 norm of that layer's I_h (Michel et al.'s normalisation by layer); the ranking and pruning use it",
        "layer_importance": "I_l = (1/N) sum over the examples of |d L(x) / d xi_l|, xi_l one gate on all of layer l's heads at once (what switching the whole layer off removes): per example the sum of its heads' gradients, then the absolute value",
        "loss": "the mean loss over the examples with every head kept (or, with removed heads, without them)",
        "removed": "heads removed (gate 0) before the gradients were taken; their importance is 0",
        "against_ablation": "Spearman's rho between I_h and the drop of the task score (baseline minus score) when head h alone is switched off in an ablation sweep, over the heads the sweep switched off; the top heads by each and the heads in both",
    ]

    enum CodingKeys: String, CodingKey {
        case formatVersion = "format_version", definitions, indexing, importance
        case headImportanceNormalized = "head_importance_normalized", ranking, againstAblation = "against_ablation"
    }
}

/// Writes an importance run's files into an output folder (docs/IMPORTANCE.md):
/// `importance.json`, `heads.csv/.npy/.svg` (I_h), `heads-normalized.csv/.npy/.svg`, `layers.csv/.npy/.svg`,
/// `index.html`. Every file depends only on the results (never on times or paths).
public enum ImportanceReport {
    /// Writes every file; returns the names written, `index.html` last.
    @discardableResult
    public static func write(_ file: ImportanceFile, to folder: OutputFolder) throws -> [String] {
        let result = file.importance
        let grid = result.importanceGrid, normalized = result.normalizedHeadImportance
        let subtitle = "\(result.model), \(result.task) \(result.split) (\(result.examples) examples)"
        try folder.write(JSONOutput.encode(file, pretty: true), to: "importance.json")
        try folder.write(CSVGrid.text(grid), to: "heads.csv")
        try folder.write(NPY.encode(grid.values, shape: [result.layers, result.heads]), to: "heads.npy")
        try folder.write(CSVGrid.text(normalized), to: "heads-normalized.csv")
        try folder.write(NPY.encode(normalized.values, shape: [result.layers, result.heads]), to: "heads-normalized.npy")
        try folder.write(CSVGrid.table(header: ["layer", "importance"],
                                       rows: result.layerImportance.enumerated().map { ["L\($0.offset + 1)", CSVGrid.number($0.element)] }),
                         to: "layers.csv")
        try folder.write(NPY.encode(result.layerImportance, shape: [result.layers]), to: "layers.npy")

        var map = Heatmap(title: "\(result.task): head importance |dL/d gate| (Michel et al.)", subtitle: subtitle, grid: grid)
        map.digits = 3
        map.valueLabel = "mean |dL/dxi| per example"
        map.cellWidth = 46
        let mapSVG = map.svg()
        try folder.write(mapSVG, to: "heads.svg")
        var normalizedMap = Heatmap(title: "\(result.task): head importance, normalised per layer", subtitle: subtitle, grid: normalized)
        normalizedMap.digits = 3
        normalizedMap.valueLabel = "I_h / ||I_layer||"
        normalizedMap.cellWidth = 46
        let normalizedSVG = normalizedMap.svg()
        try folder.write(normalizedSVG, to: "heads-normalized.svg")
        var layerMap = Heatmap(title: "\(result.task): layer importance", subtitle: subtitle, rowLabels: [result.task.rawValue],
                               columnLabels: (1...result.layers).map { "L\($0)" }, values: [result.layerImportance.map { Optional($0) }])
        layerMap.digits = 3
        layerMap.valueLabel = "mean |dL/dxi_layer| per example"
        layerMap.cellWidth = 50
        let layerSVG = layerMap.svg()
        try folder.write(layerSVG, to: "layers.svg")

        var heads = HTMLReport.Section(title: "Head importance", id: "heads")
        heads.paragraphs = [
            "Each head's importance is the mean over the \(result.examples) examples of |dL(x)/dξ|, the gradient of the example's loss with respect to a gate ξ on the head's output (Michel et al. 2019), from one forward and one backward pass per batch. Mean loss: \(AblationReport.format(result.loss)).",
        ] + (result.removed.isEmpty ? [] : ["Heads removed before the gradients were taken (importance 0): \(result.removed.joined(separator: ", "))."])
        heads.tables = [HTMLReport.Table(caption: "Most and least important heads (normalised per layer)", header: ["rank", "head", "importance", "normalised"],
                                         rows: rankedRows(file, result))]
        heads.figures = [
            HTMLReport.Figure(svg: mapSVG, caption: "Importance of each head. Hover a cell for its value.", files: ["heads.csv", "heads.npy", "heads.svg"]),
            HTMLReport.Figure(svg: normalizedSVG, caption: "Each layer's scores divided by their L2 norm (the scores the ranking and pruning use).",
                              files: ["heads-normalized.csv", "heads-normalized.npy", "heads-normalized.svg"]),
        ]
        var layers = HTMLReport.Section(title: "Layer importance", id: "layers")
        layers.paragraphs = ["One gate on all of a layer's heads at once: per example the sum of the heads' gradients, then its absolute value."]
        layers.figures = [HTMLReport.Figure(svg: layerSVG, caption: "Importance of each layer.", files: ["layers.csv", "layers.npy", "layers.svg"])]
        var sections = [heads, layers]
        if let against = file.againstAblation {
            var section = HTMLReport.Section(title: "Against the ablation sweep", id: "ablation")
            section.paragraphs = [
                "Spearman's ρ between the importance of each head and the drop in \(against.metric) when that head alone is switched off (\(against.ablation), \(against.mode) mode), over \(against.heads) heads: \(AblationReport.format(against.spearman)).",
                "The \(against.top) most important heads by gradient and by ablation share \(against.agreed.count): \(against.agreed.isEmpty ? "none" : against.agreed.joined(separator: ", ")).",
            ]
            section.tables = [HTMLReport.Table(caption: "Top heads by each", header: ["rank", "by importance", "by ablation drop"],
                                               rows: (0..<against.top).map { ["\($0 + 1)", against.topByImportance[$0], against.topByAblation[$0]] })]
            sections.append(section)
        }
        var notes = HTMLReport.Section(title: "Definitions and files", id: "definitions")
        notes.paragraphs = file.definitions.map { "\($0.key): \($0.value)" }.sorted() + [file.indexing]
        notes.files = ["importance.json"]
        sections.append(notes)
        let report = HTMLReport(title: "Head importance: \(result.model) on \(result.task) \(result.split)",
                                subtitle: "Bertology: gradient head importance (Michel et al. 2019, \"Are Sixteen Heads Really Better than One?\"). All files are in this folder.",
                                parameters: [("model", result.model), ("task", "\(result.task) \(result.split)"),
                                             ("examples", "\(result.examples)"), ("layers x heads", "\(result.layers) x \(result.heads)")],
                                sections: sections)
        try folder.write(report.html(), to: "index.html")
        return folder.written
    }

    static func rankedRows(_ file: ImportanceFile, _ result: HeadImportanceResult) -> [[String]] {
        let ranking = result.ranking
        let normalized = result.normalizedHeadImportance
        let shown = ranking.count <= 10 ? Array(ranking.enumerated())
            : Array(ranking.enumerated().prefix(5)) + Array(ranking.enumerated().suffix(5))
        return shown.map { rank, head in
            ["\(rank + 1)", head.description, AblationReport.format(result.headImportance[head.layer][head.head]),
             AblationReport.format(normalized[head])]
        }
    }

    /// A short text summary for the terminal.
    public static func summary(_ file: ImportanceFile) -> String {
        let result = file.importance
        let ranking = result.ranking
        var lines = ["head importance on \(result.task) \(result.split), \(result.examples) examples (mean loss \(AblationReport.format(result.loss)))",
                     "most important:  " + ranking.prefix(5).map(\.description).joined(separator: " "),
                     "least important: " + ranking.suffix(5).reversed().map(\.description).joined(separator: " ")]
        if let against = file.againstAblation {
            lines.append("against the ablation sweep (\(against.heads) heads, \(against.metric) drop): Spearman \(AblationReport.format(against.spearman)); top \(against.top) shared: \(against.agreed.count)")
        }
        return lines.joined(separator: "\n")
    }
}
