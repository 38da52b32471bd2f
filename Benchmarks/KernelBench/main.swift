// kernel-bench: GFLOP/s of the C kernels on BERT shapes, per kernel, per instruction set, per thread
// count, and the fraction of the peak this machine reaches, measured here with an FMA loop
// (bench_fma_probe). Run it from a release build: `swift run --package-path Benchmarks -c release kernel-bench [--json]`.
import Bertology
@_spi(Benchmarks) import BertologyEngine
import CKernels
import FMAProbe
import Foundation

let usage = """
    usage: kernel-bench [--kernel linear,linear-bf16,linear-int8,linear-backward,pieces,attention,layernorm,gelu] [--isa avx512,avx2,scalar|all|best]
                        [--threads 1,2] [--shapes bert|small|MxNxK,...] [--precision fp32,bf16,bf16x3,int8] [--repeats N] [--json]
      linear      packed GEMM (weights packed once, as the model does), out = inp (M,K) · W (N,K)ᵀ
      linear-bf16 the same with bf16 operands and fp32 accumulation, and bf16x3 (hi + lo split, 3 products) (AVX512-BF16 where the CPU has it,
                  else the scalar emulation: not measured then), weights packed once in bf16 pairs
      linear-int8 the same with int8 weights (per channel, packed once) and u8 activations quantized per row per
                  call, exact int32 sums (AVX512-VNNI under avx512 where the CPU has it, else AVX2's int16 products);
                  GFLOP/s counts 2 M N K as for fp32
      linear-backward  the fine-tuning gradients of the same shapes, apart: linear-dx d_inp (M,K) =
                  d_out (M,N) · W (N,K), linear-dw d_weight (N,K) += d_outᵀ · inp (plain weight)
      pieces      the packed GEMM apart (AVX-512, AVX2): the 12x32 register work alone on packed panels
                  resident in L1, in L2 and beyond L2 (each thread its own panels), as % of the
                  peak; packing 384 activation rows (the forward's block) against memcpy, in GB/s
      attention   B=32, 12 heads of 64, T=128, probabilities kept (QKᵀ and PV flops)
      layernorm   (M, 768) rows;  gelu  M x 3072 values
      --precision the linear layer's forms that linear and linear-bf16 measure (fp32: linear; bf16 and
                  bf16x3: linear-bf16's two forms; int8: linear-int8); default all four. The bf16 hardware found (AMX,
                  AVX512-BF16) is printed first.
    defaults: every kernel, the SIMD paths this CPU runs, 1 and all threads, BERT shapes, 7 repeats.
    """

// MARK: - Options

struct Options {
    var kernels = ["linear", "linear-bf16", "linear-int8", "linear-backward", "pieces", "attention", "layernorm", "gelu"]
    var isas = KernelISA.allCases.filter { $0 != .scalar && $0.isSupported }
    var threads = Array(Set([1, Kernels.maxThreads])).sorted()
    var shapes: String? = nil
    var precisions = Precision.allCases
    var repeats = 7
    var json = false
}

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("kernel-bench: \(message)\n\(usage)\n".utf8))
    exit(2)
}

func parseOptions() -> Options {
    var options = Options()
    var arguments = CommandLine.arguments.dropFirst()
    func value(_ flag: String) -> String {
        guard let next = arguments.popFirst() else { fail("\(flag) needs a value") }
        return next
    }
    while let argument = arguments.popFirst() {
        switch argument {
        case "--kernel", "--kernels": options.kernels = value(argument).split(separator: ",").map(String.init)
        case "--isa":
            let spec = value(argument)
            if spec == "all" { options.isas = KernelISA.allCases.filter(\.isSupported) }
            else if spec == "best" { options.isas = [KernelISA.bestSupported] }
            else {
                options.isas = spec.split(separator: ",").map { name in
                    guard let isa = KernelISA(rawValue: String(name)) else { fail("unknown ISA \(name)") }
                    guard isa.isSupported else { fail("this CPU cannot run \(name)") }
                    return isa
                }
            }
        case "--threads":
            options.threads = value(argument).split(separator: ",").map {
                guard let n = Int($0), n >= 1 else { fail("bad thread count \($0)") }
                return n
            }
        case "--shapes": options.shapes = value(argument)
        case "--precision":
            options.precisions = value(argument).split(separator: ",").map { name in
                guard let precision = Precision(rawValue: String(name)) else { fail("unknown precision \(name) (fp32, bf16, bf16x3 or int8)") }
                return precision
            }
        case "--repeats":
            guard let n = Int(value(argument)), n >= 1 else { fail("--repeats needs a positive integer") }
            options.repeats = n
        case "--json": options.json = true
        case "-h", "--help": print(usage); exit(0)
        default: fail("unknown argument \(argument)")
        }
    }
    for kernel in options.kernels where !["linear", "linear-bf16", "linear-int8", "linear-backward", "pieces", "attention", "layernorm", "gelu"].contains(kernel) {
        fail("unknown kernel \(kernel)")
    }
    return options
}

