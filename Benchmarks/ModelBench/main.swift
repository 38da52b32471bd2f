// model-bench: sequences per second of a whole forward pass (random weights, full-length batches),
// optionally with every layer's attention probabilities delivered to an observer.
// Run it from a release build: `swift run --package-path Benchmarks -c release model-bench --config bert-base --batch 32 --seq 128`.
import Bertology
import Foundation
#if canImport(Glibc)
import Glibc
#endif

let usage = """
    usage: model-bench [--config bert-base|minilm-l6|FILE] [--batch B] [--seq T] [--attentions]
                       [--threads N] [--isa avx512|avx2|scalar] [--precision fp32|bf16|bf16x3|int8]
                       [--iterations N] [--warmup N] [--json]
      --config      a shape (bert-base: 12 x 12, hidden 768; minilm-l6: 6 x 12, hidden 384), a config.json
                    (BERT-shaped random weights) or a checkpoint folder of any family (its weights)
      --attentions  deliver every layer's (B,NH,T,T) probabilities to an observer that reads one
                    value per query row (as an analysis would start to)
      --precision   the model's precision (docs/PRECISION.md); bf16 without bf16 hardware: fp32 with a
                    notice; int8: AVX512-VNNI, AVX2's int16 products, or the scalar reference
    defaults: minilm-l6, batch 32, seq 128, all threads, best ISA, 1 warm-up, 10 timed iterations.
    """

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("model-bench: \(message)\n\(usage)\n".utf8))
    exit(2)
}

struct Options {
    var config = "minilm-l6"
    var batch = 32
    var seq = 128
    var attentions = false
    var threads: Int? = nil
    var isa: KernelISA? = nil
    var precision = Precision.fp32
    var iterations = 10
    var warmup = 1
    var json = false
}

func parseOptions() -> Options {
    var options = Options()
    var arguments = CommandLine.arguments.dropFirst()
    func value(_ flag: String) -> String {
        guard let next = arguments.popFirst() else { fail("\(flag) needs a value") }
        return next
    }
    func positive(_ flag: String) -> Int {
        guard let n = Int(value(flag)), n >= 1 else { fail("\(flag) needs a positive integer") }
        return n
    }
    while let argument = arguments.popFirst() {
        switch argument {
        case "--config": options.config = value(argument)
        case "--batch": options.batch = positive(argument)
        case "--seq": options.seq = positive(argument)
        case "--attentions": options.attentions = true
        case "--threads": options.threads = positive(argument)
        case "--isa":
            let name = value(argument)
            guard let isa = KernelISA(rawValue: name) else { fail("unknown ISA \(name)") }
            guard isa.isSupported else { fail("this CPU cannot run \(name)") }
            options.isa = isa
        case "--precision":
            let name = value(argument)
            guard let precision = Precision(rawValue: name) else { fail("unknown precision \(name) (fp32, bf16, bf16x3 or int8)") }
            options.precision = precision
        case "--iterations": options.iterations = positive(argument)
        case "--warmup":
            guard let n = Int(value(argument)), n >= 0 else { fail("--warmup needs a count") }
            options.warmup = n
        case "--json": options.json = true
        case "-h", "--help": print(usage); exit(0)
        default: fail("unknown argument \(argument)")
        }
    }
    return options
}

/// Reads one probability per query row of every map: the observer is called, the values are
/// touched, and the cost stays far below the forward pass (a real analysis folds more).
final class TouchingObserver: AttentionObserver {
    var checksum: Double = 0

    func observe(_ attention: LayerAttention) {
        let t = attention.sequenceLength
        var sum: Float = 0
        var index = 0
        let count = attention.probabilities.count
        while index < count {
            sum += attention.probabilities[index]
            index += t
        }
        checksum += Double(sum)
    }
}

func now() -> Double {
    var time = timespec()
    clock_gettime(CLOCK_MONOTONIC, &time)
    return Double(time.tv_sec) + 1e-9 * Double(time.tv_nsec)
}

struct Statistics: Codable {
    let median: Double
    let min: Double
    let max: Double

    init(_ values: [Double]) {
        let sorted = values.sorted()
        median = sorted.count % 2 == 1 ? sorted[sorted.count / 2]
            : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
        min = sorted.first!
        max = sorted.last!
    }
}

