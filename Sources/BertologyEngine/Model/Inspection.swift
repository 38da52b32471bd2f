import Foundation

/// Everything the model computes for one input: what `bertology inspect` prints.
public struct Inspection: Sendable {
    /// The tokens run: `[CLS] text [SEP]` (or a pair), truncated to the length asked for.
    public let encoding: Encoding
    /// (layers, heads, T, T): the attention probabilities actually used, rows = queries.
    public let attentions: Tensor
    /// (T, C).
    public let lastHiddenState: Tensor
    /// The classifier's outputs, when the checkpoint has one.
    public let logits: [Float]?
    /// Class names for `logits` (from config.json `id2label`), when known.
    public let labels: [String]?
    /// Mean of the last hidden state over the tokens.
    public let sentenceEmbedding: [Float]
    /// Pooler output, when the checkpoint has a pooler.
    public let pooledOutput: [Float]?
    /// The head interventions the pass ran with (every head kept when none were given).
    public let interventions: HeadInterventions

    /// The most memory `inspect` gives the attention maps (layers x heads x T x T floats): bert-large
    /// at 512 tokens takes 400 MiB.
    public static let maximumAttentionBytes = 1 << 30

    /// Total attention each key token receives from all queries in `head`, divided by the length:
    /// the paper's column score s_j = (1/L) sum_i A[i, j].
    public func columnMeans(layer: Int, head: Int) -> [Float] {
        let t = encoding.count, heads = attentions.shape[1]
        let base = (layer * heads + head) * t * t
        return (0..<t).map { j in (0..<t).reduce(Float(0)) { $0 + attentions.pointer[base + $1 * t + j] } / Float(t) }
    }
}

extension Checkpoint {
    /// Runs the model on one text (or pair) and keeps every attention map.
    /// - Parameters:
    ///   - text: the text, or the first text of a pair.
    ///   - pair: the second text of a pair; nil for a single text.
    ///   - maxLength: truncation length in tokens, specials included; nil (or more) means the model's `max_position_embeddings`.
    ///   - interventions: head changes applied during the pass; nil keeps every head.
    /// - Throws: `BertologyError` `.usage` when the attention maps would take more than ``Inspection/maximumAttentionBytes``; errors of ``InferenceSession/forward(_:interventions:observer:)``.
    public func inspect(_ text: String, pair: String? = nil, maxLength: Int? = nil,
                        interventions: HeadInterventions? = nil) throws -> Inspection {
        let limit = min(maxLength ?? model.config.maxSequenceLength, model.config.maxSequenceLength)
        let encoding = tokenizer.encode(text, pair: pair, maxLength: limit)
        let batch = Batch(encodings: [encoding], padId: tokenizer.padId)
        let config = model.config
        let t = encoding.count
        // Every map of every head is kept: refuse before allocating when that is absurd (a config
        // with tens of thousands of positions and a long text would otherwise exhaust memory).
        let attentionBytes = Double(config.numHiddenLayers * config.numAttentionHeads) * Double(t) * Double(t) * 4
        guard attentionBytes <= Double(Inspection.maximumAttentionBytes) else {
            throw BertologyError.usage(
                "\(t) tokens: the attention maps of \(config.numHiddenLayers) layers x \(config.numAttentionHeads) heads would take "
                + "\(Int((attentionBytes / Double(1 << 20)).rounded(.up))) MiB, more than the \(Inspection.maximumAttentionBytes >> 20) MiB "
                + "inspect keeps; shorten the text (`maxLength`)")
        }
        let attentions = Tensor(zeros: [config.numHiddenLayers, config.numAttentionHeads, t, t])
        final class Collector: AttentionObserver {
            let destination: Tensor
            init(_ destination: Tensor) { self.destination = destination }
            func observe(_ attention: LayerAttention) {
                let size = attention.probabilities.count
                (destination.mutablePointer + attention.layer * size).update(from: attention.probabilities.baseAddress!, count: size)
            }
        }
        let session = InferenceSession(model: model)
        let interventions = interventions ?? HeadInterventions(layerCount: config.numHiddenLayers, headCount: config.numAttentionHeads)
        try session.forward(batch, interventions: interventions, observer: Collector(attentions))
        let labels = model.hasClassifier ? (0..<config.numLabels).map { config.id2label[$0] ?? "LABEL_\($0)" } : nil
        return Inspection(
            encoding: encoding, attentions: attentions,
            lastHiddenState: Tensor(shape: [t, config.hiddenSize], values: session.lastHiddenState(example: 0)),
            logits: session.logits(example: 0), labels: labels,
            sentenceEmbedding: session.sentenceEmbedding(example: 0), pooledOutput: session.pooledOutput(example: 0),
            interventions: interventions)
    }
}
