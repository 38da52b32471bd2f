// analysis-bench: how much the attention analyses add to plain inference.
//
//   swift run --package-path Benchmarks -c release analysis-bench [--task SST-2] [--split dev] [--limit 1000] [--seed 42]
//                                           [--data DIR] [--model DIR] [--repeats 5] [--token-budget N] [--json]
//
// Runs the same prepared batches (the one batcher; the analyses' default token budget unless
// --token-budget) in three modes, interleaved so
// that load from other processes hits them alike, `--repeats` times each:
//   plain      InferenceSession.forward with no observer (what an evaluation does);
//   observed   an observer that does nothing (the forward pass writes the probabilities out);
//   analyzed   special tokens + entropy + pattern types in one AnalyzerGroup (what `analyze` runs).
// Prints the best and median seconds per mode and the ratio analyzed / plain (the budget: 1.5).
import Bertology
import Foundation

final class NoOpObserver: AttentionObserver {
    func observe(_ attention: LayerAttention) {}
}

func option(_ name: String, _ fallback: String?) -> String? {
    let arguments = CommandLine.arguments
    guard let index = arguments.firstIndex(of: name), index + 1 < arguments.count else { return fallback }
    return arguments[index + 1]
}

func seconds(_ body: () throws -> Void) rethrows -> Double {
    let start = DispatchTime.now().uptimeNanoseconds
    try body()
    return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
}

/// User + system CPU seconds of this process so far: steadier than wall time on a shared machine.
func cpuSeconds() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    func value(_ time: timeval) -> Double { Double(time.tv_sec) + Double(time.tv_usec) / 1e6 }
    return value(usage.ru_utime) + value(usage.ru_stime)
}

do {
    let task = try GLUETask(parsing: option("--task", "SST-2")!)
    let split = try GLUESplit(parsing: option("--split", "dev")!)
    let limit = Int(option("--limit", "1000")!)!
    let seed = UInt64(option("--seed", "42")!)!
    let repeats = Int(option("--repeats", "5")!)!
    let folder = URL(fileURLWithPath: option("--data", nil) ?? DefaultPaths.glue()?.path ?? "../shared/data/glue")
    let modelFolder = option("--model", nil).map { URL(fileURLWithPath: $0) } ?? DefaultPaths.model()
    let checkpoint = try Checkpoint.load(modelFolder)
    let model = checkpoint.model
    let dataset = try GLUEDataset.load(task: task, split: split, folder: folder).sampled(limit: limit, seed: seed)
    let encodings = dataset.examples.map { checkpoint.tokenizer.encode($0.textA, pair: task.isPair ? $0.textB : nil, maxLength: 512) }
    let budget = Int(option("--token-budget", String(AnalysisOptions.defaultTokenBudget))!)!
    let sequences = BatchedSequences(encodings: encodings, padId: checkpoint.tokenizer.padId,
                                     batcher: Batcher(tokenBudget: budget))
    let classes = TokenClasses(tokenizer: checkpoint.tokenizer)
    let session = InferenceSession(model: model)

    func pass(_ mode: String) throws -> (seconds: Double, analyzerSeconds: Double, cpu: Double) {
        var group: AnalyzerGroup?
        if mode == "analyzed" {
            group = AnalyzerGroup([
                SpecialTokenAttention(layerCount: model.layerCount, headCount: model.headCount, tokenClasses: classes),
                AttentionEntropy(layerCount: model.layerCount, headCount: model.headCount, tokenClasses: classes),
                AttentionPatternTypes(layerCount: model.layerCount, headCount: model.headCount, tokenClasses: classes),
            ], tokenClasses: classes)
        }
        var observer: (any AttentionObserver)?
        if mode == "observed" { observer = NoOpObserver() }
        if let group { observer = group }
        let cpuStart = cpuSeconds()
        let elapsed = try seconds {
            for prepared in sequences.batches {
                group?.beginBatch(rows: prepared.rows, batch: prepared.batch)
                try session.forward(prepared.batch, observer: observer)
            }
        }
        return (elapsed, group?.seconds ?? 0, cpuSeconds() - cpuStart)
    }

    let modes = ["plain", "observed", "analyzed"]
    _ = try pass("analyzed")  // warm-up: buffers reach their largest size, pages are touched
    var times: [String: [Double]] = [:], cpu: [String: [Double]] = [:], analyzerTimes: [Double] = []
    for _ in 0..<repeats {
        for mode in modes {
            let (elapsed, inside, used) = try pass(mode)
            times[mode, default: []].append(elapsed)
            cpu[mode, default: []].append(used)
            if mode == "analyzed" { analyzerTimes.append(inside) }
        }
    }
    func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }
    let ratio = median(times["analyzed"]!) / median(times["plain"]!)
    let bestRatio = times["analyzed"]!.min()! / times["plain"]!.min()!
    if CommandLine.arguments.contains("--json") {
        let summary: [String: Any] = [
            "task": task.name, "token_budget": budget, "split": split.rawValue, "examples": dataset.count, "tokens": sequences.tokenCount,
            "padded_tokens": sequences.paddedTokenCount, "batches": sequences.batches.count, "repeats": repeats,
            "best_seconds": Dictionary(uniqueKeysWithValues: modes.map { ($0, times[$0]!.min()!) }),
            "median_seconds": Dictionary(uniqueKeysWithValues: modes.map { ($0, median(times[$0]!)) }),
            "median_cpu_seconds": Dictionary(uniqueKeysWithValues: modes.map { ($0, median(cpu[$0]!)) }),
            "median_analyzer_seconds": median(analyzerTimes), "ratio_median": ratio, "ratio_best": bestRatio,
        ]
        print(String(decoding: try JSONSerialization.data(withJSONObject: summary, options: [.sortedKeys]), as: UTF8.self))
    } else {
        print("\(task) \(split): token budget \(budget), \(dataset.count) examples, \(sequences.tokenCount) tokens (\(sequences.paddedTokenCount) padded) in \(sequences.batches.count) batches; \(repeats) repeats, interleaved")
        for mode in modes {
            print(String(format: "  %-9@ best %.3f s   median %.3f s   median CPU %.3f s", mode as NSString,
                         times[mode]!.min()!, median(times[mode]!), median(cpu[mode]!)))
        }
        print(String(format: "  analyzers alone (inside the observer): median %.3f s", median(analyzerTimes)))
        print(String(format: "  analyzed / plain: %.3f (medians), %.3f (best runs), %.3f (median CPU)", ratio, bestRatio,
                     median(cpu["analyzed"]!) / median(cpu["plain"]!)))
    }
} catch let error as BertologyError {
    FileHandle.standardError.write(Data("analysis-bench: \(error.description)\n".utf8))
    exit(error.exitStatus)
}
