import BertologyEngine
import Foundation

/// Writes the results of an `AttentionAnalysis` into an output folder:
/// - `<analysis>.json`: the parameters, every grid (`[layer][head]`, 0-based) with its definition,
///   and the analysis' extra results; `analysis.json`: everything (byte-identical run to run);
///   `timing.json`: where the time went;
/// - per grid `<analysis>-<grid>.csv` (layers x heads, labelled L1.., H1..), `.npy` (float32
///   (layers, heads)) and `.svg` (heatmap);
/// - for the pattern types: `patterns-distribution.csv/.svg` (stacked bars), `patterns-dominant.csv/.svg`
///   and `patterns-samples.svg` (thumbnail sheet);
/// - `index.html`: one self-contained page with all of it.
public enum AnalysisReport {
    /// Colours of the five pattern types in every figure.
    static let patternCategories: [Heatmap.Category] = AttentionPattern.allCases.map { pattern in
        let colour: UInt32 = switch pattern {
        case .vertical: 0x4C78A8
        case .diagonal: 0xF58518
        case .verticalDiagonal: 0x54A24B
        case .block: 0xE45756
        case .heterogeneous: 0xB0B0B0
        }
        return Heatmap.Category(name: pattern.title, abbreviation: pattern.abbreviation, colour: RGB(hex: colour))
    }

    /// Writes every file; returns the names written, `index.html` last.
    /// - Parameter timeInPage: show the wall time in index.html's parameters (false: the page depends
    ///   only on the results, as `bertology reproduce` needs; timing.json has the times either way).
    @discardableResult
    public static func write(_ results: AnalysisResults, to folder: OutputFolder, commandLine: String? = nil,
                             timeInPage: Bool = true) throws -> [String] {
        var sections: [HTMLReport.Section] = []
        let parameters = results.parameters
        if let special = results.specialTokens {
            var section = try writeGrids("special-tokens", title: "Attention to special tokens and punctuation (§4.4-4.5, Fig 6-7)",
                                         grids: special.grids, parameters: parameters, folder: folder,
                                         extra: SpecialTokensExtra(special))
            section.paragraphs = [
                "s_j = (1/L) sum_i A[i,j] is the attention token j receives, averaged over the L real query rows (maps cropped to the real tokens). The paper scores a token class by the max of s_j over its tokens, Clark et al. by the sum; for [CLS] (one token) they agree.",
                "Punctuation: tokens made only of Unicode punctuation characters. \(special.examplesWithPunctuation) of \(special.examples) examples have some; the paper-style punctuation score averages over those (examples without it are skipped), the 'absent as zero' variant over all.",
                "The [CLS] row grids show, per layer, the weight the [CLS] query gives to each class (max over its tokens); the paper's Fig 7 is the last layer, tabled below.",
            ]
            let (cls, sep, punctuation) = special.lastLayerCLSRow
            section.tables = [HTMLReport.Table(
                caption: "Fig 7: last layer (L\(parameters.layers)), [CLS] row, mean weight per head",
                header: ["target"] + (1...parameters.heads).map { "H\($0)" },
                rows: [("[CLS]", cls), ("[SEP]", sep), ("punctuation", punctuation)].map { name, values in
                    [name] + values.map { XMLText.format($0, digits: 3) }
                })]
            sections.append(section)
        }
        if let entropy = results.entropy {
            var section = try writeGrids("entropy", title: "Entropy of attention rows", grids: entropy.grids,
                                         parameters: parameters, folder: folder, extra: EntropyExtra(entropy), valueLabel: "nats")
            section.paragraphs = [
                "Mean over the L real query rows of H_i = -sum_j A[i,j] ln A[i,j] (nats), then over examples. Low: the head looks at one or two tokens; high: it spreads its attention. Attending uniformly to every real token would score ln L, \(XMLText.format(entropy.uniformEntropy, digits: 3)) nats on average over these examples.",
            ]
            sections.append(section)
        }
        if let patterns = results.patterns {
            sections.append(try writePatterns(patterns, parameters: parameters, folder: folder))
        }
        if !results.cosine.isEmpty {
            var grids: [GridResult] = []
            for result in results.cosine { grids += result.grids }
            var section = try writeGrids("cosine", title: "Model-vs-model change: cosine similarity of attention maps (§4.3, Fig 5)",
                                         grids: grids, parameters: parameters, folder: folder,
                                         extra: CosineExtra(results.cosine), valueLabel: "cosine")
            section.paragraphs = [
                "Per head, cos(vec A, vec B) between the maps of \(parameters.modelName) (A) and \(parameters.compareName ?? "?") (B) on the same input, averaged over examples. 1: the head attends identically in both models.",
            ] + results.cosine.map { result in
                result.variant == .cropped
                    ? "cropped: the L x L maps of the real tokens (the clean definition)."
                    : "padded: every input padded to \(result.paddedLength ?? 0) tokens and the whole maps compared, padding query rows included (the paper's released code); \(result.truncated) examples longer than that were truncated to it."
            }
            sections.append(section)
        }
        if let relations = results.relations {
            var section = try writeGrids("relations", title: "Relation probe (§4.2, Fig 3)", grids: relations.grids,
                                         parameters: parameters, folder: folder, extra: RelationsExtra(relations))
            let ranked = relations.score.values.indices.sorted { relations.score.values[$0] > relations.score.values[$1] }
            section.paragraphs = [
                "\(relations.sentences) sentences with \(relations.pairs) word pairs from \(relations.file). Per sentence and head, the largest attention from a pair's first word (query) to its second (key), over their word pieces and the sentence's pairs; averaged over sentences.",
            ]
            section.tables = [HTMLReport.Table(caption: "Highest-scoring heads", header: ["head", "score"],
                                               rows: ranked.prefix(8).map { index in
                                                   [HeadID(layer: index / parameters.heads, head: index % parameters.heads).description,
                                                    XMLText.format(relations.score.values[index], digits: 4)]
                                               })]
            sections.append(section)
        }
        try folder.write(JSONOutput.encode(results, pretty: true), to: "analysis.json")
        try folder.write(JSONOutput.encode(results.timing, pretty: true), to: "timing.json")

        let report = HTMLReport(title: "Attention analysis: \(parameters.modelName)" + (parameters.task.map { " on \($0) \(parameters.split ?? "")" } ?? ""),
                                subtitle: "Bertology: the analyses of Kovaleva et al. (2019), \"Revealing the Dark Secrets of BERT\", §4.1-4.5. Heads are named L<layer>-H<head>, 1-based; all files are in this folder.",
                                parameters: parameterRows(results, commandLine: commandLine, timeInPage: timeInPage), sections: sections)
        try folder.write(report.html(), to: "index.html")
        return folder.written
    }

