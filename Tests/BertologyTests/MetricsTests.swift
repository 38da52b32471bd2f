import Foundation
import Testing
@testable import BertologyEngine
@testable import BertologyExperiments

/// GLUE metrics against scikit-learn and SciPy (Fixtures/metrics/metrics.json, written by
/// tools/reference/metric_fixtures.py): ties, constant vectors, single-class labels included.
@Suite struct MetricsTests {
    struct Fixture: Decodable {
        let cases: [Case]
    }

    struct Case: Decodable, Sendable, CustomStringConvertible {
        let name: String
        let metric: String
        let predictions: [Double]
        let labels: [Double]
        /// nil where the library returns NaN.
        let value: Double?
        var description: String { name }
    }

    static let cases: [Case] = {
        let url = TestPaths.fixture("metrics/metrics.json")
        guard let data = try? Data(contentsOf: url), let fixture = try? JSONDecoder().decode(Fixture.self, from: data) else {
            return []
        }
        return fixture.cases
    }()

    @Test func fixtureIsPresent() {
        #expect(Self.cases.count == 50)
    }

    /// Double against Double: 1e-12 relative covers summation order (numpy sums pairwise).
    @Test(arguments: cases)
    func metricEqualsTheReferenceLibrary(_ testCase: Case) {
        let predictions = testCase.predictions, labels = testCase.labels
        let value: Double = switch testCase.metric {
        case "accuracy": Metrics.accuracy(predictions: predictions.map { Int($0) }, labels: labels.map { Int($0) })
        case "f1": Metrics.f1(predictions: predictions.map { Int($0) }, labels: labels.map { Int($0) })
        case "mcc": Metrics.matthewsCorrelation(predictions: predictions.map { Int($0) }, labels: labels.map { Int($0) })
        case "pearson": Metrics.pearson(predictions, labels)
        case "spearman": Metrics.spearman(predictions, labels)
        default: .infinity
        }
        guard let expected = testCase.value else {
            #expect(value.isNaN, "\(testCase.name): \(value), the reference gives NaN")
            return
        }
        let tolerance = expected == 0 ? 1e-15 : 1e-12 * abs(expected)
        #expect(abs(value - expected) <= tolerance, "\(testCase.name): \(value) vs \(expected)")
    }

    @Test func tiesShareTheirAverageRank() {
        #expect(Metrics.averageRanks([3, 1, 4, 1, 5, 9, 2, 6, 5]) == [4, 1.5, 5, 1.5, 6.5, 9, 3, 8, 6.5])
        #expect(Metrics.averageRanks([2, 2, 2]) == [2, 2, 2])
        #expect(Metrics.averageRanks([]) == [])
    }

    @Test func glueMetricsPerTask() {
        let classes: [GLUELabel] = [.classIndex(1), .classIndex(0), .classIndex(1), .classIndex(1)]
        let gold: [GLUELabel] = [.classIndex(1), .classIndex(1), .classIndex(0), .classIndex(1)]
        #expect(Set(Metrics.glue(.mrpc, predictions: classes, labels: gold).keys) == [.f1, .accuracy])
        #expect(Set(Metrics.glue(.qqp, predictions: classes, labels: gold).keys) == [.f1, .accuracy])
        #expect(Set(Metrics.glue(.cola, predictions: classes, labels: gold).keys) == [.mcc])
        #expect(Set(Metrics.glue(.rte, predictions: classes, labels: gold).keys) == [.accuracy])
        let f1: Double = 4.0 / 6.0   // TP 2, FP 1, FN 1
        #expect(Metrics.glue(.mrpc, predictions: classes, labels: gold)[.f1] == f1)
        let scores: [GLUELabel] = [.score(0.1), .score(0.4), .score(0.2), .score(0.9)]
        let stsb = Metrics.glue(.stsb, predictions: scores, labels: [.score(1), .score(3), .score(1), .score(5)])
        #expect(Set(stsb.keys) == [.pearson, .spearman, .corr])
        #expect(stsb[.corr] == (stsb[.pearson]! + stsb[.spearman]!) / 2)
    }
}
