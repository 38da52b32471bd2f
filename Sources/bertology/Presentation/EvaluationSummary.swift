import Bertology
import Foundation

/// A readable text view of an `EvaluationResult` (what `bertology eval` prints without --json).
enum EvaluationSummary {
    /// The summary: task, examples, model, scorer, interventions, label mapping, metrics, truncation and time.
    static func text(_ result: EvaluationResult) -> String {
        var lines: [String] = []
        let model = URL(fileURLWithPath: result.model).standardizedFileURL.lastPathComponent
        var examples = "\(result.n) examples"
        if let sampling = result.sampling, sampling.limit < sampling.population {
            examples = "\(result.n) of \(sampling.population) examples (seeded sample, seed \(sampling.seed))"
        }
        lines.append("\(result.task) \(result.split): \(examples), model \(model), scorer \(result.scorer)")
        lines.append("ablation: " + (result.ablation.map { "\($0.description) (\($0.changedHeads) heads)" } ?? "none"))
        if let mapping = result.labelMapping {
            lines.append("labels: \(mapping.description)")
        }
        lines.append("")
        if result.metrics.isEmpty {
            lines.append("No metrics: GLUE test labels are not public (--predictions FILE writes the predictions).")
        } else {
            let order = result.task.metrics.map(\.rawValue).filter { result.metrics[$0] != nil }
            let width = max(6, order.map(\.count).max() ?? 0)
            lines.append("  " + pad("metric", width) + "   value")
            for name in order {
                let value = result.metrics[name]!
                let shown = value.isNaN ? "undefined (a constant vector)" : String(format: "%.4f", value)
                lines.append("  " + pad(name, width) + "  " + shown + (name == result.headlineMetric ? "   (headline)" : ""))
            }
        }
        lines.append("")
        lines.append("truncated: \(result.truncated) of \(result.n) examples (longest first, to \(result.maxLength) tokens)")
        let rate = result.seconds > 0 ? Double(result.n) / result.seconds : 0
        lines.append(String(format: "time: %.2f s (tokenizing and batching %.2f s), %.0f examples/s",
                            result.seconds, result.preparationSeconds, rate))
        return lines.joined(separator: "\n")
    }

    static func pad(_ text: String, _ width: Int) -> String {
        text.count >= width ? text : text + String(repeating: " ", count: width - text.count)
    }
}