    // MARK: - Sections

    private static func writeGrids<Extra: Encodable>(_ analysis: String, title: String, grids: [GridResult],
                                                     parameters: AnalysisParameters, folder: OutputFolder, extra: Extra,
                                                     valueLabel: String? = nil) throws -> HTMLReport.Section {
        var figures: [HTMLReport.Figure] = []
        for grid in grids {
            let stem = grid.name == analysis ? analysis : "\(analysis)-\(grid.name)"
            try folder.write(CSVGrid.text(grid.grid), to: "\(stem).csv")
            try folder.write(NPY.encode(grid.grid.float32, shape: [grid.grid.layerCount, grid.grid.headCount]), to: "\(stem).npy")
            var heatmap = Heatmap(title: grid.title, subtitle: "\(parameters.modelName), \(grid.examples) \(analysis == "relations" ? "sentences" : "examples")", grid: grid.grid)
            heatmap.range = grid.range
            heatmap.valueLabel = valueLabel
            heatmap.digits = 2
            let svg = heatmap.svg()
            try folder.write(svg, to: "\(stem).svg")
            figures.append(HTMLReport.Figure(svg: svg, caption: grid.definition, files: ["\(stem).csv", "\(stem).npy", "\(stem).svg"]))
        }
        let file = AnalysisFile(analysis: analysis, parameters: parameters, grids: grids, extra: extra)
        try folder.write(JSONOutput.encode(file, pretty: true), to: "\(analysis).json")
        return HTMLReport.Section(title: title, id: analysis, figures: figures, files: ["\(analysis).json"])
    }

