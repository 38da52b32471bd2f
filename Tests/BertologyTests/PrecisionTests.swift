import Foundation
import Testing
import CKernels
@testable import BertologyEngine
@testable import BertologyExperiments

/// The bf16 precisions (docs/PRECISION.md): the model against transformers fp32 within the bounds
/// each mode promises, the same bits on 1 and 2 threads, the fallback and its notice, the option on
/// the command line, and the ablation journal refusing to mix precisions.
@Suite(.serialized) struct PrecisionTests {
    /// Bounds against transformers fp32 on the default model's 31 reference inputs (measured here,
    /// docs/PRECISION.md: bf16x3 attentions 2.4e-5, hidden 3.3e-4; bf16 attentions 0.015, hidden
    /// 0.04 on real tokens, 0.2 on padding rows). bf16x3: the issue's targets (attentions 1e-4, hidden
    /// 1e-3; padding query rows 10x, as fp32's parity test allows them). bf16: 8 significant bits
    /// per operand, up to 2^-9 relative per rounding, compounded over 6 layers.
    static let bf16x3 = ModelParityTests.Tolerance(hidden: 1e-3, attentions: 1e-4, small: 1e-4)
    static let bf16 = ModelParityTests.Tolerance(hidden: 0.25, attentions: 0.05, small: 0.02)

    @Test func defaultModelInBF16x3MatchesTransformersFP32WithinTheTargets() throws {
        try ModelParityTests.check("all-MiniLM-L6-v2", precision: .bf16x3, tolerance: Self.bf16x3)
    }

    @Test func defaultModelInBF16MatchesTransformersFP32WithinBF16Rounding() throws {
        try ModelParityTests.check("all-MiniLM-L6-v2", precision: .bf16, tolerance: Self.bf16)
    }

    /// The emulation (scalar and AVX2 kernels) and VDPBF16PS (AVX-512 on a CPU with it) on the tiny
    /// models, with the bounds of the default model scaled to their values (measured here: bf16x3
    /// attentions 1.4e-5, hidden 5.9e-5; bf16 attentions 8.5e-3, hidden 0.05, pooler 0.02).
    @Test(arguments: KernelISA.allCases.filter(\.isSupported))
    func everyKernelPathRunsTheBF16ModesOnTinyModels(isa: KernelISA) throws {
        try Kernels.withISA(isa) {
            for name in ModelParityTests.tinyModels {
                try ModelParityTests.check(name, precision: .bf16x3, tolerance: .init(hidden: 2e-4, attentions: 3e-5, small: 1e-4))
                try ModelParityTests.check(name, precision: .bf16, tolerance: .init(hidden: 0.1, attentions: 0.02, small: 0.05))
            }
        }
    }

    /// fp32 keeps its bits: a model loaded in fp32, and one brought back to fp32 from bf16x3, give
    /// the bits of the fp32 model (no bf16 code runs).
    @Test func fp32IsUnchangedByThePrecisionMachinery() throws {
        let manifest = try ModelParityTests.loadManifest("tiny-classifier")
        let folder = TestPaths.repositoryRoot.appendingPathComponent(manifest.model_dir)
        let model = try BertModel.load(folder: folder)
        let roundTrip = model.with(precision: .bf16x3).with(precision: .fp32)
        let batch = Batch(inputIds: [[2, 20, 30, 3], [2, 40, 3]])
        var outputs: [[Float]] = []
        for candidate in [model, roundTrip] {
            let session = InferenceSession(model: candidate)
            try session.forward(batch)
            outputs.append(session.withLastHiddenState { Array($0) } + (session.logits(example: 1) ?? []))
        }
        #expect(outputs[0].map(\.bitPattern) == outputs[1].map(\.bitPattern))
        #expect(model.with(precision: .fp32) === model)
    }

    // MARK: - Threads

