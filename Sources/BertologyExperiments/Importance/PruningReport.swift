import BertologyEngine
import Foundation

/// Writes a pruning run's files (docs/IMPORTANCE.md): `pruning.json` (``PruningResult``), `pruning.csv` (one row per
/// point), `pruning.svg` (the task's metric against the share of heads pruned, one line per order, the random
/// order's mean with its range) and `index.html`. They depend only on the results.
public enum PruningReport {
    static let colours: [PruningOrder: String] = [.importance: "#1f77b4", .oneShot: "#2ca02c", .ablation: "#d62728", .random: "#7f7f7f"]
    static let names: [PruningOrder: String] = [.importance: "gradient importance, recomputed each step (Michel et al.)",
                                                .oneShot: "gradient importance, computed once",
                                                .ablation: "ablation drop (switching each head off alone)",
                                                .random: "random order (mean and range over seeds)"]

    /// Writes every file; returns the names written, `index.html` last.
    @discardableResult
    public static func write(_ result: PruningResult, to folder: OutputFolder) throws -> [String] {
        try folder.write(JSONOutput.encode(result, pretty: true), to: "pruning.json")
        let metrics = result.baseline.keys.sorted()
        let total = Double(result.layers * result.heads)
        var rows: [[String]] = []
        for order in PruningOrder.allCases {
            for seed in order == .random ? result.randomSeeds.map(Optional.some) : [nil] {
                let curve = result.curve(order, seed: seed)
                guard curve.count > 1 else { continue }
                for point in curve {
                    rows.append([order.rawValue, seed.map(String.init) ?? "", "\(point.step)", "\(point.removed.count)",
                                 CSVGrid.number(Double(point.removed.count) / total)]
                                + metrics.map { CSVGrid.number(point.metrics[$0] ?? .nan) } + [point.removed.last.map { _ in
                                    point.removed.joined(separator: " ") } ?? ""])
                }
            }
        }
        try folder.write(CSVGrid.table(header: ["order", "seed", "step", "heads_removed", "fraction"] + metrics + ["removed"], rows: rows),
                         to: "pruning.csv")
        let chart = svg(result)
        try folder.write(chart, to: "pruning.svg")

        var curves = HTMLReport.Section(title: "Pruning curves", id: "curves")
        let baseline = result.baseline[result.metric] ?? .nan
        curves.paragraphs = [
            "Heads are removed \(Int(result.step * 100))% of the remaining at a time (at least one, never a layer's last head) and the model is scored on \(result.task) \(result.split) (\(result.examples) examples) after each step, with the removed heads' attention zeroed (exactly removing them). Baseline \(result.metric): \(AblationReport.format(baseline)).",
        ] + (result.until.map { ["An order stops once its \(result.metric) is below \(AblationReport.format($0)) of the baseline's."] } ?? [])
        curves.figures = [HTMLReport.Figure(svg: chart, caption: "\(result.metric) against the share of heads pruned.", files: ["pruning.svg", "pruning.csv", "pruning.json"])]
        var table: [[String]] = []
        for order in PruningOrder.allCases where order != .random {
            let curve = result.curve(order)
            guard curve.count > 1 else { continue }
            table.append([order.rawValue] + milestones(curve, result))
        }
        if !result.randomSeeds.isEmpty {
            let means = result.randomSeeds.map { milestoneValues(result.curve(.random, seed: $0), result) }
            table.append(["random (mean of \(means.count))"] + (0..<means[0].count).map { index in
                let values = means.compactMap { $0[index] }
                return values.isEmpty ? "n/a" : AblationReport.format(values.reduce(0, +) / Double(values.count))
            })
        }
        curves.tables = [HTMLReport.Table(caption: "\(result.metric) with a share of the heads pruned (the last step at or below it)",
                                          header: ["order"] + fractions.map { "\(Int($0 * 100))%" }, rows: table)]
        var notes = HTMLReport.Section(title: "Orders and files", id: "definitions")
        notes.paragraphs = PruningOrder.allCases.map { "\($0.rawValue): \(names[$0]!)" }
            + ["pruning-journal.jsonl holds every point as it was scored (a resumed run continues from it); pruning.csv lists the heads removed at each point."]
        let report = HTMLReport(title: "Pruning: \(result.model) on \(result.task) \(result.split)",
                                subtitle: "Bertology: iterative head pruning (Michel et al. 2019) beside the paper's ablation order and random orders.",
                                parameters: [("model", result.model), ("task", "\(result.task) \(result.split)"), ("examples", "\(result.examples)"),
                                             ("step", "\(result.step)"), ("ablation order from", result.ablationSource ?? "not run")],
                                sections: [curves, notes])
        try folder.write(report.html(), to: "index.html")
        return folder.written
    }

