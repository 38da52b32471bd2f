import BertologyEngine
import Foundation

/// Writes the results of a complete ablation sweep into an output folder (docs/ABLATION.md):
/// - `ablation.json`: fingerprint, definitions, baseline, every ablation's metrics and change, the
///   grids of every metric (`[layer][head]`, 0-based), the best and worst heads;
/// - `ablations.csv`: one row per ablation (baseline, heads, layers; 1-based names), every metric
///   and its change;
/// - `heads-<metric>.csv/.svg` and `heads-<metric>-delta.csv/.svg` for the plotted metric (Fig 8:
///   layers x heads, baseline marked on the colour bar), `layers-<metric>.csv/.svg` and
///   `layers-<metric>-delta.svg` (Fig 9: one row of layers);
/// - `heads-<m>.npy`, `heads-<m>-delta.npy` (float64 (layers, heads)), `layers-<m>.npy`,
///   `layers-<m>-delta.npy` (float64 (layers,)) for every metric m, NaN where nothing was ablated;
///   `predictions.npy` (float64 (ablations, examples), rows in the order of ablations.csv);
/// - `index.html`: one self-contained page with all of it.
///
/// Every one of these files depends only on the results (fingerprint and outcomes), never on
/// paths, times or the command line, so a sweep merged from parts writes them byte for byte as a
/// single run does. Those go to `run.json` (`writeRunInfo`).
public enum AblationReport {
    /// How many best and worst heads the tables list.
    public static let rankedCount = 5