    private static func writePatterns(_ patterns: PatternTypeResult, parameters: AnalysisParameters,
                                      folder: OutputFolder) throws -> HTMLReport.Section {
        let types = AttentionPattern.allCases
        var section = try writeGrids("patterns", title: "Attention pattern types (§4.1, Fig 2)", grids: patterns.grids,
                                     parameters: parameters, folder: folder, extra: PatternsExtra(patterns))
        // Distribution: all layers, then per layer.
        let scopes: [(String, [AttentionPattern: Double])] = [("all", patterns.distribution)]
            + (0..<patterns.layerCount).map { ("L\($0 + 1)", patterns.distribution(layers: $0..<($0 + 1))) }
        try folder.write(CSVGrid.table(header: ["scope"] + types.map(\.name),
                                       rows: scopes.map { scope, shares in [scope] + types.map { CSVGrid.number(shares[$0]!) } }),
                         to: "patterns-distribution.csv")
        let bars = StackedBars(title: "Pattern types: share of (example, head) maps",
                               subtitle: "\(parameters.modelName), \(parameters.task ?? "") \(parameters.split ?? ""), \(patterns.examples) examples x \(parameters.layers * parameters.heads) heads",
                               categories: patternCategories,
                               bars: scopes.map { scope, shares in StackedBars.Bar(label: scope, percentages: types.map { shares[$0]! }) })
        let barsSVG = bars.svg()
        try folder.write(barsSVG, to: "patterns-distribution.svg")
        // Dominant type per head.
        let dominant = patterns.dominant
        try folder.write(CSVGrid.text(labels: dominant.map { $0.map(\.name) }), to: "patterns-dominant.csv")
        var dominantMap = Heatmap(title: "Dominant pattern type per head", subtitle: "the type most of the head's maps get; hover for its share",
                                  rowLabels: (1...patterns.layerCount).map { "L\($0)" }, columnLabels: (1...patterns.headCount).map { "H\($0)" },
                                  values: dominant.map { $0.map { Double($0.rawValue) } })
        dominantMap.categories = patternCategories
        let share = patterns.dominantShare
        dominantMap.cellNotes = (0..<patterns.layerCount).map { layer in
            (0..<patterns.headCount).map { head in "\(XMLText.format(100 * share[layer, head], digits: 0))% of its maps" }
        }
        let dominantSVG = dominantMap.svg()
        try folder.write(dominantSVG, to: "patterns-dominant.svg")
        // Sample maps per type.
        let groups = types.map { pattern in
            MapSheet.Group(title: "\(pattern.title) (\(XMLText.format(patterns.distribution[pattern]!, digits: 1))% of maps)",
                           thumbnails: patterns.samples.filter { $0.pattern == pattern }.map(thumbnail),
                           emptyNote: pattern == .block && patterns.pairExamples == 0
                               ? "(single sentences cannot be block: the task has no pairs)" : nil)
        }
        let sheet = MapSheet(title: "Sample maps per pattern type",
                             subtitle: "colour = sqrt(probability); rows = queries; dashed lines: start of the second sentence; hover for the features",
                             groups: groups)
        let sheetSVG = sheet.svg()
        try folder.write(sheetSVG, to: "patterns-samples.svg")

        let thresholds = patterns.thresholds
        section.paragraphs = [
            "Each (example, head) map, cropped to its L real tokens, is classified from three features, each an excess over uniform attention ((mass - uniform mass) / (1 - uniform mass), clipped to [0, 1]): vertical (mass on [CLS], [SEP] and the two strongest other columns off the diagonal band), diagonal (mass on offsets -1, 0, +1), block (pairs: share of the remaining mass inside the query's own sentence).",
            "Rules: if vertical + diagonal >= \(thresholds.explained): vertical+diagonal when both >= \(thresholds.component), else the larger of the two; otherwise block when the input is a pair and block >= \(thresholds.block); otherwise heterogeneous. Thresholds were calibrated on all-MiniLM-L6-v2 maps (docs/ANALYSES.md); check them against the sample sheet below.",
            "The distribution is the percentage of all (example, head) maps of each type (the paper's Fig 2 bar for this task; the paper does not define 'proportion': this reading is an inference).",
        ]
        section.tables = [HTMLReport.Table(caption: "Share of maps per type (%)", header: ["scope"] + types.map(\.title),
                                           rows: scopes.map { scope, shares in [scope] + types.map { XMLText.format(shares[$0]!, digits: 1) } })]
        section.figures.insert(contentsOf: [
            HTMLReport.Figure(svg: barsSVG, caption: "Share of maps per type, over all heads and per layer.",
                              files: ["patterns-distribution.csv", "patterns-distribution.svg"]),
            HTMLReport.Figure(svg: dominantSVG, caption: "The most frequent type of each head's maps.",
                              files: ["patterns-dominant.csv", "patterns-dominant.svg"]),
        ], at: 0)
        section.figures.append(HTMLReport.Figure(svg: sheetSVG, caption: "Seeded sample of maps of each type, to check the classifier by eye.",
                                                 files: ["patterns-samples.svg"]))
        return section
    }