    /// Every output is computed by one thread in every mode (the bf16 GEMM splits like the fp32
    /// one; the operand rounding is element-wise), so 1 and 2 threads give the same bits.
    @Test(arguments: [Precision.fp32, .bf16, .bf16x3])
    func oneAndTwoThreadsGiveTheSameBits(precision: Precision) throws {
        let folder = TestPaths.repositoryRoot.appendingPathComponent("models/all-MiniLM-L6-v2")
        guard FileManager.default.fileExists(atPath: folder.appendingPathComponent("model.safetensors").path) else {
            Issue.record("\(folder.path) is missing: run tools/setup to fetch the default model")
            return
        }
        let model = try BertModel.load(folder: folder, precision: precision)
        var generator = SeededGenerator(seed: 11)
        // Lengths 37, 29 and 17: tails of every tile; padding too.
        let batch = Batch(inputIds: [37, 29, 17].map { length in
            [101] + (0..<(length - 2)).map { _ in Int32(1000 + generator.next() % 20000) } + [102]
        })
        var results: [[Float]] = []
        for threads in [1, 2] {
            let previous = Kernels.maxThreads
            Kernels.setThreads(threads)
            defer { Kernels.setThreads(previous) }
            let session = InferenceSession(model: model)
            let recorder = ModelParityTests.AttentionRecorder()
            try session.forward(batch, observer: recorder)
            results.append(session.withLastHiddenState { Array($0) } + recorder.layers.flatMap { $0 })
        }
        #expect(results[0].map(\.bitPattern) == results[1].map(\.bitPattern), "\(precision): 1 and 2 threads differ")
    }

    // MARK: - Attention kernel

    /// In a bf16 mode the probabilities written are fp32's (the same bits as terms 0 on the same Q,
    /// K, V) and the context is the rounded probabilities times V: checked against a double
    /// product on awkward shapes, on every kernel path.
    @Test(arguments: KernelISA.allCases.filter(\.isSupported))
    func attentionRoundsOnlyTheProbabilitiesThatMultiplyV(isa: KernelISA) {
        for (b, t, nh, hs) in [(1, 1, 1, 1), (2, 17, 3, 33), (1, 67, 2, 8), (3, 33, 1, 67)] {
            let c = nh * hs
            var generator = SeededGenerator(seed: UInt64(t * 131 + hs))
            var qkv = (0..<(b * t * 3 * c)).map { _ in generator.nextNormal() }
            let lengths = (0..<b).map { Int32(max(1, t - $0 * 5)) }
            for terms: Int32 in [1, 3] {
                ck_round_bf16(&qkv, qkv.count, terms)
                var workspace = [Float](repeating: 0, count: ck_attention_workspace_size(Int32(t), Int32(hs), Int32(Kernels.maxThreads)))
                var probsFP32 = [Float](repeating: .nan, count: b * nh * t * t), probs = probsFP32
                var contextFP32 = [Float](repeating: .nan, count: b * t * c), context = contextFP32
                let scale = 1 / Float(hs).squareRoot()
                Kernels.withISA(isa) {
                    ck_attention_forward(&contextFP32, &probsFP32, qkv, lengths, nil, Int32(b), Int32(t), Int32(nh),
                                         Int32(hs), scale, &workspace, workspace.count)
                    ck_attention_forward_bf16(&context, &probs, qkv, lengths, nil, Int32(b), Int32(t), Int32(nh),
                                              Int32(hs), scale, &workspace, workspace.count, terms)
                }
                #expect(probs.map(\.bitPattern) == probsFP32.map(\.bitPattern), "\(isa) terms \(terms): probabilities changed")
                var worst = 0.0
                for e in 0..<b {
                    for h in 0..<nh {
                        for i in 0..<t {
                            var rounded = Array(probs[(((e * nh + h) * t + i) * t)..<(((e * nh + h) * t + i) * t + t)])
                            ck_round_bf16(&rounded, rounded.count, terms)
                            for d in 0..<hs {
                                var exact = 0.0, magnitude = 0.0
                                for j in 0..<Int(lengths[e]) {
                                    let term = Double(rounded[j]) * Double(qkv[(e * t + j) * 3 * c + 2 * c + h * hs + d])
                                    exact += term
                                    magnitude += abs(term)
                                }
                                let ours = Double(context[(e * t + i) * c + h * hs + d])
                                // fp32 accumulation of len products: at most len * 2^-24 of Σ|p v|.
                                let bound = Double(lengths[e]) * 0x1p-24 * magnitude + 1e-30
                                worst = max(worst, abs(ours - exact) / bound)
                            }
                        }
                    }
                }
                #expect(worst <= 1, "\(isa) terms \(terms) \(b)x\(t)x\(nh)x\(hs): context off by \(worst) bounds")
            }
        }
    }