// MARK: - Timing

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

/// GFLOP/s of each of `repeats` timed calls of `body` (after one untimed call).
func measure(flops: Double, repeats: Int, _ body: () -> Void) -> [Double] {
    body()
    return (0..<repeats).map { _ in
        let start = now()
        body()
        return flops / (now() - start) / 1e9
    }
}

func randomValues(_ count: Int, seed: UInt64, scale: Float = 1) -> [Float] {
    var generator = SeededGenerator(seed: seed)
    return (0..<count).map { _ in scale * (Float(generator.next() >> 40) / Float(1 << 24) - 0.5) }
}

// MARK: - Kernels

struct Result: Codable {
    let kernel: String
    let shape: String
    let isa: String
    let threads: Int
    let gflops: Statistics
    let percentOfPeak: Double
}

struct Peak: Codable {
    let isa: String
    let threads: Int
    let gflops: Statistics
}

struct Report: Codable {
    let peak: [Peak]
    let results: [Result]
}

func linearShapes(_ spec: String?) -> [(Int, Int, Int)] {
    // (M, N, K): tokens x outputs x inputs. bert: the three bert-base projections at batch 32 x 128
    // tokens (attention output, FFN in, FFN out); small: one sequence of 32 tokens (QKV, FFN in, out).
    let bert = [(4096, 768, 768), (4096, 3072, 768), (4096, 768, 3072)]
    let small = [(32, 2304, 768), (32, 3072, 768), (32, 768, 3072)]
    switch spec {
    case nil, "bert": return bert
    case "small": return small
    case "all": return bert + small
    case let spec?:
        return spec.split(separator: ",").map { item in
            let parts = item.split(separator: "x").compactMap { Int($0) }
            guard parts.count == 3, parts.allSatisfy({ $0 >= 1 }) else { fail("bad shape \(item) (MxNxK)") }
            return (parts[0], parts[1], parts[2])
        }
    }
}

/// Zeroed floats in memory laid out as the model's tensors are (`TensorStorage`): 2 MB pages, with
/// MADV_HUGEPAGE, for buffers of 2 MB or more, so the benchmark sees the model's TLB behaviour.
final class Buffer {
    let pointer: UnsafeMutablePointer<Float>
    let count: Int

    init(_ count: Int) {
        let huge = 2 << 20
        var bytes = max(1, count) * 4
        let raw: UnsafeMutableRawPointer
        if bytes >= huge {
            bytes = (bytes + huge - 1) / huge * huge
            raw = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: huge)
            #if os(Linux)
            _ = madvise(raw, bytes, MADV_HUGEPAGE)
            #endif
        } else {
            raw = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
        }
        raw.initializeMemory(as: UInt8.self, repeating: 0, count: bytes)
        pointer = raw.bindMemory(to: Float.self, capacity: max(1, count))
        self.count = count
    }

    convenience init(_ values: [Float]) {
        self.init(values.count)
        pointer.update(from: values, count: values.count)
    }

    deinit { UnsafeMutableRawPointer(pointer).deallocate() }
}

