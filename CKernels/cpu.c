// The CPU probe: the only code in the package that executes CPUID or XGETBV. It runs once, when the
// library is loaded (before main and before any thread exists), and fills one ck_cpu_features that
// everything else reads: the dispatch table's ISA support (dispatch.c), the kernel families that
// register a path only where an extension exists (convert.c: F16C; gemm_bf16.c: AVX512-BF16), the
// precision modes (precision.c: AMX), the blocking (gemm.c: cache sizes) and Swift (Precision.swift).
//
// An instruction-set bit is set only when the CPU has the extension AND the OS saves the registers it
// uses (XCR0 via XGETBV, with CPUID.1:ECX.OSXSAVE): AVX state (XCR0 bits 1-2) for AVX2, FMA, F16C and
// AVX-VNNI; the AVX-512 states (bits 5-7) for every AVX-512 extension. AMX is reported as the CPU has
// it, with the OS's tile state (bits 17-18) apart, because the per-process permission Linux also
// requires is asked for separately and only when used (ck_amx_request_permission, precision.c).
#include "internal.h"

#include <unistd.h>
#if CK_X86
#include <cpuid.h>
#endif

static ck_cpu_features cpu;
static volatile int cpu_probed = 0;

#if CK_X86
static unsigned long long read_xcr0(void) {
    unsigned int eax, edx;
    __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
    return ((unsigned long long)edx << 32) | eax;
}

static int bit(unsigned int reg, int n) { return (int)((reg >> n) & 1u); }

static void probe_instructions(ck_cpu_features *f) {
    unsigned int eax, ebx, ecx, edx;
    const unsigned int max_leaf = __get_cpuid_max(0, NULL);
    if (max_leaf < 1) return;
    __cpuid_count(1, 0, eax, ebx, ecx, edx);
    const int osxsave = bit(ecx, 27), avx = bit(ecx, 28), fma = bit(ecx, 12), f16c = bit(ecx, 29);
    const unsigned long long xcr0 = osxsave ? read_xcr0() : 0;
    f->os_avx = osxsave && (xcr0 & 0x6) == 0x6;
    f->os_avx512 = f->os_avx && (xcr0 & 0xe0) == 0xe0;
    f->os_amx = osxsave && ((xcr0 >> 17) & 3) == 3;
    f->avx = f->os_avx && avx;
    f->fma = f->avx && fma;
    f->f16c = f->avx && f16c;
    if (max_leaf < 7) return;
    __cpuid_count(7, 0, eax, ebx, ecx, edx);
    const unsigned int max_subleaf = eax;
    f->avx2 = f->avx && bit(ebx, 5);
    f->avx512f = f->os_avx512 && bit(ebx, 16);
    f->avx512dq = f->avx512f && bit(ebx, 17);
    f->avx512bw = f->avx512f && bit(ebx, 30);
    f->avx512vl = f->avx512f && bit(ebx, 31);
    f->avx512_vnni = f->avx512f && bit(ecx, 11);
    f->amx_bf16 = bit(edx, 22);
    f->amx_tile = bit(edx, 24);
    f->amx_int8 = bit(edx, 25);
    if (max_subleaf >= 1) {
        __cpuid_count(7, 1, eax, ebx, ecx, edx);
        f->avx_vnni = f->avx && bit(eax, 4);
        f->avx512_bf16 = f->avx512f && bit(eax, 5);
    }
}
#endif

// The data cache sizes come from the C library's sysconf (glibc reads them from CPUID, with each
// vendor's leaves); 0 or an error keeps the default (48 KB L1d, 2 MB L2, no L3).
static void probe_caches(ck_cpu_features *f) {
    f->l1d = 48 << 10, f->l2 = 2 << 20, f->l3 = 0;
#if defined(_SC_LEVEL1_DCACHE_SIZE) && defined(_SC_LEVEL2_CACHE_SIZE) && defined(_SC_LEVEL3_CACHE_SIZE)
    const long l1d = sysconf(_SC_LEVEL1_DCACHE_SIZE), l2 = sysconf(_SC_LEVEL2_CACHE_SIZE), l3 = sysconf(_SC_LEVEL3_CACHE_SIZE);
    if (l1d >= (16 << 10)) f->l1d = (size_t)l1d;
    if (l2 >= (256 << 10)) f->l2 = (size_t)l2;
    if (l3 > 0) f->l3 = (size_t)l3;
#endif
}

static void probe(void) {
    ck_cpu_features f = {0};
#if CK_X86
    probe_instructions(&f);
#endif
    probe_caches(&f);
    cpu = f;
    cpu_probed = 1;
}

// Before the other load-time constructors (the dispatch tables, the GEMM blocking) that read it.
__attribute__((constructor(101))) static void probe_at_load(void) {
    if (!cpu_probed) probe();
}

const ck_cpu_features *ck_cpu(void) {
    if (!cpu_probed) probe();  // a constructor that ran before ours (another image's): same values
    return &cpu;
}

void ck_cache_sizes(size_t *l1d, size_t *l2, size_t *l3) {
    const ck_cpu_features *f = ck_cpu();
    if (l1d) *l1d = f->l1d;
    if (l2) *l2 = f->l2;
    if (l3) *l3 = f->l3;
}