    /// bf16: the operand is bf16(x) (nearest even); bf16x3: hi + lo, within 2^-17 of x relatively.
    @Test func roundingIsBF16sNearestEvenAndTheThreeTermSplit() {
        var values: [Float] = [1.0, 1.00390625, 1.005859375, 1.0078125 + 0x1p-9, -3.14159265, Float(bitPattern: 0x0000_1234), 0x1.fffffep127]
        let original = values
        ck_round_bf16(&values, values.count, 1)
        // 1 + 2^-8 is halfway between 1 and 1 + 2^-7: ties to even (1); 1 + 1.5 * 2^-8 rounds up.
        #expect(values[0] == 1 && values[1] == 1 && values[2] == 1.0078125)
        #expect(values[4] == -3.140625)
        #expect(values[5] == 0, "a denormal becomes zero")
        var split = original
        ck_round_bf16(&split, split.count, 3)
        for (x, y) in zip(original, split) where x.isNormal && abs(x) < 1e38 {
            #expect(abs(Double(x) - Double(y)) <= abs(Double(x)) * 0x1p-16, "\(x) -> \(y)")
        }
    }

    // MARK: - Detection

    /// CPUID and XCR0 as read by the CPU probe (CKernels/cpu.c) against the kernel's own view
    /// (/proc/cpuinfo flags); without AMX nothing is asked and the answer is 0.
    @Test func detectionAgreesWithTheOperatingSystem() throws {
        guard let cpuinfo = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
              let flagsLine = cpuinfo.split(separator: "\n").first(where: { $0.hasPrefix("flags") }) else {
            print("skipped: no /proc/cpuinfo (not Linux)")
            return
        }
        let flags = Set(flagsLine.split(separator: " ").map(String.init))
        let cpu = ck_cpu().pointee
        // Linux lists an extension only where the OS supports its state, as the probe's flags mean.
        let probed: [(String, Int32)] = [
            ("avx", cpu.avx), ("avx2", cpu.avx2), ("fma", cpu.fma), ("f16c", cpu.f16c),
            ("avx512f", cpu.avx512f), ("avx512bw", cpu.avx512bw), ("avx512vl", cpu.avx512vl),
            ("avx512dq", cpu.avx512dq), ("avx512_bf16", cpu.avx512_bf16), ("amx_tile", cpu.amx_tile),
            ("amx_bf16", cpu.amx_bf16),
        ]
        for (flag, value) in probed {
            #expect((value == 1) == flags.contains(flag), "\(flag): probe \(value), /proc/cpuinfo \(flags.contains(flag))")
        }
        // Newer flags an older kernel does not name: where the kernel lists one, the probe has it.
        for (flag, value) in [("avx512_vnni", cpu.avx512_vnni), ("avx_vnni", cpu.avx_vnni), ("amx_int8", cpu.amx_int8)]
        where flags.contains(flag) {
            #expect(value == 1, "\(flag): in /proc/cpuinfo, not in the probe")
        }
        #expect(KernelISA.avx512.isSupported == (cpu.avx512f == 1 && cpu.avx512bw == 1 && cpu.avx512vl == 1 && cpu.avx512dq == 1))
        let hardware = BF16Hardware.detected
        if !(flags.contains("amx_tile") && flags.contains("amx_bf16")) {
            #expect(ck_amx_request_permission() == 0 && !hardware.amxUsable)
        }
        print("bf16 hardware: \(hardware)")
    }

    // MARK: - Choice and fallback

