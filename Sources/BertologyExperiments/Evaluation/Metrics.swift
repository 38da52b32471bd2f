import BertologyEngine
import Foundation

/// GLUE's metrics, computed in Double exactly as scikit-learn and SciPy compute them (the
/// reference values of the tests come from those libraries).
///
/// Undefined values follow the reference libraries:
/// - `matthewsCorrelation` is 0 when either vector has a single class (scikit-learn);
/// - `pearson` and `spearman` are NaN when either vector is constant or has fewer than 2 values
///   (SciPy returns NaN for constant input); JSON writes NaN as the string "NaN";
/// - `f1` is 0 when there is no positive label and no positive prediction (scikit-learn's
///   `zero_division` default);
/// - `accuracy` of nothing is NaN.
public enum Metrics {
    /// Fraction of predictions equal to the label.
    public static func accuracy(predictions: [Int], labels: [Int]) -> Double {
        precondition(predictions.count == labels.count, "one prediction per label")
        guard !labels.isEmpty else { return .nan }
        let correct = zip(predictions, labels).reduce(0) { $0 + ($1.0 == $1.1 ? 1 : 0) }
        return Double(correct) / Double(labels.count)
    }

    /// F1 of the class `positive` (scikit-learn `f1_score(average="binary")`): 2TP / (2TP + FP + FN).
    public static func f1(predictions: [Int], labels: [Int], positive: Int = 1) -> Double {
        precondition(predictions.count == labels.count, "one prediction per label")
        var truePositives = 0, falsePositives = 0, falseNegatives = 0
        for (prediction, label) in zip(predictions, labels) {
            if prediction == positive && label == positive { truePositives += 1 }
            else if prediction == positive { falsePositives += 1 }
            else if label == positive { falseNegatives += 1 }
        }
        let denominator = 2 * truePositives + falsePositives + falseNegatives
        return denominator == 0 ? 0 : Double(2 * truePositives) / Double(denominator)
    }

    /// Matthews correlation coefficient, multi-class form (scikit-learn `matthews_corrcoef`):
    /// (c s - t.p) / sqrt((s^2 - p.p)(s^2 - t.t)) over the confusion matrix, 0 when undefined.
    public static func matthewsCorrelation(predictions: [Int], labels: [Int]) -> Double {
        precondition(predictions.count == labels.count, "one prediction per label")
        var trueCounts: [Int: Double] = [:], predictedCounts: [Int: Double] = [:]
        var correct = 0.0
        for (prediction, label) in zip(predictions, labels) {
            trueCounts[label, default: 0] += 1
            predictedCounts[prediction, default: 0] += 1
            if prediction == label { correct += 1 }
        }
        let samples = Double(labels.count)
        let classes = Set(trueCounts.keys).union(predictedCounts.keys).sorted()
        var truePredicted = 0.0, predictedSquared = 0.0, trueSquared = 0.0
        for key in classes {
            let t = trueCounts[key] ?? 0, p = predictedCounts[key] ?? 0
            truePredicted += t * p
            predictedSquared += p * p
            trueSquared += t * t
        }
        let covariance = correct * samples - truePredicted
        let predictedVariance = samples * samples - predictedSquared
        let trueVariance = samples * samples - trueSquared
        guard predictedVariance * trueVariance != 0 else { return 0 }
        return covariance / (trueVariance * predictedVariance).squareRoot()
    }

    /// cos(a, b), accumulated in Double; 0 when either vector is zero (the cosine scorer's
    /// similarity of two sentence embeddings).
    public static func cosine<A: Collection<Float>, B: Collection<Float>>(_ a: A, _ b: B) -> Double {
        precondition(a.count == b.count, "cosine of vectors of different lengths")
        var dot = 0.0, aa = 0.0, bb = 0.0
        for (x, y) in zip(a, b) {
            let (dx, dy) = (Double(x), Double(y))
            dot += dx * dy
            aa += dx * dx
            bb += dy * dy
        }
        let norms = aa.squareRoot() * bb.squareRoot()
        return norms > 0 ? dot / norms : 0
    }

    /// Pearson's r (SciPy `pearsonr`: centre, normalise, dot, clip to [-1, 1]); NaN when either
    /// vector is constant or has fewer than 2 values.
    public static func pearson(_ x: [Double], _ y: [Double]) -> Double {
        precondition(x.count == y.count, "two vectors of the same length")
        guard x.count >= 2, x.contains(where: { $0 != x[0] }), y.contains(where: { $0 != y[0] }) else { return .nan }
        let n = Double(x.count)
        let xMean = x.reduce(0, +) / n, yMean = y.reduce(0, +) / n
        var xx = 0.0, yy = 0.0
        for index in x.indices {
            let dx = x[index] - xMean, dy = y[index] - yMean
            xx += dx * dx
            yy += dy * dy
        }
        let xNorm = xx.squareRoot(), yNorm = yy.squareRoot()
        var r = 0.0
        for index in x.indices { r += ((x[index] - xMean) / xNorm) * ((y[index] - yMean) / yNorm) }
        return min(1, max(-1, r))
    }

    /// Spearman's rho: Pearson's r of the ranks, tied values sharing their average rank (SciPy
    /// `spearmanr`).
    public static func spearman(_ x: [Double], _ y: [Double]) -> Double {
        pearson(averageRanks(x), averageRanks(y))
    }

    /// 1-based ranks; tied values get the mean of the ranks they span (SciPy `rankdata("average")`).
    static func averageRanks(_ values: [Double]) -> [Double] {
        let order = values.indices.sorted { values[$0] < values[$1] }
        var ranks = [Double](repeating: 0, count: values.count)
        var start = 0
        while start < order.count {
            var end = start + 1
            while end < order.count && values[order[end]] == values[order[start]] { end += 1 }
            // Positions start..<end (0-based) hold ranks start+1...end: their mean.
            let rank = Double(start + 1 + end) / 2
            for position in start..<end { ranks[order[position]] = rank }
            start = end
        }
        return ranks
    }

    /// The task's GLUE metrics for predictions against gold labels (both classes, or both scores).
    public static func glue(_ task: GLUETask, predictions: [GLUELabel], labels: [GLUELabel]) -> [GLUEMetric: Double] {
        precondition(predictions.count == labels.count, "one prediction per label")
        var values: [GLUEMetric: Double] = [:]
        if task.isRegression {
            let predicted = predictions.map { $0.score! }, gold = labels.map { $0.score! }
            let r = pearson(predicted, gold), rho = spearman(predicted, gold)
            values[.pearson] = r
            values[.spearman] = rho
            values[.corr] = (r + rho) / 2
        } else {
            let predicted = predictions.map { $0.classIndex! }, gold = labels.map { $0.classIndex! }
            for metric in task.metrics {
                switch metric {
                case .accuracy: values[.accuracy] = accuracy(predictions: predicted, labels: gold)
                case .f1: values[.f1] = f1(predictions: predicted, labels: gold, positive: task.positiveLabel ?? 1)
                case .mcc: values[.mcc] = matthewsCorrelation(predictions: predicted, labels: gold)
                case .pearson, .spearman, .corr: break
                }
            }
        }
        return values
    }
}