    static func thumbnail(_ sample: PatternSample) -> MapSheet.Thumbnail {
        let f = sample.features
        var notes = "example \(sample.row) (dataset index), \(sample.head), L = \(sample.length) tokens, type \(sample.pattern.name)\n"
        notes += "vertical \(XMLText.format(f.vertical, digits: 2)), diagonal \(XMLText.format(f.diagonal, digits: 2))"
        if let block = f.block { notes += ", block \(XMLText.format(block, digits: 2))" }
        notes += "\nraw: special \(XMLText.format(f.specialMass, digits: 2)), stripes \(XMLText.format(f.stripeMass, digits: 2)), band \(XMLText.format(f.diagonalMass, digits: 2))"
        if let own = f.ownSegmentShare { notes += ", own sentence \(XMLText.format(own, digits: 2))" }
        let boundary = sample.segmentStart < sample.length ? Double(sample.segmentStart) / Double(sample.length) : nil
        return MapSheet.Thumbnail(caption: "#\(sample.row) \(sample.head) L=\(sample.length)", notes: notes,
                                  side: sample.side, pixels: sample.pixels, segmentBoundary: boundary)
    }

    static func parameterRows(_ results: AnalysisResults, commandLine: String?, timeInPage: Bool = true) -> [(name: String, value: String)] {
        let p = results.parameters
        var rows: [(name: String, value: String)] = [("model", "\(p.modelName) (\(p.model)), \(p.layers) layers x \(p.heads) heads")]
        rows.append(("precision", p.precision.rawValue))
        if let compare = p.compare { rows.append(("compared with", "\(p.compareName ?? "") (\(compare))")) }
        if let task = p.task {
            rows.append(("task", "\(task) \(p.split ?? "")" + (p.pairs == true ? " (sentence pairs)" : " (single sentences)")))
            rows.append(("data file", p.dataFile ?? ""))
            var examples = "\(p.examples)"
            if let sampling = p.sampling { examples += " (seeded sample: --limit \(sampling.limit) --seed \(sampling.seed) of \(sampling.population))" }
            rows.append(("examples", examples))
        }
        rows.append(("max length", "\(p.maxLength) tokens (\(p.truncated) examples truncated, longest-first)"))
        rows.append(("analyses", p.analyses.joined(separator: ", ")))
        if !p.cosineVariants.isEmpty {
            rows.append(("cosine variants", p.cosineVariants.joined(separator: ", ") + (p.paddedLength.map { " (padded to \($0))" } ?? "")))
        }
        if let t = p.patternThresholds {
            rows.append(("pattern thresholds", "explained \(t.explained), component \(t.component), block \(t.block)"))
        }
        if let file = p.relationsFile { rows.append(("relations file", file)) }
        rows.append(("batching", "token budget \(p.tokenBudget), at most \(p.maxBatchSize) sequences per batch"))
        let t = results.timing
        if timeInPage { rows.append(("time", String(format: "%.1f s (forward %.1f s, analyzers %.2f s, comparison %.1f s)",
                                    t.totalSeconds, t.forwardSeconds, t.analyzerSeconds, t.comparisonSeconds))) }
        if let commandLine { rows.append(("command", commandLine)) }
        return rows
    }
}

// MARK: - JSON files

/// `<analysis>.json`: the analysis name, the indexing convention, the parameters, the grids, and
/// the analysis' own extra fields at the top level.
/// `<analysis>.json` as an analysis writes it: the analysis's name, its parameters, its grids by name, and
/// the analysis's own fields (`Extra`) beside them. Read back as ``AnalysisFileContents``.
struct AnalysisFile<Extra: Encodable>: Encodable {
    let analysis: String
    let parameters: AnalysisParameters
    let grids: [GridResult]
    let extra: Extra

    /// One grid in the file (`grids.<name>`).
    struct GridJSON: Codable {
        let title: String
        let definition: String
        let examples: Int
        let values: HeadGrid
    }

    enum CodingKeys: String, CodingKey { case analysis, indexing, parameters, grids }