func benchLinear(_ m: Int, _ n: Int, _ k: Int, repeats: Int) -> [Double] {
    let input = Buffer(randomValues(m * k, seed: 1)), weight = randomValues(n * k, seed: 2)
    let bias = Buffer(randomValues(n, seed: 3))
    let packed = Buffer(ck_pack_weight_size(Int32(n), Int32(k)))
    ck_pack_weight(packed.pointer, weight, Int32(n), Int32(k))
    let workspace = Buffer(ck_linear_workspace_size(Int32(Kernels.maxThreads)))
    let out = Buffer(m * n)
    var epilogue = ck_linear_epilogue()
    epilogue.bias = UnsafePointer(bias.pointer)
    return measure(flops: 2 * Double(m) * Double(n) * Double(k), repeats: repeats) {
        ck_linear_packed_forward(out.pointer, input.pointer, packed.pointer, &epilogue, Int32(m), Int32(n), Int32(k),
                                 workspace.pointer, workspace.count)
    }
}

func benchLinearBF16(_ m: Int, _ n: Int, _ k: Int, terms: Int, repeats: Int) -> [Double] {
    let input = Buffer(randomValues(m * k, seed: 1)), weight = randomValues(n * k, seed: 2)
    let bias = Buffer(randomValues(n, seed: 3))
    let packed = UnsafeMutablePointer<UInt32>.allocate(capacity: ck_pack_weight_bf16_size(Int32(n), Int32(k), Int32(terms)))
    defer { packed.deallocate() }
    ck_pack_weight_bf16(packed, weight, Int32(n), Int32(k), Int32(terms))
    let workspace = Buffer(ck_linear_workspace_size(Int32(Kernels.maxThreads)))
    let out = Buffer(m * n)
    var epilogue = ck_linear_epilogue()
    epilogue.bias = UnsafePointer(bias.pointer)
    return measure(flops: 2 * Double(m) * Double(n) * Double(k), repeats: repeats) {
        ck_linear_bf16_forward(out.pointer, input.pointer, packed, Int32(terms), &epilogue, Int32(m), Int32(n), Int32(k),
                               workspace.pointer, workspace.count)
    }
}

func benchLinearInt8(_ m: Int, _ n: Int, _ k: Int, repeats: Int) -> [Double] {
    let input = Buffer(randomValues(m * k, seed: 1)), weight = randomValues(n * k, seed: 2)
    let bias = Buffer(randomValues(n, seed: 3))
    let packed = UnsafeMutablePointer<UInt32>.allocate(capacity: ck_pack_weight_int8_size(Int32(n), Int32(k)))
    defer { packed.deallocate() }
    ck_pack_weight_int8(packed, weight, Int32(n), Int32(k))
    let workspace = Buffer(ck_linear_workspace_size(Int32(Kernels.maxThreads)))
    let out = Buffer(m * n)
    var epilogue = ck_linear_epilogue()
    epilogue.bias = UnsafePointer(bias.pointer)
    return measure(flops: 2 * Double(m) * Double(n) * Double(k), repeats: repeats) {
        ck_linear_int8_forward(out.pointer, input.pointer, packed, &epilogue, Int32(m), Int32(n), Int32(k),
                               workspace.pointer, workspace.count)
    }
}

/// One half of ck_linear_backward: d_inp alone (`inputGradient`) or d_weight alone, 2 M N K flops.
func benchLinearBackward(_ m: Int, _ n: Int, _ k: Int, inputGradient: Bool, repeats: Int) -> [Double] {
    let dOut = Buffer(randomValues(m * n, seed: 1)), input = Buffer(randomValues(m * k, seed: 2))
    let weight = Buffer(randomValues(n * k, seed: 3))
    let dInput = Buffer(m * k), dWeight = Buffer(n * k)
    let workspace = Buffer(max(1, ck_linear_backward_workspace_size(Int32(m), Int32(n), Int32(k), Int32(Kernels.maxThreads))))
    return measure(flops: 2 * Double(m) * Double(n) * Double(k), repeats: repeats) {
        ck_linear_backward(inputGradient ? dInput.pointer : nil, inputGradient ? nil : dWeight.pointer, nil,
                           dOut.pointer, input.pointer, weight.pointer, Int32(m), Int32(n), Int32(k),
                           workspace.pointer, workspace.count)
    }
}