    /// Writes every file; returns the names written, `index.html` last.
    @discardableResult
    public static func write(_ results: AblationResults, to folder: OutputFolder) throws -> [String] {
        guard results.isComplete else {
            throw BertologyError.usage("the sweep is incomplete (\(results.missing.count) ablations missing, first \(results.missing[0])): finish it (`resume`) or merge every part first")
        }
        let metric = results.primaryMetric
        let plan = results.plan
        let f = results.fingerprint
        let model = f.model.name
        let baseline = results.baseline!.metrics[metric] ?? .nan
        let modeText = plan.mode == .uniform ? "uniform attention (1/L on every real token)" : "zeroed attention (head_mask = 0)"

        try folder.write(JSONOutput.encode(AblationFile(results), pretty: true), to: "ablation.json")
        try folder.write(ablationsCSV(results), to: "ablations.csv")
        for name in results.metricNames {
            for delta in [false, true] {
                let suffix = delta ? "-delta" : ""
                try folder.write(NPY.encode(results.headGrid(name, delta: delta).values, shape: [plan.layerCount, plan.headCount]),
                                 to: "heads-\(name)\(suffix).npy")
                try folder.write(NPY.encode(results.layerScores(name, delta: delta), shape: [plan.layerCount]),
                                 to: "layers-\(name)\(suffix).npy")
            }
        }
        let ordered = results.ordered
        try folder.write(NPY.encode(ordered.flatMap(\.predictions), shape: [ordered.count, f.data.examples]), to: "predictions.npy")

        var sections: [HTMLReport.Section] = []
        let subtitle = "\(model), \(f.data.task) \(f.data.split) (\(f.data.examples) examples), \(plan.mode.rawValue)"
        var baselineSection = HTMLReport.Section(title: "Baseline", id: "baseline")
        baselineSection.paragraphs = [
            "The model with every head kept, scored on \(f.data.task) \(f.data.split) with the \(f.evaluation.scorer) scorer. Each ablation below switches off one head (Fig 8) or one whole layer (Fig 9) by giving it \(modeText), with nothing else changed and no retraining, and is scored the same way. Plotted: \(metric) (the task's headline metric); every metric is in ablation.json, ablations.csv and the .npy files.",
        ]
        baselineSection.tables = [HTMLReport.Table(caption: "Baseline scores", header: ["metric", "value"],
                                                   rows: results.metricNames.map { [$0, format(results.baseline!.metrics[$0])] })]
        sections.append(baselineSection)

        if !plan.heads.isEmpty {
            let scores = results.headGrid(metric), deltas = results.headGrid(metric, delta: true)
            try folder.write(CSVGrid.text(scores), to: "heads-\(metric).csv")
            try folder.write(CSVGrid.text(deltas), to: "heads-\(metric)-delta.csv")
            var map = Heatmap(title: "\(f.data.task): \(metric) with one head switched off (Fig 8)",
                              subtitle: subtitle, grid: scores)
            map.range = range(scores.values + [baseline])
            map.marker = Heatmap.Marker(value: baseline, label: "baseline")
            map.digits = 4
            map.valueLabel = metric
            map.cellWidth = 46
            let mapSVG = map.svg()
            try folder.write(mapSVG, to: "heads-\(metric).svg")
            var deltaMap = Heatmap(title: "\(f.data.task): change in \(metric) with one head switched off",
                                   subtitle: subtitle + "; blue: the score rises without the head", grid: deltas)
            deltaMap.palette = .redBlue
            deltaMap.range = symmetricRange(deltas.values)
            deltaMap.digits = 4
            deltaMap.valueLabel = "\(metric) minus the baseline's"
            deltaMap.cellWidth = 50
            let deltaSVG = deltaMap.svg()
            try folder.write(deltaSVG, to: "heads-\(metric)-delta.svg")

            let ranked = results.rankedHeads(metric)
            let finite = ranked.map(\.score).filter(\.isFinite)
            let better = finite.filter { $0 > baseline }.count, worse = finite.filter { $0 < baseline }.count
            let mean = finite.isEmpty ? Double.nan : finite.reduce(0, +) / Double(finite.count)
            var section = HTMLReport.Section(title: "Heads switched off one at a time (Fig 8)", id: "heads")
            section.paragraphs = [
                "\(plan.heads.count) heads, each switched off alone. Without \(better) of them the \(metric) rises, without \(worse) it falls (\(finite.count - better - worse) unchanged); the mean over these ablations is \(format(mean)) against the baseline's \(format(baseline)).",
            ]
            section.tables = [
                rankedTable("Best heads to switch off: the highest \(metric) without them", Array(ranked.prefix(rankedCount)), results, metric),
                rankedTable("Worst heads to switch off: the lowest \(metric) without them (the model relies on them most)",
                            Array(ranked.reversed().prefix(rankedCount)), results, metric),
            ]
            section.figures = [
                HTMLReport.Figure(svg: mapSVG, caption: "Score with the head switched off; the orange line on the colour bar marks the baseline (as the paper's Fig 8). Hover a cell for its value.",
                                  files: ["heads-\(metric).csv", "heads-\(metric).npy", "heads-\(metric).svg"]),
                HTMLReport.Figure(svg: deltaSVG, caption: "Change from the baseline (score minus baseline): red, the model is worse without the head; blue, better.",
                                  files: ["heads-\(metric)-delta.csv", "heads-\(metric)-delta.npy", "heads-\(metric)-delta.svg"]),
            ]
            sections.append(section)
        }

        if !plan.layers.isEmpty {
            let scores = results.layerScores(metric), deltas = results.layerScores(metric, delta: true)
            try folder.write(CSVGrid.table(header: ["layer", metric, "delta"],
                                           rows: (0..<plan.layerCount).map { ["L\($0 + 1)", CSVGrid.number(scores[$0]), CSVGrid.number(deltas[$0])] }),
                             to: "layers-\(metric).csv")
            let columns = (1...plan.layerCount).map { "L\($0)" }
            var map = Heatmap(title: "\(f.data.task): \(metric) with one layer switched off (Fig 9)", subtitle: subtitle,
                              rowLabels: [f.data.task], columnLabels: columns, values: [scores.map { Optional($0) }])
            map.range = range(scores + [baseline])
            map.marker = Heatmap.Marker(value: baseline, label: "baseline")
            map.digits = 4
            map.valueLabel = metric
            map.cellWidth = 50
            let mapSVG = map.svg()
            try folder.write(mapSVG, to: "layers-\(metric).svg")
            var deltaMap = Heatmap(title: "\(f.data.task): change in \(metric) with one layer switched off", subtitle: subtitle,
                                   rowLabels: [f.data.task], columnLabels: columns, values: [deltas.map { Optional($0) }])
            deltaMap.palette = .redBlue
            deltaMap.range = symmetricRange(deltas)
            deltaMap.digits = 4
            deltaMap.valueLabel = "\(metric) minus the baseline's"
            deltaMap.cellWidth = 54
            let deltaSVG = deltaMap.svg()
            try folder.write(deltaSVG, to: "layers-\(metric)-delta.svg")
            var section = HTMLReport.Section(title: "Layers switched off one at a time (Fig 9)", id: "layers")
            section.paragraphs = ["Every head of the layer switched off at once, one layer at a time; each head gets \(modeText)."]
            section.tables = [HTMLReport.Table(
                caption: "Scores without each layer",
                header: ["layer"] + results.metricNames.flatMap { [$0, "change"] },
                rows: plan.layers.map { layer in
                    ["L\(layer + 1)"] + results.metricNames.flatMap { [format(results.score(.layer(layer), $0)), signed(results.delta(.layer(layer), $0))] }
                })]
            section.figures = [
                HTMLReport.Figure(svg: mapSVG, caption: "Score with the layer switched off; the orange line marks the baseline (as the paper's Fig 9).",
                                  files: ["layers-\(metric).csv", "layers-\(metric).npy", "layers-\(metric).svg"]),
                HTMLReport.Figure(svg: deltaSVG, caption: "Change from the baseline.", files: ["layers-\(metric)-delta.npy", "layers-\(metric)-delta.svg"]),
            ]
            sections.append(section)
        }

        var all = HTMLReport.Section(title: "Every ablation", id: "all")
        all.paragraphs = ["In plan order: the baseline, the heads layer by layer, then the layers. The same rows as ablations.csv; predictions.npy holds each one's per-example predictions in this order."]
        all.tables = [HTMLReport.Table(caption: "Scores and changes from the baseline",
                                       header: ["ablation"] + results.metricNames.flatMap { [$0, "change"] },
                                       rows: ordered.map { outcome in
                                           [outcome.ablation.description] + results.metricNames.flatMap {
                                               [format(outcome.metrics[$0]), signed(results.delta(outcome.ablation, $0))]
                                           }
                                       })]
        all.files = ["ablations.csv", "ablation.json", "predictions.npy"]
        sections.append(all)

        var notes = HTMLReport.Section(title: "Definitions and files", id: "definitions")
        notes.paragraphs = AblationFile.definitions(results).map { "\($0.key): \($0.value)" }.sorted() + [
            "Heads and layers are named 1-based as in the paper (L4-H1 is layer 4, head 1; L3 is all of layer 3). Arrays in ablation.json and the .npy files are 0-based: [layer][head], L4-H1 is [3][0].",
            "ablation-journal.jsonl (in the folder of the run) holds every finished ablation with its per-example predictions; run.json the command, paths and times. All other files depend only on the results: a sweep merged from parts (bertology merge) writes them byte for byte as one run does.",
        ]
        sections.append(notes)

        let report = HTMLReport(title: "Head and layer ablation: \(model) on \(f.data.task) \(f.data.split)",
                                subtitle: "Bertology: the head and layer disabling experiments of Kovaleva et al. (2019), \"Revealing the Dark Secrets of BERT\", §4.6 (Fig 8 and 9). All files are in this folder.",
                                parameters: parameterRows(results), sections: sections)
        try folder.write(report.html(), to: "index.html")
        return folder.written
    }