    static let fractions = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]

    static func milestoneValues(_ curve: [PruningPoint], _ result: PruningResult) -> [Double?] {
        let total = Double(result.layers * result.heads)
        return fractions.map { fraction in
            curve.last { Double($0.removed.count) / total <= fraction + 1e-9 }.flatMap { $0.metrics[result.metric] }
        }
    }

    static func milestones(_ curve: [PruningPoint], _ result: PruningResult) -> [String] {
        milestoneValues(curve, result).map { AblationReport.format($0) }
    }

    /// The line chart.
    static func svg(_ result: PruningResult) -> String {
        let (width, height) = (640.0, 400.0), (left, right, top, bottom) = (60.0, 20.0, 40.0, 120.0)
        let total = Double(result.layers * result.heads)
        var series: [(order: PruningOrder, points: [(Double, Double)], low: [Double]?, high: [Double]?)] = []
        for order in PruningOrder.allCases where order != .random {
            let curve = result.curve(order)
            if curve.count > 1 {
                series.append((order, curve.map { (Double($0.removed.count) / total, $0.metrics[result.metric] ?? .nan) }, nil, nil))
            }
        }
        let seeds = result.randomSeeds
        if !seeds.isEmpty {
            let curves = seeds.map { result.curve(.random, seed: $0) }
            let steps = curves.map(\.count).min() ?? 0
            var points: [(Double, Double)] = [], low: [Double] = [], high: [Double] = []
            for step in 0..<steps {
                let values = curves.map { $0[step].metrics[result.metric] ?? .nan }
                points.append((Double(curves[0][step].removed.count) / total, values.reduce(0, +) / Double(values.count)))
                low.append(values.min()!)
                high.append(values.max()!)
            }
            series.append((.random, points, low, high))
        }
        let values = series.flatMap { $0.points.map(\.1) + ($0.low ?? []) + ($0.high ?? []) }.filter(\.isFinite)
        var (lo, hi) = (values.min() ?? 0, values.max() ?? 1)
        if hi - lo < 1e-9 { (lo, hi) = (lo - 0.5, hi + 0.5) }
        let maxX = max(series.flatMap { $0.points.map(\.0) }.max() ?? 1, 0.1)
        func x(_ v: Double) -> Double { left + (width - left - right) * v / maxX }
        func y(_ v: Double) -> Double { top + (height - top - bottom) * (1 - (v - lo) / (hi - lo)) }
        func n(_ v: Double) -> String { String(format: "%.1f", v) }
        var svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(height))\" viewBox=\"0 0 \(Int(width)) \(Int(height))\" font-family=\"sans-serif\" font-size=\"12\">\n"
        svg += "<title>\(XMLText.escape("\(result.task): \(result.metric) against the share of heads pruned"))</title>\n"
        svg += "<text x=\"\(n(left))\" y=\"20\" font-size=\"14\">\(XMLText.escape("\(result.task) \(result.split): \(result.metric) as heads are pruned (\(result.model))"))</text>\n"
        svg += "<line x1=\"\(n(left))\" y1=\"\(n(height - bottom))\" x2=\"\(n(width - right))\" y2=\"\(n(height - bottom))\" stroke=\"#333\"/>\n"
        svg += "<line x1=\"\(n(left))\" y1=\"\(n(top))\" x2=\"\(n(left))\" y2=\"\(n(height - bottom))\" stroke=\"#333\"/>\n"
        for tick in 0...4 {
            let v = lo + (hi - lo) * Double(tick) / 4
            svg += "<text x=\"\(n(left - 6))\" y=\"\(n(y(v) + 4))\" text-anchor=\"end\">\(XMLText.format(v, digits: 3))</text>\n"
            let f = maxX * Double(tick) / 4
            svg += "<text x=\"\(n(x(f)))\" y=\"\(n(height - bottom + 16))\" text-anchor=\"middle\">\(Int((f * 100).rounded()))%</text>\n"
        }
        svg += "<text x=\"\(n((left + width - right) / 2))\" y=\"\(n(height - bottom + 34))\" text-anchor=\"middle\">heads pruned</text>\n"
        for entry in series {
            let colour = colours[entry.order]!
            if let low = entry.low, let high = entry.high {
                let upper = zip(entry.points, high).map { "\(n(x($0.0.0))),\(n(y($0.1)))" }
                let lower = zip(entry.points, low).reversed().map { "\(n(x($0.0.0))),\(n(y($0.1)))" }
                svg += "<polygon points=\"\((upper + lower).joined(separator: " "))\" fill=\"\(colour)\" fill-opacity=\"0.2\" stroke=\"none\"/>\n"
            }
            let path = entry.points.filter { $0.1.isFinite }.map { "\(n(x($0.0))),\(n(y($0.1)))" }.joined(separator: " ")
            svg += "<polyline points=\"\(path)\" fill=\"none\" stroke=\"\(colour)\" stroke-width=\"2\"/>\n"
            for point in entry.points where point.1.isFinite {
                svg += "<circle cx=\"\(n(x(point.0)))\" cy=\"\(n(y(point.1)))\" r=\"2.5\" fill=\"\(colour)\"><title>\(entry.order.rawValue): \(Int((point.0 * total).rounded())) heads pruned, \(XMLText.escape(result.metric)) \(XMLText.format(point.1, digits: 4))</title></circle>\n"
            }
        }
        for (index, entry) in series.enumerated() {
            let ly = height - bottom + 56 + Double(index) * 16
            svg += "<line x1=\"\(n(left))\" y1=\"\(n(ly - 4))\" x2=\"\(n(left + 24))\" y2=\"\(n(ly - 4))\" stroke=\"\(colours[entry.order]!)\" stroke-width=\"2\"/>"
            svg += "<text x=\"\(n(left + 30))\" y=\"\(n(ly))\">\(XMLText.escape(names[entry.order]!))</text>\n"
        }
        return svg + "</svg>\n"
    }

    /// A short text summary for the terminal.
    public static func summary(_ result: PruningResult) -> String {
        var lines = ["pruning \(result.model) on \(result.task) \(result.split) (\(result.examples) examples), \(result.metric) baseline \(AblationReport.format(result.baseline[result.metric]))",
                     "order         " + fractions.map { String(format: "%6d%%", Int($0 * 100)) }.joined()]
        for order in PruningOrder.allCases where order != .random {
            let curve = result.curve(order)
            guard curve.count > 1 else { continue }
            lines.append(order.rawValue.padding(toLength: 14, withPad: " ", startingAt: 0)
                         + milestoneValues(curve, result).map { $0.map { String(format: "%7.4f", $0) } ?? "    n/a" }.joined())
        }
        if !result.randomSeeds.isEmpty {
            let all = result.randomSeeds.map { milestoneValues(result.curve(.random, seed: $0), result) }
            lines.append("random (mean) " + (0..<fractions.count).map { index in
                let values = all.compactMap { $0[index] }
                return values.isEmpty ? "    n/a" : String(format: "%7.4f", values.reduce(0, +) / Double(values.count))
            }.joined())
        }
        return lines.joined(separator: "\n")
    }
}