/// The register kernel alone: `panels` pairs of packed panels per thread (12 x kc and kc x 32), each
/// pass over them `reps` times; the working set per thread is panels x 44 x kc x 4 bytes.
func benchTiles(kc: Int, panels: Int, threads: Int, repeats: Int) -> [Double]? {
    let a = Buffer(randomValues(threads * panels * 12 * kc, seed: 1)), b = Buffer(randomValues(threads * panels * kc * 32, seed: 2))
    let c = Buffer(threads * 12 * 32)
    let flopsPerRep = 2 * 12 * 32 * Double(kc) * Double(panels) * Double(threads)
    let reps = max(1, Int(2e9 / flopsPerRep))
    guard ck_gemm_piece_tiles(a.pointer, b.pointer, c.pointer, Int32(kc), Int32(panels), 1, Int32(threads)) == 1 else { return nil }
    return measure(flops: flopsPerRep * Double(reps), repeats: repeats) {
        _ = ck_gemm_piece_tiles(a.pointer, b.pointer, c.pointer, Int32(kc), Int32(panels), Int32(reps), Int32(threads))
    }
}

/// GB/s of the forward's activation packing (rows x k, read once, written once) and of a memcpy of
/// the same bytes, one thread, the block resident in L2 (384 x 768 floats, 1.2 MB).
func benchPacking(rows: Int, k: Int, kc: Int, repeats: Int) -> (pack: [Double], copy: [Double])? {
    let source = Buffer(randomValues(rows * k, seed: 3)), packed = Buffer((rows + 11) / 12 * 12 * k)
    let copy = Buffer(rows * k)
    guard ck_gemm_piece_pack(packed.pointer, source.pointer, Int32(rows), Int32(k), Int32(kc)) == 1 else { return nil }
    let bytes = Double(rows * k * 4) / 1e9 * 20  // GB per 20 passes; measure divides by 1e9 again
    let pack = measure(flops: bytes * 1e9, repeats: repeats) {
        for _ in 0..<20 { _ = ck_gemm_piece_pack(packed.pointer, source.pointer, Int32(rows), Int32(k), Int32(kc)) }
    }
    let plain = measure(flops: bytes * 1e9, repeats: repeats) {
        for _ in 0..<20 { memcpy(copy.pointer, source.pointer, rows * k * 4) }
    }
    return (pack, plain)
}

func benchAttention(batch: Int, t: Int, headSize: Int, repeats: Int) -> [Double] {
    let heads = 12, c = heads * headSize
    let qkv = randomValues(batch * t * 3 * c, seed: 4, scale: 4)
    let lengths = [Int32](repeating: Int32(t), count: batch)
    var context = [Float](repeating: 0, count: batch * t * c)
    var probabilities = [Float](repeating: 0, count: batch * heads * t * t)
    var workspace = [Float](repeating: 0, count: ck_attention_workspace_size(Int32(t), Int32(headSize), Int32(Kernels.maxThreads)))
    // QKᵀ and PV: 2 x 2 T T HS per head (softmax not counted).
    let flops = 4 * Double(batch * heads) * Double(t * t) * Double(headSize)
    return measure(flops: flops, repeats: repeats) {
        ck_attention_forward(&context, &probabilities, qkv, lengths, nil, Int32(batch), Int32(t), Int32(heads),
                             Int32(headSize), 1 / Float(headSize).squareRoot(), &workspace, workspace.count)
    }
}

func benchLayernorm(rows: Int, c: Int, repeats: Int) -> [Double] {
    let x = randomValues(rows * c, seed: 5), weight = randomValues(c, seed: 6), bias = randomValues(c, seed: 7)
    var out = [Float](repeating: 0, count: rows * c)
    // About 8 flops per value (two sums, subtract, scale, fma); memory-bound in practice.
    return measure(flops: 8 * Double(rows * c), repeats: repeats) {
        ck_layernorm_forward(&out, x, weight, bias, Int32(rows), Int32(c), 1e-12)
    }
}

func benchGelu(count: Int, repeats: Int) -> [Double] {
    let x = randomValues(count, seed: 8, scale: 6)
    var out = [Float](repeating: 0, count: count)
    // Counted as 30 flops per value (the rational erf and the product), as is usual for GELU.
    return measure(flops: 30 * Double(count), repeats: repeats) { ck_gelu_forward(&out, x, count) }
}

// MARK: - Main