    /// `ablation.json`'s content on one line (JSON Lines, or one line on stdout).
    public static func jsonLine(_ results: AblationResults) throws -> String {
        try JSONOutput.line(AblationFile(results))
    }

    /// `run.json`: what the report files leave out because it differs between equivalent runs (the
    /// command line, the journals and their parts, paths, wall times).
    public static func writeRunInfo(_ results: AblationResults, to folder: OutputFolder, commandLine: String?,
                                    modelPath: String?, dataPath: String?) throws {
        let info = RunInfo(command: commandLine, journals: results.journals.map(\.path), shards: results.shards.map(\.description),
                           model_path: modelPath, data_path: dataPath,
                           ablation_seconds: results.ordered.reduce(0) { $0 + $1.seconds },
                           seconds: Dictionary(uniqueKeysWithValues: results.ordered.map { ($0.ablation.description, $0.seconds) }))
        try folder.write(JSONOutput.encode(info, pretty: true), to: "run.json")
    }

    struct RunInfo: Encodable {
        let command: String?
        let journals: [String]
        let shards: [String]
        let model_path: String?
        let data_path: String?
        /// Sum of the ablations' wall times (their groups' times, shared out).
        let ablation_seconds: Double
        let seconds: [String: Double]
    }

    // MARK: - Pieces

