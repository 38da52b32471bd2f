// What the reduced-precision modes ask of the OS, and the operand rounding that attention uses in
// those modes.
//
// AMX needs the CPU's AMX-TILE and AMX-BF16 and the OS enabling the tile state in XCR0 (bits 17-18),
// all read by the CPU probe (cpu.c), and on Linux a per-process permission (arch_prctl
// ARCH_REQ_XCOMP_PERM for XFEATURE_XTILEDATA) before the first tile instruction, which otherwise
// raises SIGILL.
#include "internal.h"
#include "bf16.h"
#if defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>
#endif

// MARK: - AMX permission

// -1: not asked yet. Benign race: every thread asks the same and gets the same answer.
static volatile int amx_permission = -1;

int ck_amx_request_permission(void) {
    if (amx_permission >= 0) return amx_permission;
    int granted = 0;
    const ck_cpu_features *cpu = ck_cpu();
    if (cpu->amx_tile && cpu->amx_bf16 && cpu->os_amx) {
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
