import Bertology
import Foundation

/// A readable text view of a sweep's results (what `bertology ablate` and `merge` print).
enum AblationSweepSummary {
    static func text(_ results: AblationResults, shown: Int = 5) -> String {
        let f = results.fingerprint, plan = results.plan, metric = results.primaryMetric
        var lines: [String] = []
        var examples = "\(f.data.examples) examples"
        if let limit = f.data.limit { examples += " (--limit \(limit) --seed \(f.data.seed ?? 0))" }
        lines.append("\(f.data.task) \(f.data.split): \(examples), model \(f.model.name), scorer \(f.evaluation.scorer), mode \(plan.mode.rawValue)")
        if let baseline = results.baseline {
            lines.append("baseline: " + results.metricNames.map { "\($0) \(AblationReport.format(baseline.metrics[$0]))" }.joined(separator: ", "))
        }
        func entry(_ ablation: Ablation) -> String {
            "\(ablation) \(AblationReport.format(results.score(ablation, metric))) (\(AblationReport.signed(results.delta(ablation, metric))))"
        }
        let ranked = results.rankedHeads(metric)
        if !ranked.isEmpty {
            lines.append("heads (\(ranked.count)), \(metric) without the head:")
            lines.append("  best to switch off:  " + ranked.prefix(shown).map { entry(.head($0.head)) }.joined(separator: ", "))
            lines.append("  worst to switch off: " + ranked.reversed().prefix(shown).map { entry(.head($0.head)) }.joined(separator: ", "))
        }
        let layers = plan.layers.filter { results.outcomes[.layer($0)] != nil }
        if !layers.isEmpty {
            lines.append("layers (\(layers.count)), \(metric) without the layer:")
            lines.append("  " + layers.map { entry(.layer($0)) }.joined(separator: ", "))
        }
        return lines.joined(separator: "\n")
    }
}
