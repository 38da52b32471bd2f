// What the reduced-precision modes need from the CPU and the OS, and the operand rounding that
// attention uses in those modes.
//
// Detection reads CPUID and XCR0 directly (not the compiler's feature cache, which knows nothing of
// the OS's tile state): AMX needs the CPU's AMX-TILE and AMX-BF16, the OS enabling the tile state
// in XCR0 (bits 17-18), and on Linux a per-process permission (arch_prctl ARCH_REQ_XCOMP_PERM for
// XFEATURE_XTILEDATA) before the first tile instruction, which otherwise raises SIGILL.
#include "internal.h"
#include "bf16.h"

#if CK_X86
#include <cpuid.h>
#endif
#if defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>
#endif

// MARK: - Detection

#if CK_X86
static unsigned long long read_xcr0(void) {
    unsigned int eax, edx;
    __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
    return ((unsigned long long)edx << 32) | eax;
}
#endif

int ck_cpu_bf16_features(void) {
    int features = 0;
#if CK_X86
    unsigned int eax, ebx, ecx, edx;
    if (__get_cpuid_max(0, NULL) < 7) return 0;
    __cpuid_count(1, 0, eax, ebx, ecx, edx);
    const int osxsave = (ecx >> 27) & 1;
    __cpuid_count(7, 0, eax, ebx, ecx, edx);
    const unsigned int max_subleaf = eax;
    if ((edx >> 24) & 1) features |= CK_CPU_AMX_TILE;
    if ((edx >> 22) & 1) features |= CK_CPU_AMX_BF16;
    if (osxsave) {
        const unsigned long long xcr0 = read_xcr0();
        if (((xcr0 >> 17) & 3) == 3) features |= CK_CPU_AMX_OS;
        // AVX-512 state (opmask, ZMM halves and upper ZMM) and AVX state enabled by the OS.
        const int avx512_os = ((xcr0 & 0xe6) == 0xe6);
        if (max_subleaf >= 1 && avx512_os) {
            __cpuid_count(7, 1, eax, ebx, ecx, edx);
            if ((eax >> 5) & 1) features |= CK_CPU_AVX512_BF16;
        }
    }
#endif
    return features;
}

// -1: not asked yet. Benign race: every thread asks the same and gets the same answer.
static volatile int amx_permission = -1;

int ck_amx_request_permission(void) {
    if (amx_permission >= 0) return amx_permission;
    int granted = 0;
    const int needed = CK_CPU_AMX_TILE | CK_CPU_AMX_BF16 | CK_CPU_AMX_OS;
    if ((ck_cpu_bf16_features() & needed) == needed) {
#if defined(__linux__) && CK_X86 && defined(SYS_arch_prctl)
        // ARCH_REQ_XCOMP_PERM (0x1023) for XFEATURE_XTILEDATA (18), then ARCH_GET_XCOMP_PERM
        // (0x1022) to read the permitted features back (Linux 5.16 and later).
        unsigned long long permitted = 0;
        if (syscall(SYS_arch_prctl, 0x1023, 18) == 0 && syscall(SYS_arch_prctl, 0x1022, &permitted) == 0)
            granted = (int)((permitted >> 18) & 1);
#else
        granted = 1;  // no per-process permission outside Linux: the OS enabling the state is enough
#endif
    }
    amx_permission = granted;
    return granted;
}

// MARK: - Operand rounding

typedef struct {
    float *x;
    size_t n;
    int terms;
} round_job;

enum { ROUND_CHUNK = 16384 };

static void round_item(void *context, int item, int thread) {
    (void)thread;
    const round_job *job = context;
    const size_t i0 = (size_t)item * ROUND_CHUNK, i1 = CK_MIN(job->n, i0 + ROUND_CHUNK);
    for (size_t i = i0; i < i1; i++) job->x[i] = bf16_operand(job->x[i], job->terms);
}

void ck_round_bf16(float *x, size_t n, int terms) {
    if (n == 0) return;
    round_job job = {x, n, terms == 3 ? 3 : 1};
    const size_t chunks = (n + ROUND_CHUNK - 1) / ROUND_CHUNK;
    ck_parallel_for((int)chunks, ck_threads_max(), 0, round_item, &job);
}
