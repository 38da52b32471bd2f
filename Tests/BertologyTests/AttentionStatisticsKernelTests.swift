import CKernels
import Foundation
import Testing
@testable import BertologyEngine
@testable import BertologyExperiments

/// ck_attention_map_statistics and ck_attention_map_products (scalar C, one path) against plain
/// double loops written from their definitions, on awkward shapes, and on maps whose sums are known.
@Suite struct AttentionStatisticsKernelTests {
    /// Random softmax-like maps (B,NH,T,T): rows over the first lengths[b] keys sum to 1, padding keys 0,
    /// a few exact zeros among the real keys.
    static func maps(b: Int, nh: Int, t: Int, lengths: [Int32], seed: UInt64) -> [Float] {
        var generator = SeededGenerator(seed: seed)
        var values = [Float](repeating: 0, count: b * nh * t * t)
        for e in 0..<b {
            let n = Int(lengths[e])
            for h in 0..<nh {
                for i in 0..<t {
                    let row = ((e * nh + h) * t + i) * t
                    var total: Float = 0
                    for j in 0..<n {
                        let x = generator.next() % 11 == 0 ? 0 : exp(2 * generator.nextNormal())
                        values[row + j] = x
                        total += x
                    }
                    if total == 0 { values[row] = 1; total = 1 }
                    for j in 0..<n { values[row + j] /= total }
                }
            }
        }
        return values
    }

    @Test(arguments: [1, 2, 7, 17, 33])
    func statisticsMatchTheirDefinition(t: Int) {
        let (b, nh) = (3, 5)
        let lengths: [Int32] = [Int32(t), Int32(max(1, t / 2)), Int32(max(1, t - 3))]
        let starts: [Int32] = [Int32(max(0, t / 3)), lengths[1], Int32(max(1, t - 3))]
        let probabilities = Self.maps(b: b, nh: nh, t: t, lengths: lengths, seed: UInt64(t))
        var columns = [Double](repeating: .nan, count: b * nh * 2 * t)
        var entropy = [Double](repeating: .nan, count: b * nh)
        ck_attention_map_statistics(&columns, &entropy, probabilities, lengths, starts, Int32(b), Int32(nh), Int32(t))
        for e in 0..<b {
            let (n, split) = (Int(lengths[e]), Int(starts[e]))
            for h in 0..<nh {
                let base = (e * nh + h) * t * t
                var expectedEntropy = 0.0
                for i in 0..<n {
                    for j in 0..<n {
                        let p = Double(probabilities[base + i * t + j])
                        if p > 0 { expectedEntropy -= p * log(p) }
                    }
                }
                // logf against log: 2^-23 relative per term, summed over n rows.
                #expect(abs(entropy[e * nh + h] - expectedEntropy) <= 1e-6 * max(1, expectedEntropy), "T=\(t) b=\(e) h=\(h)")
                for segment in 0..<2 {
                    for j in 0..<t {
                        var expected = 0.0
                        if j < n {
                            for i in 0..<n where (i < split ? 0 : 1) == segment { expected += Double(probabilities[base + i * t + j]) }
                        }
                        let got = columns[((e * nh + h) * 2 + segment) * t + j]
                        #expect(abs(got - expected) <= 1e-12, "T=\(t) b=\(e) h=\(h) s=\(segment) j=\(j): \(got) vs \(expected)")
                    }
                }
            }
        }
    }

    @Test func uniformRowsHaveEntropyLnLAndOneHotRowsZero() {
        let (t, n) = (9, 7)
        var uniform = [Float](repeating: 0, count: t * t), oneHot = [Float](repeating: 0, count: t * t)
        for i in 0..<t {
            for j in 0..<n { uniform[i * t + j] = 1 / Float(n) }
            oneHot[i * t + min(i, n - 1)] = 1
        }
        var columns = [Double](repeating: 0, count: 2 * t), entropy = [0.0]
        ck_attention_map_statistics(&columns, &entropy, uniform, [Int32(n)], [Int32(n)], 1, 1, Int32(t))
        #expect(abs(entropy[0] / Double(n) - log(Double(n))) < 1e-6)
        #expect(abs(columns[0] - 1) < 1e-6 && columns[n] == 0 && columns[t] == 0)
        ck_attention_map_statistics(&columns, &entropy, oneHot, [Int32(n)], [Int32(n)], 1, 1, Int32(t))
        #expect(entropy[0] == 0)
    }

    @Test(arguments: [1, 7, 17, 33])
    func productsMatchTheirDefinition(t: Int) {
        let (b, nh) = (2, 3)
        let lengths: [Int32] = [Int32(t), Int32(max(1, t - 5))]
        let a = Self.maps(b: b, nh: nh, t: t, lengths: lengths, seed: 1)
        let other = Self.maps(b: b, nh: nh, t: t, lengths: lengths, seed: 2)
        for crop in [1, 0] {
            var products = [Double](repeating: .nan, count: b * nh * 3)
            ck_attention_map_products(&products, a, other, lengths, Int32(crop), Int32(b), Int32(nh), Int32(t))
            for e in 0..<b {
                let n = crop == 1 ? Int(lengths[e]) : t
                for h in 0..<nh {
                    var expected = (0.0, 0.0, 0.0)
                    for i in 0..<n {
                        for j in 0..<n {
                            let (x, y) = (Double(a[((e * nh + h) * t + i) * t + j]), Double(other[((e * nh + h) * t + i) * t + j]))
                            expected.0 += x * y
                            expected.1 += x * x
                            expected.2 += y * y
                        }
                    }
                    let p = (e * nh + h) * 3
                    #expect(abs(products[p] - expected.0) <= 1e-12 && abs(products[p + 1] - expected.1) <= 1e-12
                            && abs(products[p + 2] - expected.2) <= 1e-12, "T=\(t) crop=\(crop) b=\(e) h=\(h)")
                }
            }
        }
    }
}
