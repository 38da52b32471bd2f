// The FMA peak probe of the benchmarks (kernel-bench, model-bench): not a kernel, so not in CKernels.
#ifndef FMAPROBE_H
#define FMAPROBE_H

/// Runs `iterations` rounds of independent FMA chains on every thread of one parallel region, with
/// the kernels' active instruction set, and returns the floating-point operations executed (the
/// benchmarks time it: that is the machine's measured peak, turbo and hypervisor included).
double bench_fma_probe(long iterations);

/// The same with AVX512-BF16's VDPBF16PS (64 flops each): the bf16 dot-product peak, or 0 (and no
/// work) on a CPU without it.
double bench_bf16_probe(long iterations);

#endif
