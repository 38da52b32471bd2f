import BertologyEngine
import Foundation

extension Checkpoint {
    /// The cosine of the two texts' mean-pooled embeddings: the zero-shot similarity a
    /// sentence-embedding model such as all-MiniLM-L6-v2 gives a pair (what the `cosine` scorer scores).
    /// - Parameters:
    ///   - a: the first text.
    ///   - b: the second text.
    ///   - interventions: head changes applied during the pass; nil keeps every head.
    ///   - session: a session of this checkpoint's model to reuse; nil makes a new one.
    /// - Returns: the cosine, from -1 to 1.
    public func cosineSimilarity(_ a: String, _ b: String, interventions: HeadInterventions? = nil,
                                 session: InferenceSession? = nil) throws -> Double {
        let embeddings = try sentenceEmbeddings([a, b], interventions: interventions, session: session)
        return Metrics.cosine(embeddings[0], embeddings[1])
    }
}