    @Test func explicitPrecisionFallsBackToFP32WithOneNoticeWhereTheCPUCannotRunIt() {
        let none = BF16Hardware(avx512BF16: false)
        let choice = Precision.choose(.bf16x3, hardware: none)
        #expect(choice.precision == .fp32 && choice.backend == .fp32 && choice.requested == .bf16x3)
        #expect(choice.notice?.contains("running fp32") == true && choice.notice?.contains("\n") == false)
        // AMX present: detected and named, but its kernels do not exist yet.
        let amxOnly = BF16Hardware(avx512BF16: false, amxTile: true, amxBF16: true, amxOSEnabled: true, amxPermitted: true)
        #expect(Precision.choose(.bf16, hardware: amxOnly).notice?.contains("AMX is present") == true)
        let withUnit = Precision.choose(.bf16, hardware: BF16Hardware(avx512BF16: true))
        #expect(withUnit.precision == .bf16 && withUnit.backend == .avx512BF16 && withUnit.notice == nil)
        #expect(Precision.choose(.bf16, hardware: none, allowEmulation: true).backend == .emulation)
        #expect(Precision.choose(.fp32, hardware: none).notice == nil)
    }

    /// Forced off as the ISA is forced (BERTOLOGY_ISA=avx2 has no VDPBF16PS): one notice line, the
    /// run goes on in fp32 and says so in its JSON.
    @Test func commandLineFallsBackWithOneNoticeLine() throws {
        let model = TestPaths.fixture("models/tiny-classifier").path
        let result = try CommandLineTool.run(["inspect", "--model", model, "--precision", "bf16x3", "--json", "hello world"],
                                             environment: ["BERTOLOGY_ISA": "avx2"])
        #expect(result.status == 0, "\(result.stderrText)")
        let notices = result.stderrText.split(separator: "\n").filter { $0.hasPrefix("bertology: note:") }
        #expect(notices.count == 1 && notices.first?.contains("--precision bf16x3 needs AVX512-BF16") == true, "\(result.stderrText)")
        #expect(result.stdoutText.contains("\"precision\":\"fp32\""))
    }

    @Test func commandLineRecordsThePrecisionThatRan() throws {
        let model = TestPaths.fixture("models/tiny-classifier").path
        let result = try CommandLineTool.run(["inspect", "--model", model, "--precision", "bf16", "--json", "hello world"])
        #expect(result.status == 0, "\(result.stderrText)")
        let ran = Precision.choose(.bf16).precision
        #expect(result.stdoutText.contains("\"precision\":\"\(ran)\""))
    }

    @Test(arguments: [["inspect", "x"], ["eval", "--task", "STS-B"], ["analyze", "--task", "STS-B"],
                      ["ablate", "--task", "STS-B"], ["finetune", "--task", "MRPC"]])
    func unknownPrecisionIsAUsageError(arguments: [String]) throws {
        let result = try CommandLineTool.run(arguments + ["--precision", "fp16"])
        #expect(result.status == 2, "\(arguments[0]): \(result.status.map(String.init) ?? "signal") \(result.stderrText)")
        #expect(result.stderrText.contains("fp16"))
    }

    @Test func finetuneRefusesAReducedPrecision() throws {
        let result = try CommandLineTool.run(["finetune", "--task", "MRPC", "--precision", "bf16", "--out", "/nonexistent/x"])
        #expect(result.status == 2)
        #expect(result.stderrText.contains("fp32 only"), "\(result.stderrText)")
    }

    // MARK: - Ablation journal

    @Test func resumeRefusesAnotherPrecision() throws {
        let folder = AblationResumeShardTests.scratch("ablation-precision")
        defer { try? FileManager.default.removeItem(at: folder) }
        _ = try AblationResumeShardTests.sweep(heads: "L1").run(in: folder, resume: false)
        let other = try AblationResumeShardTests.sweep(heads: "L1", precision: .bf16x3)
        #expect(other.fingerprint.precision == "bf16x3")
        let error = #expect(throws: BertologyError.self) { try other.run(in: folder, resume: true) }
        #expect(error?.reason.contains("precision: bf16x3, not fp32") == true, "\(error?.reason ?? "")")
        #expect(error?.exitStatus == 2)
    }
}
