import BertologyEngine
import FMAProbe
import Testing

/// The benchmarks' FMA peak probe (Benchmarks/FMAProbe), tested where it lives: the root package's
/// tests do not build the benchmarks.
@Suite struct FMAProbeTests {
    @Test func fmaProbeCountsTheFlopsItRuns() {
        // 12 chains x lanes x 2 flops per iteration, on every thread of the region (kernel-bench's peak).
        let lanes: [KernelISA: Double] = [.scalar: 1, .avx2: 8, .avx512: 16]
        for isa in KernelISA.allCases where isa.isSupported {
            let flops = Kernels.withISA(isa) { bench_fma_probe(1000) }!
            #expect(flops == 2 * 12 * lanes[isa]! * 1000 * Double(Kernels.maxThreads), "\(isa)")
        }
    }
}
