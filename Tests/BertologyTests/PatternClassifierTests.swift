import Foundation
import Testing
@testable import BertologyEngine
@testable import BertologyExperiments

/// The pattern-type classifier on synthetic maps whose type is obvious by construction.
@Suite struct PatternClassifierTests {
    /// A single sentence of n tokens: [CLS] at 0, [SEP] at n-1.
    static func singleSpecials(_ n: Int) -> [Bool] { (0..<n).map { $0 == 0 || $0 == n - 1 } }
    /// A pair: [CLS] 0, [SEP] at split-1 and n-1.
    static func pairSpecials(_ n: Int, split: Int) -> [Bool] { (0..<n).map { $0 == 0 || $0 == split - 1 || $0 == n - 1 } }

    /// Rows built by `row(i)` (each normalised to sum 1).
    static func map(_ n: Int, _ row: (Int) -> [Float]) -> [Float] {
        (0..<n).flatMap { i -> [Float] in
            let values = row(i)
            let total = values.reduce(0, +)
            return values.map { $0 / total }
        }
    }

    static func classify(_ map: [Float], _ n: Int, special: [Bool], split: Int) -> (AttentionPattern, PatternFeatures) {
        let features = PatternClassifier.features(map: map, length: n, special: special, segmentStart: split)
        return (PatternClassifier.classify(features), features)
    }

    // From 10 tokens up: in a shorter map the three-wide band and the special columns already hold
    // most of what uniform attention would give, so no map scores high (docs/ANALYSES.md).
    @Test(arguments: [10, 17, 40])
    func pureDiagonalMapIsDiagonal(n: Int) {
        let identity = Self.map(n) { i in (0..<n).map { $0 == i ? 1 : 0 } }
        let (type, features) = Self.classify(identity, n, special: Self.singleSpecials(n), split: n)
        #expect(type == .diagonal, "\(features)")
        let previous = Self.map(n) { i in (0..<n).map { $0 == max(0, i - 1) ? 1 : 0 } }
        #expect(Self.classify(previous, n, special: Self.singleSpecials(n), split: n).0 == .diagonal)
    }

    @Test(arguments: [10, 17, 40])
    func clsAndSepColumnsAreVertical(n: Int) {
        let columns = Self.map(n) { _ in (0..<n).map { $0 == 0 ? 0.6 : $0 == n - 1 ? 0.4 : 0 } }
        let (type, features) = Self.classify(columns, n, special: Self.singleSpecials(n), split: n)
        #expect(type == .vertical, "\(features)")
        #expect(features.vertical == 1 && features.diagonal == 0)
        // A stripe on one ordinary token (a final period) is vertical too.
        let period = Self.map(n) { _ in (0..<n).map { $0 == n - 2 ? 1 : 0 } }
        #expect(Self.classify(period, n, special: Self.singleSpecials(n), split: n).0 == .vertical)
    }

    @Test func halfClsHalfPreviousTokenIsVerticalPlusDiagonal() {
        let n = 24
        let mixed = Self.map(n) { i in (0..<n).map { j in (j == 0 ? 1 : 0) + (j == max(1, i - 1) ? 1 : 0) } }
        let (type, features) = Self.classify(mixed, n, special: Self.singleSpecials(n), split: n)
        #expect(type == .verticalDiagonal, "\(features)")
    }

    @Test func attentionInsideEachSentenceIsBlockOnlyForPairs() {
        let (n, split) = (30, 14)
        let block = Self.map(n) { i in (0..<n).map { j in (i < split) == (j < split) ? 1 : 0 } }
        let (type, features) = Self.classify(block, n, special: Self.pairSpecials(n, split: split), split: split)
        #expect(type == .block, "\(features)")
        #expect((features.block ?? 0) > 0.9)
        // The same map for a single sentence (no second segment) cannot be block.
        let (single, singleFeatures) = Self.classify(block, n, special: Self.singleSpecials(n), split: n)
        #expect(single == .heterogeneous && singleFeatures.block == nil)
    }

    @Test func uniformAndScatteredMapsAreHeterogeneous() {
        let n = 25
        let uniform = Self.map(n) { _ in [Float](repeating: 1, count: n) }
        let (type, features) = Self.classify(uniform, n, special: Self.singleSpecials(n), split: n)
        #expect(type == .heterogeneous)
        #expect(abs(features.vertical) < 1e-9 && abs(features.diagonal) < 1e-9, "uniform attention scores 0: \(features)")
        // Each query attends to a different far-away token (a permutation): neither stripes nor band.
        let scattered = Self.map(n) { i in (0..<n).map { j in j == (i * 7 + 5) % n ? 1 : 0 } }
        #expect(Self.classify(scattered, n, special: Self.singleSpecials(n), split: n).0 == .heterogeneous)
    }

    @Test func thresholdsDecideTheBoundary() {
        let features = PatternFeatures(vertical: 0.3, diagonal: 0.1, block: 0.7, specialMass: 0, stripeMass: 0,
                                       diagonalMass: 0, ownSegmentShare: 0.8)
        #expect(PatternClassifier.classify(features) == .block)
        #expect(PatternClassifier.classify(features, thresholds: PatternThresholds(explained: 0.4)) == .vertical)
        #expect(PatternClassifier.classify(features, thresholds: PatternThresholds(explained: 0.4, component: 0.1)) == .verticalDiagonal)
        #expect(PatternClassifier.classify(features, thresholds: PatternThresholds(block: 0.8)) == .heterogeneous)
    }
}