    static func parameterRows(_ results: AblationResults) -> [(name: String, value: String)] {
        let f = results.fingerprint, plan = results.plan
        var rows: [(name: String, value: String)] = [
            ("model", "\(f.model.name), \(f.model.layers) layers x \(f.model.heads) heads"),
            ("model files (SHA-256)", f.model.files.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: "; ")),
            ("task", "\(f.data.task) \(f.data.split)"),
            ("data file", "\(f.data.file), SHA-256 \(f.data.sha256)"),
        ]
        var examples = "\(f.data.examples)"
        if let limit = f.data.limit { examples += " (seeded sample: --limit \(limit) --seed \(f.data.seed ?? 0))" }
        rows.append(("examples", examples))
        rows.append(("precision", f.precision ?? "fp32 (not recorded)"))
        rows.append(("scorer", f.evaluation.scorer + (f.evaluation.labels.map { ", labels \($0.joined(separator: ","))" } ?? "")))
        rows.append(("mode", plan.mode == .uniform
                     ? "uniform: every query row gives 1/L to each of the L real tokens (the paper's definition)"
                     : "zero: every probability of the head is 0 (Hugging Face head_mask = 0)"))
        rows.append(("ablations", "heads \(plan.headSpec) (\(plan.heads.count)), layers \(plan.layerSpec) (\(plan.layers.count)), plus the baseline"))
        rows.append(("plotted metric", results.primaryMetric))
        rows.append(("max length", "\(f.evaluation.maxLength) tokens (longest-first truncation)"))
        rows.append(("batching", "token budget \(f.evaluation.tokenBudget), at most \(f.evaluation.maxBatchSize) sequences per batch"))
        rows.append(("kernels", f.kernels))
        rows.append(("Bertology", f.bertology))
        return rows
    }

    static func rankedTable(_ caption: String, _ heads: [(head: HeadID, score: Double)], _ results: AblationResults, _ metric: String) -> HTMLReport.Table {
        HTMLReport.Table(caption: caption, header: ["head", metric, "change"],
                         rows: heads.map { [$0.head.description, format($0.score), signed(results.delta(.head($0.head), metric))] })
    }

    static func ablationsCSV(_ results: AblationResults) -> String {
        let metrics = results.metricNames
        return CSVGrid.table(
            header: ["ablation", "kind", "layer", "head"] + metrics + metrics.map { "delta_\($0)" },
            rows: results.ordered.map { outcome in
                let a = outcome.ablation
                var head = ""
                if case .head(let id) = a { head = "\(id.head + 1)" }
                return [a.description, a.kind, a.layer.map { "\($0 + 1)" } ?? "", head]
                    + metrics.map { CSVGrid.number(outcome.metrics[$0] ?? .nan) }
                    + metrics.map { CSVGrid.number(results.delta(a, $0) ?? .nan) }
            })
    }

    static func range(_ values: [Double]) -> ClosedRange<Double>? {
        let finite = values.filter(\.isFinite)
        guard let low = finite.min(), let high = finite.max() else { return nil }
        return low...high
    }

    static func symmetricRange(_ values: [Double]) -> ClosedRange<Double>? {
        let largest = values.filter(\.isFinite).map(abs).max() ?? 0
        return largest > 0 ? -largest...largest : nil
    }

    package static func format(_ value: Double?) -> String { value.map { XMLText.format($0, digits: 4) } ?? "n/a" }

    package static func signed(_ value: Double?) -> String {
        guard let value, value.isFinite else { return "n/a" }
        return (value > 0 ? "+" : "") + XMLText.format(value, digits: 4)
    }
}

