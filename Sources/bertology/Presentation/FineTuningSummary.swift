import Bertology
import Foundation

/// A readable text view of a fine-tuning run (what `bertology finetune` prints without --json).
enum FineTuningSummary {
    /// The recipe in one line, one line per epoch (mean loss, dev metrics), the saved model's dev
    /// metrics and the training speed; with `--epochs 0`, each seed's score and the range.
    static func text(_ result: FineTuning.Result) -> String {
        let report = result.report, recipe = report.recipe
        let metrics = recipe.task.metrics.map(\.rawValue)
        let model = URL(fileURLWithPath: recipe.model).standardizedFileURL.lastPathComponent
        var lines: [String] = []
        let examples = recipe.trainExamples < recipe.trainPopulation
            ? "\(recipe.trainExamples) of \(recipe.trainPopulation) train examples (seeded sample)"
            : "\(recipe.trainExamples) train examples"
        lines.append("\(recipe.task): \(model), \(recipe.initialization) init, \(examples); \(recipe.epochs) epochs x \(recipe.stepsPerEpoch) steps, "
                     + "batch \(recipe.batchSize), lr \(recipe.learningRate), seed \(recipe.seed)")
        func values(_ dev: [String: Double]) -> String {
            metrics.map { name in dev[name].map { "\(name) " + String(format: "%.4f", $0) } ?? "\(name) -" }.joined(separator: ", ")
        }
        if let untrained = report.untrained {
            lines.append("untrained classifier (--epochs 0), dev (\(recipe.devExamples) examples):")
            for score in untrained { lines.append("  seed \(score.seed): \(values(score.dev))") }
            if untrained.count > 1, let range = report.untrainedRange {
                for name in metrics {
                    guard let r = range[name] else { continue }
                    lines.append("  \(name) over \(untrained.count) seeds: " + String(format: "%.4f to %.4f (mean %.4f, sd %.4f)", r.min, r.max, r.mean, r.sd))
                }
            }
        } else {
            for epoch in report.epochs {
                lines.append(String(format: "epoch %d: mean loss %.4f; dev: ", epoch.epoch, epoch.meanLoss) + values(epoch.dev))
            }
            lines.append("dev (\(recipe.devExamples) examples), saved model: " + values(report.dev))
            lines.append(String(format: "training: %.1f examples/s over %.1f s (timing.json)", result.timing.examplesPerSecond, result.timing.trainSeconds)
                         + (result.timing.startStep > 0 ? ", resumed at step \(result.timing.startStep)" : ""))
        }
        return lines.joined(separator: "\n")
    }
}