    func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(analysis, forKey: .analysis)
        try container.encode("grids are [layer][head], 0-based; the paper's L1-H1 is [0][0]", forKey: .indexing)
        try container.encode(parameters, forKey: .parameters)
        try container.encode(Dictionary(uniqueKeysWithValues: grids.map {
            ($0.name, GridJSON(title: $0.title, definition: $0.definition, examples: $0.examples, values: $0.grid))
        }), forKey: .grids)
        try extra.encode(to: encoder)
    }
}

/// An ``AnalysisFile`` read back (the reproduction reads its stages' analyses): the grids by name and
/// the analysis's own fields, decoded by the `Extra` type that wrote them (``AnalysisNoExtra`` to skip them).
struct AnalysisFileContents<Extra: Decodable>: Decodable {
    let analysis: String
    let grids: [String: AnalysisFile<AnalysisNoExtra>.GridJSON]
    let extra: Extra

    enum CodingKeys: String, CodingKey { case analysis, grids }

    init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        analysis = try container.decode(String.self, forKey: .analysis)
        grids = try container.decode([String: AnalysisFile<AnalysisNoExtra>.GridJSON].self, forKey: .grids)
        extra = try Extra(from: decoder)
    }

    /// The grid `name`, `[layer][head]`.
    /// - Throws: `BertologyError` `.badInput` naming `file` when the file has no such grid.
    func grid(_ name: String, in file: URL) throws -> HeadGrid {
        guard let grid = grids[name] else { throw BertologyError.badInput(file.path, "no grid \"\(name)\"") }
        return grid.values
    }
}

/// No fields of an analysis's own: for reading only the grids of an ``AnalysisFileContents``.
struct AnalysisNoExtra: Codable {}

struct SpecialTokensExtra: Codable {
    let examples: Int
    let examples_with_punctuation: Int
    var punctuation_definition = "tokens made only of Unicode punctuation characters (categories Pc, Pd, Ps, Pe, Pi, Pf, Po)"
    let last_layer_cls_row: [String: [Double]]

    init(_ result: SpecialTokenResult) {
        examples = result.examples
        examples_with_punctuation = result.examplesWithPunctuation
        let (cls, sep, punctuation) = result.lastLayerCLSRow
        last_layer_cls_row = ["cls": cls, "sep": sep, "punctuation": punctuation]
    }
}

private struct EntropyExtra: Encodable {
    let examples: Int
    let unit = "nats"
    let uniform_entropy: Double

    init(_ result: EntropyResult) {
        examples = result.examples
        uniform_entropy = result.uniformEntropy
    }
}

struct PatternsExtra: Codable {
    struct Sample: Codable {
        let row: Int
        let head: String
        let type: String
        let length: Int
        let features: PatternFeatures
    }

    let examples: Int
    let pair_examples: Int
    let maps: Int
    let types: [String]
    let thresholds: PatternThresholds
    let distribution: [String: Double]
    let distribution_per_layer: [[String: Double]]
    let dominant: [[String]]
    /// [layer][head][type].
    let counts: [[[Int]]]
    let samples: [Sample]

    init(_ result: PatternTypeResult) {
        examples = result.examples
        pair_examples = result.pairExamples
        maps = result.mapCount
        types = AttentionPattern.allCases.map(\.name)
        thresholds = result.thresholds
        func named(_ shares: [AttentionPattern: Double]) -> [String: Double] {
            Dictionary(uniqueKeysWithValues: shares.map { ($0.key.name, $0.value) })
        }
        distribution = named(result.distribution)
        distribution_per_layer = (0..<result.layerCount).map { named(result.distribution(layers: $0..<($0 + 1))) }
        dominant = result.dominant.map { $0.map(\.name) }
        counts = (0..<result.layerCount).map { layer in
            (0..<result.headCount).map { result.countsPerHead[layer * result.headCount + $0] }
        }
        samples = result.samples.map {
            Sample(row: $0.row, head: $0.head.description, type: $0.pattern.name, length: $0.length, features: $0.features)
        }
    }
}

private struct CosineExtra: Encodable {
    struct Variant: Encodable {
        let variant: String
        let examples: Int
        let padded_length: Int?
        let truncated: Int
    }

    let variants: [Variant]

    init(_ results: [CosineResult]) {
        variants = results.map { Variant(variant: $0.variant.rawValue, examples: $0.examples, padded_length: $0.paddedLength, truncated: $0.truncated) }
    }
}

private struct RelationsExtra: Encodable {
    let file: String
    let sentences: Int
    let pairs: Int

    init(_ result: RelationProbeResult) {
        file = result.file
        sentences = result.sentences
        pairs = result.pairs
    }
}
