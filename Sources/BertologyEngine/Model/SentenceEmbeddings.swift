import Foundation

extension Checkpoint {
    /// The mean-pooled sentence embedding of each text (the mean of the last hidden state over its
    /// real tokens, as sentence-transformers pools all-MiniLM-L6-v2), in the order given.
    ///
    /// Texts are batched by length with the one `Batcher`; longer texts are truncated to the model's
    /// maximum length. Pass a `session` to reuse its buffers across calls from the same task.
    /// - Parameters:
    ///   - texts: the texts to embed.
    ///   - interventions: head changes applied during every pass; nil keeps every head.
    ///   - session: a session of this checkpoint's model to reuse; nil makes a new one.
    /// - Returns: one embedding of `hiddenSize` floats per text; empty for no texts.
    /// - Throws: `BertologyError` `.cancelled` when the current task is cancelled (checked between batches).
    public func sentenceEmbeddings(_ texts: [String], interventions: HeadInterventions? = nil,
                                   session: InferenceSession? = nil) throws -> [[Float]] {
        guard !texts.isEmpty else { return [] }
        let session = session ?? InferenceSession(model: model)
        let maxLength = model.config.maxSequenceLength
        let encodings = texts.map { tokenizer.encode($0, maxLength: maxLength) }
        let sequences = BatchedSequences(encodings: encodings, padId: tokenizer.padId)
        return try sequences.map { prepared in
            if Task.isCancelled { throw BertologyError(.cancelled, "sentence embeddings cancelled") }
            try session.forward(prepared.batch, interventions: interventions)
            return prepared.rows.indices.map { session.sentenceEmbedding(example: $0) }
        }
    }
}