struct Report: Codable {
    let config: String
    let layers: Int
    let hiddenSize: Int
    let batch: Int
    let seq: Int
    let attentions: Bool
    let threads: Int
    let isa: String
    let precision: String
    let precisionBackend: String
    let sequencesPerSecond: Statistics
    let gflops: Statistics
    let secondsPerBatch: [Double]
}

let options = parseOptions()
let config: BertConfig
var checkpoint: BertModel?
switch options.config {
case "bert-base": config = .bertBase
case "minilm-l6": config = .miniLML6
case let path:
    var isFolder: ObjCBool = false
    if FileManager.default.fileExists(atPath: path, isDirectory: &isFolder), isFolder.boolValue {
        // A checkpoint folder of any family: its own weights, so the family's path is what runs.
        do { checkpoint = try BertModel.load(folder: URL(fileURLWithPath: path)) } catch { fail("\(error)") }
        config = checkpoint!.config
    } else {
        do { config = try BertConfig.load(from: URL(fileURLWithPath: path)) } catch { fail("\(error)") }
    }
}
guard options.seq <= config.maxSequenceLength else { fail("--seq exceeds the model's longest sequence (\(config.maxSequenceLength))") }
if let threads = options.threads { Kernels.setThreads(threads) }
if let isa = options.isa { Kernels.setISA(isa) }

let precision = Precision.choose(options.precision)
if let notice = precision.notice {
    FileHandle.standardError.write(Data("model-bench: notice: \(notice.replacingOccurrences(of: "`precision`", with: "--precision"))\n".utf8))
}
let model = (checkpoint ?? BertModel.random(config: config, seed: 42)).with(precision: precision.precision)
var generator = SeededGenerator(seed: 7)
let rows: [[Int32]] = (0..<options.batch).map { _ in
    (0..<options.seq).map { _ in Int32(generator.next() % UInt64(config.vocabSize)) }
}
let batch = Batch(inputIds: rows)
let session = InferenceSession(model: model)
let observer: TouchingObserver? = options.attentions ? TouchingObserver() : nil

// Matrix products of one forward pass: per layer QKV (3C), attention output (C), FFN in (I) and out,
// plus QKᵀ and PV per head; the pooler is negligible and not counted.
let (b, t, c, i) = (Double(options.batch), Double(options.seq), Double(config.hiddenSize), Double(config.intermediateSize))
let flopsPerLayer = 2 * b * t * (3 * c * c + c * c + 2 * c * i) + 4 * b * t * t * c
let flops = Double(config.numHiddenLayers) * flopsPerLayer

do {
    for _ in 0..<options.warmup { try session.forward(batch, observer: observer) }
    var seconds: [Double] = []
    for _ in 0..<options.iterations {
        let start = now()
        try session.forward(batch, observer: observer)
        seconds.append(now() - start)
    }
    let report = Report(
        config: options.config, layers: config.numHiddenLayers, hiddenSize: config.hiddenSize,
        batch: options.batch, seq: options.seq, attentions: options.attentions, threads: Kernels.maxThreads,
        isa: KernelISA.active.rawValue, precision: precision.precision.rawValue,
        precisionBackend: precision.backend.rawValue, sequencesPerSecond: Statistics(seconds.map { b / $0 }),
        gflops: Statistics(seconds.map { flops / $0 / 1e9 }), secondsPerBatch: seconds)
    if options.json {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        encoder.keyEncodingStrategy = .convertToSnakeCase
        print(String(decoding: try encoder.encode(report), as: UTF8.self))
    } else {
        let s = report.sequencesPerSecond, g = report.gflops
        print(String(format: "%@ (%d layers, hidden %d), batch %d x seq %d%@, %d threads, %@, %@ (%@):",
                     options.config, config.numHiddenLayers, config.hiddenSize, options.batch, options.seq,
                     options.attentions ? ", attentions to an observer" : "", report.threads, report.isa,
                     report.precision, report.precisionBackend))
        print(String(format: "  %.2f seq/s median (min %.2f, max %.2f), %.1f GFLOP/s median (min %.1f, max %.1f)",
                     s.median, s.min, s.max, g.median, g.min, g.max))
    }
} catch {
    FileHandle.standardError.write(Data("model-bench: \(error)\n".utf8))
    exit(1)
}
