// The active instruction set (from the CPU probe of cpu.c), the dispatch tables, and threads.
#include "internal.h"

#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

// MARK: - Instruction sets

int ck_isa_is_supported(ck_isa isa) {
    const ck_cpu_features *cpu = ck_cpu();
    switch (isa) {
    case CK_ISA_SCALAR:
        return 1;
    case CK_ISA_AVX2:
        return cpu->avx2 && cpu->fma;
    case CK_ISA_AVX512:
        return cpu->avx512f && cpu->avx512bw && cpu->avx512vl && cpu->avx512dq && cpu->fma;
    default:
        return 0;
    }
}

ck_isa ck_isa_best_supported(void) {
    if (ck_isa_is_supported(CK_ISA_AVX512)) return CK_ISA_AVX512;
    if (ck_isa_is_supported(CK_ISA_AVX2)) return CK_ISA_AVX2;
    return CK_ISA_SCALAR;
}

const char *ck_isa_name(ck_isa isa) {
    switch (isa) {
    case CK_ISA_SCALAR: return "scalar";
    case CK_ISA_AVX2: return "avx2";
    case CK_ISA_AVX512: return "avx512";
    }
    return "unknown";
}

// -1 = not chosen yet. Benign race: every thread computes the same value.
static volatile int global_isa = -1;
// Per-thread override (tests and benchmarks); -1 = none. Drivers read the table on the calling thread,
// before any parallel region, and hand its workers to the threads; ck_parallel_for also carries the
// caller's override into its threads, so that anything a worker asks (ck_isa_active, ck_dispatch)
// answers as on the calling thread.
static _Thread_local int thread_isa = -1;

static ck_isa isa_from_environment(void) {
    const char *value = getenv("BERTOLOGY_ISA");
    ck_isa best = ck_isa_best_supported();
    if (value == NULL || value[0] == 0) return best;
    ck_isa wanted = best;
    if (strcmp(value, "scalar") == 0) wanted = CK_ISA_SCALAR;
    else if (strcmp(value, "avx2") == 0) wanted = CK_ISA_AVX2;
    else if (strcmp(value, "avx512") == 0) wanted = CK_ISA_AVX512;
    // An unsupported or unknown request falls back to the best supported ISA; the Swift layer
    // reports the mismatch to the user (kernels never fail).
    return ck_isa_is_supported(wanted) ? wanted : best;
}

ck_isa ck_isa_active(void) {
    if (thread_isa >= 0) return (ck_isa)thread_isa;
    int isa = global_isa;
    if (isa < 0) {
        isa = (int)isa_from_environment();
        global_isa = isa;
    }
    return (ck_isa)isa;
}

int ck_isa_set_global(ck_isa isa) {
    if (!ck_isa_is_supported(isa)) return -1;
    global_isa = (int)isa;
    return 0;
}

int ck_isa_set_thread_override(int isa) {
    if (isa < 0) {
        thread_isa = -1;
        return 0;
    }
    if (isa > CK_ISA_AVX512 || !ck_isa_is_supported((ck_isa)isa)) return -1;
    thread_isa = isa;
    return 0;
}

// MARK: - The dispatch table

// Every kernel family's registration, in one list: adding a family is adding its line.
static void (*const ck_registrations[])(ck_dispatch_table *, ck_isa) = {
    ck_register_softmax, ck_register_layernorm, ck_register_elementwise,
    ck_register_convert, ck_register_attention, ck_register_gemm,
    ck_register_attention_train, ck_register_training_elementwise, ck_register_linear_backward,
    ck_register_gemm_bf16, ck_register_gemm_int8,
    ck_register_dropout, ck_register_optimizer,
};

// One table per ISA, indexed by ck_isa, filled once when the library is loaded (before main and
// before any thread exists), read-only afterwards. A table of an ISA this CPU lacks is filled too
// but never selected: ck_isa_set_global / the thread override / BERTOLOGY_ISA refuse it.
static ck_dispatch_table ck_tables[CK_ISA_AVX512 + 1];

__attribute__((constructor)) static void fill_tables(void) {
    for (int isa = CK_ISA_SCALAR; isa <= CK_ISA_AVX512; isa++) {
        ck_tables[isa].isa = (ck_isa)isa;
        for (size_t r = 0; r < sizeof ck_registrations / sizeof ck_registrations[0]; r++)
            ck_registrations[r](&ck_tables[isa], (ck_isa)isa);
    }
}

const ck_dispatch_table *ck_dispatch(void) { return &ck_tables[ck_isa_active()]; }

// MARK: - Threads

int ck_openmp_enabled(void) {
#ifdef _OPENMP
    return 1;
#else
    return 0;
#endif
}

int ck_threads_max(void) {
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

void ck_threads_set(int n) {
#ifdef _OPENMP
    if (n >= 1) omp_set_num_threads(n);
#else
    (void)n;
#endif
}

void ck_parallel_for(int items, int threads, int dynamic, ck_item_fn body, void *context) {
    if (items <= 0) return;
    threads = CK_MAX(1, CK_MIN(threads, items));
#ifdef _OPENMP
    if (threads > 1) {
        int next = 0;
        const int caller_isa = thread_isa;
#pragma omp parallel num_threads(threads)
        {
            const int thread = omp_get_thread_num(), count = omp_get_num_threads();
            const int own_isa = thread_isa;
            thread_isa = caller_isa;
            if (dynamic) {
                for (;;) {
                    const int item = __atomic_fetch_add(&next, 1, __ATOMIC_RELAXED);
                    if (item >= items) break;
                    body(context, item, thread);
                }
            } else {
                const int begin = (int)((long)items * thread / count), end = (int)((long)items * (thread + 1) / count);
                for (int item = begin; item < end; item++) body(context, item, thread);
            }
            thread_isa = own_isa;
        }
        return;
    }
#endif
    for (int item = 0; item < items; item++) body(context, item, 0);
}

int ck_threads_observed(void) {
#ifdef _OPENMP
    int seen[256] = {0};
    int count = 0;
#pragma omp parallel
    {
        int id = omp_get_thread_num();
        if (id < 256) {
#pragma omp atomic write
            seen[id] = 1;
        }
    }
    for (int i = 0; i < 256; i++) count += seen[i];
    return count;
#else
    return 1;
#endif
}
