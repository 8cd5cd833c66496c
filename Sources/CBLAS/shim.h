#include <cblas.h>

// OpenBLAS starts its worker threads when the library loads, and an idle worker spins
// (sched_yield) for a while before it sleeps: on a 2-core machine that takes CPU time from the
// codec's own threads. vqcodec never asks BLAS for threads (it splits work over the cores
// itself, each piece with single-threaded BLAS), so it stops them. `blas_thread_shutdown_` is
// OpenBLAS's own (exported, used at fork); declared weak, it is simply absent from other BLAS
// builds, and OpenBLAS starts its threads again if a call ever asks for more than one.
extern int blas_thread_shutdown_(void) __attribute__((weak));

static inline void vqcodec_stop_idle_blas_threads(void) {
    if (blas_thread_shutdown_) blas_thread_shutdown_();
}
