/// Receives each layer's attention probabilities while a forward pass runs.
///
/// The forward pass calls `observe` once per layer per batch, on the calling thread, with the
/// probabilities actually used (after any head intervention). The buffer is reused for the next
/// layer: an observer that needs values later copies them (analyses fold them into running
/// statistics instead). Nothing is stored unless an observer stores it.
public protocol AttentionObserver: AnyObject {
    /// Called once per layer, in layer order, during each forward pass.
    /// - Parameter attention: the layer's probabilities; the buffer is valid only during this call.
    func observe(_ attention: LayerAttention)
}

/// One layer's attention probabilities for a batch: (B, NH, T, T), row = query, column = key.
/// Padding keys have probability 0; padding query rows are computed as Hugging Face computes them.
/// Valid only during `AttentionObserver.observe`.
public struct LayerAttention {
    /// 0-based layer index.
    public let layer: Int
    /// Attention heads per layer (NH).
    public let headCount: Int
    /// The batch being run (token ids, lengths).
    public let batch: Batch
    /// (B, NH, T, T) probabilities.
    public let probabilities: UnsafeBufferPointer<Float>

    /// The padded length T of the batch (each side of a map).
    public var sequenceLength: Int { batch.sequenceLength }

    /// The (T, T) map of one example and head, rows = queries.
    public func map(example b: Int, head h: Int) -> UnsafeBufferPointer<Float> {
        let t = batch.sequenceLength
        return UnsafeBufferPointer(rebasing: probabilities[((b * headCount + h) * t * t)..<((b * headCount + h + 1) * t * t)])
    }

    /// The probability that query `query` of example `b` gives to key `key` in head `h`.
    public func probability(example b: Int, head h: Int, query: Int, key: Int) -> Float {
        let t = batch.sequenceLength
        return probabilities[((b * headCount + h) * t + query) * t + key]
    }
}
