import BertologyEngine
import Foundation

// Stand-in for the interactive attention viewer (Report/AttentionViewer*.swift, built on its own
// branch): the same two entry points, so `bertology reproduce` is written against them. This file
// goes when the viewer is merged.

/// The data the attention viewer embeds: a bounded sample of examples with their tokens and maps.
public struct AttentionViewerData: Codable, Sendable, Equatable {
    /// The ablation score of every head, shown beside its map.
    public struct HeadScores: Codable, Sendable, Equatable {
        /// The metric scored (the task's headline metric).
        public var metric: String
        /// The score with every head kept.
        public var baseline: Double
        /// `scores[layer][head]` (0-based): the score with that head switched off.
        public var scores: [[Double]]

        public init(metric: String, baseline: Double, scores: [[Double]]) {
            self.metric = metric
            self.baseline = baseline
            self.scores = scores
        }
    }

    /// The task of the examples.
    public var task: String
    /// The examples embedded.
    public var examples: Int
    /// The head scores, when given.
    public var headScores: HeadScores?

    /// Runs the models on the first `examples` examples of `dataset` and keeps what the viewer shows.
    public static func build(pretrained: Checkpoint, finetuned: Checkpoint?, dataset: GLUEDataset, examples: Int,
                             headScores: HeadScores?) throws -> AttentionViewerData {
        AttentionViewerData(task: dataset.task.name, examples: min(examples, dataset.count), headScores: headScores)
    }
}

/// The viewer's HTML: one section with its own inline script and style.
public enum AttentionViewer {
    /// An HTML section showing `data`.
    public static func fragment(_ data: AttentionViewerData) -> String {
        "<section id=\"attention-viewer\"><h2>Attention viewer</h2><p>The interactive viewer is not part of this build; its data (\(data.examples) \(XMLText.escape(data.task)) examples) is in viewer/viewer.json.</p></section>"
    }
}