let options = parseOptions()
nonisolated(unsafe) var peaks: [Peak] = []
nonisolated(unsafe) var results: [Result] = []
let originalThreads = Kernels.maxThreads

func log(_ line: String) {
    if !options.json { print(line) }
}

do {
    var l1d = 0, l2 = 0, l3 = 0
    var rows: Int32 = 0, group: Int32 = 0, rows256: Int32 = 0, group256: Int32 = 0
    ck_cache_sizes(&l1d, &l2, &l3)
    ck_gemm_blocking(&rows, &group)
    ck_gemm_blocking_avx2(&rows256, &group256)
    log("bf16 hardware: \(BF16Hardware.detected) (AMX kernel: written, never chosen: untested on AMX hardware)")
    log("caches (sysconf): L1d \(l1d >> 10) KB, L2 \(l2 >> 10) KB, L3 \(l3 >> 20) MB; GEMM blocking: \(rows) rows per activation block, \(group) weight panels per L2 group (avx2: \(rows256) rows, \(group256) panels)")
}
for isa in options.isas {
    for threads in options.threads {
        Kernels.setThreads(threads)
        _ = Kernels.withISA(isa) {
            // The peak: independent FMA chains on every thread, best of 5 (an upper bound).
            let iterations = isa == .scalar ? 20_000_000 : 10_000_000
            let samples = measure(flops: bench_fma_probe(iterations), repeats: 5) { _ = bench_fma_probe(iterations) }
            let peak = Statistics(samples)
            peaks.append(Peak(isa: isa.rawValue, threads: threads, gflops: peak))
            log(String(format: "%@, %d thread%@: measured peak %.1f GFLOP/s (FMA loop, best of 5)",
                       isa.rawValue, threads, threads == 1 ? "" : "s", peak.max))
            func record(_ kernel: String, _ shape: String, _ samples: [Double]) {
                let statistics = Statistics(samples)
                let result = Result(kernel: kernel, shape: shape, isa: isa.rawValue, threads: threads,
                                    gflops: statistics, percentOfPeak: 100 * statistics.median / peak.max)
                results.append(result)
                log(String(format: "  %-10@ %-18@ median %7.1f GFLOP/s (min %6.1f, max %6.1f)  %5.1f%% of peak",
                           kernel, shape, statistics.median, statistics.min, statistics.max, result.percentOfPeak))
            }
            // The scalar path is the readable oracle, 50x slower: fewer repeats keep the run short.
            let repeats = isa == .scalar ? max(1, options.repeats / 4) : options.repeats
            for kernel in options.kernels {
                switch kernel {
                case "linear":
                    guard options.precisions.contains(.fp32) else { break }
                    for (m, n, k) in linearShapes(options.shapes) {
                        record("linear", "\(m)x\(n)x\(k)", benchLinear(m, n, k, repeats: repeats))
                    }
                case "linear-bf16":
                    guard isa == .avx512, ck_cpu().pointee.avx512_bf16 == 1 else {
                        log("  linear-bf16: skipped (no AVX512-BF16 on this CPU, or not the AVX-512 path)")
                        break
                    }
                    // % of the bf16 instruction's own peak (VDPBF16PS chains, best of 5), beside the FMA one.
                    let bf16Peak = measure(flops: bench_bf16_probe(iterations), repeats: 5) { _ = bench_bf16_probe(iterations) }.max()!
                    log(String(format: "  bf16 dot-product peak (VDPBF16PS loop, best of 5): %.1f GFLOP/s", bf16Peak))
                    for (m, n, k) in linearShapes(options.shapes) {
                        for (name, terms) in [("linear-bf16", 1), ("linear-bf16x3", 3)]
                        where options.precisions.contains(terms == 1 ? .bf16 : .bf16x3) {
                            // bf16x3 does three dot products per pair: its useful flops are a third of the work.
                            let samples = benchLinearBF16(m, n, k, terms: terms, repeats: repeats)
                            record(name, "\(m)x\(n)x\(k)", samples)
                            log(String(format: "    = %.1f%% of the bf16 dot-product peak (counting %d product%@ per pair)",
                                       100 * Double(terms) * Statistics(samples).median / bf16Peak, terms, terms == 1 ? "" : "s"))
                        }
                    }
                case "linear-int8":
                    guard options.precisions.contains(.int8) else { break }
                    for (m, n, k) in linearShapes(options.shapes) {
                        record("linear-int8", "\(m)x\(n)x\(k)", benchLinearInt8(m, n, k, repeats: repeats))
                    }
                case "linear-backward":
                    for (m, n, k) in linearShapes(options.shapes) {
                        record("linear-dx", "\(m)x\(n)x\(k)", benchLinearBackward(m, n, k, inputGradient: true, repeats: repeats))
                        record("linear-dw", "\(m)x\(n)x\(k)", benchLinearBackward(m, n, k, inputGradient: false, repeats: repeats))
                    }
                case "pieces":
                    // This host's speed drifts by tens of percent within minutes (the FMA peak measured
                    // 226-340 GFLOP/s on 2 threads in one hour), so each round measures the peak and then
                    // every piece, and a piece is its per-round ratio to that round's peak: median and
                    // min-max over the rounds. Per thread: L1 = 1 pair of panels at kc 128 (22 KB), L2 =
                    // 40 pairs (0.9 MB), beyond L2 = 800 pairs (18 MB); the full GEMM for comparison.
                    var pieces: [(String, String, () -> Double?)] = [("L1", 1), ("L2", 40), ("L3", 800)].map { level, panels in
                        ("tiles-\(level)", "12x32x128 x\(panels)", {
                            benchTiles(kc: 128, panels: panels, threads: threads, repeats: 3).map { Statistics($0).median }
                        })
                    }
                    pieces.append(("linear", "4096x768x768", { Statistics(benchLinear(4096, 768, 768, repeats: 3)).median }))
                    var rates = [[Double]](repeating: [], count: pieces.count), ratios = rates
                    var packRatios: [Double] = [], packRates: [Double] = []
                    for _ in 0..<repeats {
                        let roundPeak = measure(flops: bench_fma_probe(iterations), repeats: 3) { _ = bench_fma_probe(iterations) }.max()!
                        for (index, piece) in pieces.enumerated() {
                            guard let rate = piece.2() else { continue }
                            rates[index].append(rate)
                            ratios[index].append(rate / roundPeak)
                        }
                        if threads == 1, let (pack, copy) = benchPacking(rows: 384, k: 768, kc: 384, repeats: 3) {
                            packRates.append(Statistics(pack).median)
                            packRatios.append(Statistics(pack).median / Statistics(copy).median)
                        }
                    }
                    for (index, piece) in pieces.enumerated() where !rates[index].isEmpty {
                        let ratio = Statistics(ratios[index])
                        results.append(Result(kernel: piece.0, shape: piece.1, isa: isa.rawValue, threads: threads,
                                              gflops: Statistics(rates[index]), percentOfPeak: 100 * ratio.median))
                        log(String(format: "  %-10@ %-18@ median %7.1f GFLOP/s; of the round's peak: median %5.1f%% (%4.1f-%4.1f%%) over %d rounds",
                                   piece.0, piece.1, Statistics(rates[index]).median, 100 * ratio.median, 100 * ratio.min,
                                   100 * ratio.max, rates[index].count))
                    }
                    if !packRates.isEmpty {
                        let ratio = Statistics(packRatios)
                        log(String(format: "  %-10@ %-18@ median %7.1f GB/s; against memcpy of the same bytes: median %.2fx (%.2f-%.2fx)",
                                   "pack-A", "384x768", Statistics(packRates).median, ratio.median, ratio.min, ratio.max))
                    }
                case "attention":
                    record("attention", "32x128x64", benchAttention(batch: 32, t: 128, headSize: 64, repeats: repeats))
                case "layernorm":
                    record("layernorm", "4096x768", benchLayernorm(rows: 4096, c: 768, repeats: repeats))
                case "gelu":
                    record("gelu", "4096x3072", benchGelu(count: 4096 * 3072, repeats: repeats))
                default: break
                }
            }
        }
    }
}
Kernels.setThreads(originalThreads)

if options.json {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    encoder.keyEncodingStrategy = .convertToSnakeCase
    print(String(decoding: try encoder.encode(Report(peak: peaks, results: results)), as: UTF8.self))
}
