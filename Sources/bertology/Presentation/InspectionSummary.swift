import Bertology
import Foundation

/// A readable text view of an `Inspection` (what `bertology inspect` prints without --json).
enum InspectionSummary {
    /// The summary: tokens, interventions, prediction or embedding norm, and each head's most-attended token.
    /// - Parameters:
    ///   - inspection: what ``Checkpoint/inspect(_:pair:maxLength:interventions:)`` returned.
    ///   - checkpoint: the checkpoint inspected (for its name and shape).
    static func text(_ inspection: Inspection, checkpoint: Checkpoint) -> String {
        let encoding = inspection.encoding
        var lines: [String] = []
        lines.append("model: \(checkpoint.name) (\(checkpoint.model.layerCount) layers x \(checkpoint.model.headCount) heads)")
        lines.append("tokens (\(encoding.count)): " + encoding.tokens.joined(separator: " "))
        lines.append("interventions: \(inspection.interventions)")
        if let logits = inspection.logits {
            let labels = inspection.labels ?? logits.indices.map { "LABEL_\($0)" }
            if logits.count == 1 {
                lines.append("prediction (regression): \(format(logits[0], digits: 4))")
            } else {
                let maximum = logits.max()!
                let exponentials = logits.map { exp(Double($0 - maximum)) }
                let total = exponentials.reduce(0, +)
                let best = logits.firstIndex(of: maximum)!
                lines.append("prediction: \(labels[best]) (" + zip(labels, exponentials).map { "\($0) \(format(Float($1 / total), digits: 3))" }.joined(separator: ", ") + ")")
            }
        } else {
            let norm = inspection.sentenceEmbedding.reduce(0) { $0 + $1 * $1 }.squareRoot()
            lines.append("sentence embedding: \(inspection.sentenceEmbedding.count) values, norm \(format(norm, digits: 3)) (mean-pooled; --json prints it)")
        }
        lines.append("")
        lines.append("Most-attended token per head (column mean over queries, the paper's s_j):")
        let heads = inspection.attentions.shape[1]
        let cellWidth = 13
        lines.append("     " + (1...heads).map { pad("H\($0)", cellWidth) }.joined())
        for layer in 0..<inspection.attentions.shape[0] {
            var row = pad("L\(layer + 1)", 5)
            for head in 0..<heads {
                let means = inspection.columnMeans(layer: layer, head: head)
                let best = means.indices.max { means[$0] < means[$1] }!
                let token = String(encoding.tokens[best].prefix(7))
                row += pad("\(token) \(format(means[best], digits: 2))", cellWidth)
            }
            lines.append(row)
        }
        return lines.joined(separator: "\n")
    }

    static func pad(_ text: String, _ width: Int) -> String {
        text.count >= width ? text + " " : text + String(repeating: " ", count: width - text.count)
    }

    static func format(_ value: Float, digits: Int) -> String {
        let scale = pow(10, Float(digits))
        let rounded = (value * scale).rounded() / scale
        var text = "\(rounded)"
        if let dot = text.firstIndex(of: "."), text.distance(from: dot, to: text.endIndex) - 1 < digits, !text.contains("e") {
            text += String(repeating: "0", count: digits - text.distance(from: dot, to: text.endIndex) + 1)
        }
        return text
    }
}