/// `ablation.json`.
struct AblationFile: Encodable {
    let results: AblationResults

    init(_ results: AblationResults) { self.results = results }

    struct Entry: Encodable {
        let name: String
        let kind: String
        let layer: Int?
        let head: Int?
        let metrics: [String: Double]
        let delta: [String: Double]
    }

    struct Ranked: Encodable {
        let head: String
        let score: Double
        let delta: Double
    }

    static func definitions(_ results: AblationResults) -> [String: String] {
        [
            "uniform": "the head's attention probabilities, after softmax and before they multiply V, are replaced by 1/L on each of the L real (non-padding) tokens in every query row, so the head outputs the mean of V (Kovaleva et al. 2019, §4.6)",
            "zero": "the head's attention probabilities are all 0 (Hugging Face head_mask = 0, Michel et al. 2019): the head contributes only the output projection's bias",
            "layer": "every head of the layer switched off at once in the sweep's mode",
            "delta": "the ablation's score minus the baseline's score, in the metric's own units (not percent)",
            "best_heads": "the heads whose ablation gives the highest \(results.primaryMetric) (the model does best without them), highest first",
            "worst_heads": "the heads whose ablation gives the lowest \(results.primaryMetric) (the model relies on them most), lowest first",
        ]
    }

    enum CodingKeys: String, CodingKey {
        case fingerprint, definitions, indexing, metrics, primaryMetric = "primary_metric", mode, baseline
        case heads, headsDelta = "heads_delta", layers, layersDelta = "layers_delta", ablations
        case bestHeads = "best_heads", worstHeads = "worst_heads"
    }

    func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        let metrics = results.metricNames, primary = results.primaryMetric
        try container.encode(results.fingerprint, forKey: .fingerprint)
        try container.encode(Self.definitions(results), forKey: .definitions)
        try container.encode("heads and heads_delta are [layer][head], layers and layers_delta [layer], 0-based: the paper's L4-H1 is [3][0]; NaN where nothing was ablated. Names (L4-H1, L3) are 1-based.", forKey: .indexing)
        try container.encode(metrics, forKey: .metrics)
        try container.encode(primary, forKey: .primaryMetric)
        try container.encode(results.plan.mode.rawValue, forKey: .mode)
        try container.encode(results.baseline?.metrics ?? [:], forKey: .baseline)
        try container.encode(Dictionary(uniqueKeysWithValues: metrics.map { ($0, results.headGrid($0)) }), forKey: .heads)
        try container.encode(Dictionary(uniqueKeysWithValues: metrics.map { ($0, results.headGrid($0, delta: true)) }), forKey: .headsDelta)
        try container.encode(Dictionary(uniqueKeysWithValues: metrics.map { ($0, results.layerScores($0)) }), forKey: .layers)
        try container.encode(Dictionary(uniqueKeysWithValues: metrics.map { ($0, results.layerScores($0, delta: true)) }), forKey: .layersDelta)
        try container.encode(results.ordered.map { outcome in
            var head: Int?
            if case .head(let id) = outcome.ablation { head = id.head }
            return Entry(name: outcome.ablation.description, kind: outcome.ablation.kind, layer: outcome.ablation.layer, head: head,
                         metrics: outcome.metrics,
                         delta: Dictionary(uniqueKeysWithValues: metrics.compactMap { m in results.delta(outcome.ablation, m).map { (m, $0) } }))
        }, forKey: .ablations)
        let ranked = results.rankedHeads(primary)
        func entries(_ heads: [(head: HeadID, score: Double)]) -> [Ranked] {
            heads.map { Ranked(head: $0.head.description, score: $0.score, delta: results.delta(.head($0.head), primary) ?? .nan) }
        }
        try container.encode(entries(Array(ranked.prefix(AblationReport.rankedCount))), forKey: .bestHeads)
        try container.encode(entries(Array(ranked.reversed().prefix(AblationReport.rankedCount))), forKey: .worstHeads)
    }
}
