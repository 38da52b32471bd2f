internal import CKernels

/// The attention-map statistics kernels (CKernels/attention_stats.c) for the analyses in
/// BertologyExperiments, which never call C themselves. Shapes as in ckernels.h; the caller sizes
/// every buffer.
package enum AttentionMapKernels {
    /// One pass over every (example, head) map of a layer, cropped to the real tokens:
    /// `columnSums` (B,NH,2,T) split by the segment of the query row, `entropySums` (B,NH) in nats
    /// (`ck_attention_map_statistics`).
    package static func statistics(columnSums: UnsafeMutableBufferPointer<Double>,
                                   entropySums: UnsafeMutableBufferPointer<Double>,
                                   probabilities: UnsafeBufferPointer<Float>, lengths: UnsafeBufferPointer<Int32>,
                                   segmentStarts: UnsafeBufferPointer<Int32>, batch: Int, heads: Int, sequenceLength: Int) {
        ck_attention_map_statistics(columnSums.baseAddress, entropySums.baseAddress, probabilities.baseAddress,
                                    lengths.baseAddress, segmentStarts.baseAddress,
                                    Int32(batch), Int32(heads), Int32(sequenceLength))
    }

    /// (B,NH,3) = (sum a*b, sum a*a, sum b*b) over each map, cropped to the real tokens when `crop`
    /// (`ck_attention_map_products`).
    package static func products(_ products: UnsafeMutableBufferPointer<Double>, _ a: UnsafeBufferPointer<Float>,
                                 _ b: UnsafeBufferPointer<Float>, lengths: UnsafeBufferPointer<Int32>, crop: Bool,
                                 batch: Int, heads: Int, sequenceLength: Int) {
        ck_attention_map_products(products.baseAddress, a.baseAddress, b.baseAddress, lengths.baseAddress,
                                  crop ? 1 : 0, Int32(batch), Int32(heads), Int32(sequenceLength))
    }
}
