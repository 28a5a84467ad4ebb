/*
 * fp32 FMA peak of this machine: each thread runs 12 independent chains of vector FMAs (enough
 * to cover the FMA latency times the number of FMA pipes on current x86 cores) until a deadline
 * and counts them. Built at bench time once per ISA the CPU has:
 *   gcc -O2 -mavx2 -mfma fma.c -lpthread      (8 floats per FMA)
 *   gcc -O2 -mavx512f fma.c -lpthread         (16 floats per FMA)
 * Usage: fma THREADS SECONDS; prints {"isa": ..., "threads": T, "gflops": G, "gflops_per_cpu_second": P}.
 * P divides by the CPU time the threads got rather than the wall time: it is the per-core peak
 * even when other processes take turns on the cores, which G then understates.
 */
#include <immintrin.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#if defined(__AVX512F__)
typedef __m512 vec;
#define WIDTH 16
#define SET1 _mm512_set1_ps
#define FMA _mm512_fmadd_ps
#define ISA "avx512f"
static float hsum(vec v) { return _mm512_reduce_add_ps(v); }
#else
typedef __m256 vec;
#define WIDTH 8
#define SET1 _mm256_set1_ps
#define FMA _mm256_fmadd_ps
#define ISA "avx2+fma"
static float hsum(vec v) {
  float f[8];
  _mm256_storeu_ps(f, v);
  return f[0] + f[1] + f[2] + f[3] + f[4] + f[5] + f[6] + f[7];
}
#endif

#define CHUNK 1000000L

static double clock_seconds(clockid_t id) {
  struct timespec t;
  clock_gettime(id, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

static double now(void) { return clock_seconds(CLOCK_MONOTONIC); }

struct job {
  double deadline;
  long chunks;
  float sink;
};

static void *work(void *arg) {
  struct job *j = arg;
  /* a close to 1 and a small b keep the values bounded and normal (no denormal slow paths). */
  vec a = SET1(0.9999999f), b = SET1(1e-7f);
  vec c0 = SET1(0.0f), c1 = SET1(0.1f), c2 = SET1(0.2f), c3 = SET1(0.3f), c4 = SET1(0.4f), c5 = SET1(0.5f);
  vec c6 = SET1(0.6f), c7 = SET1(0.7f), c8 = SET1(0.8f), c9 = SET1(0.9f), c10 = SET1(1.0f), c11 = SET1(1.1f);
  long chunks = 0;
  do {
    for (long i = 0; i < CHUNK; i++) {
      c0 = FMA(c0, a, b); c1 = FMA(c1, a, b); c2 = FMA(c2, a, b); c3 = FMA(c3, a, b);
      c4 = FMA(c4, a, b); c5 = FMA(c5, a, b); c6 = FMA(c6, a, b); c7 = FMA(c7, a, b);
      c8 = FMA(c8, a, b); c9 = FMA(c9, a, b); c10 = FMA(c10, a, b); c11 = FMA(c11, a, b);
    }
    chunks++;
  } while (now() < j->deadline);
  j->chunks = chunks;
  /* The result is stored so that the compiler cannot drop the loop. */
  j->sink = hsum(c0) + hsum(c1) + hsum(c2) + hsum(c3) + hsum(c4) + hsum(c5) + hsum(c6) + hsum(c7) + hsum(c8) + hsum(c9) + hsum(c10) + hsum(c11);
  return NULL;
}

int main(int argc, char **argv) {
  int threads = argc > 1 ? atoi(argv[1]) : 1;
  double seconds = argc > 2 ? atof(argv[2]) : 2.0;
  if (threads < 1 || threads > 256 || !(seconds > 0)) {
    fprintf(stderr, "usage: fma THREADS SECONDS\n");
    return 2;
  }
  pthread_t tid[256];
  struct job jobs[256];
  double t0 = now();
  double cpu0 = clock_seconds(CLOCK_PROCESS_CPUTIME_ID);
  for (int t = 0; t < threads; t++) {
    jobs[t].deadline = t0 + seconds;
    pthread_create(&tid[t], NULL, work, &jobs[t]);
  }
  double flops = 0, sink = 0;
  for (int t = 0; t < threads; t++) {
    pthread_join(tid[t], NULL);
    flops += (double)jobs[t].chunks * CHUNK * 12 * WIDTH * 2;
    sink += jobs[t].sink;
  }
  double elapsed = now() - t0;
  double cpu = clock_seconds(CLOCK_PROCESS_CPUTIME_ID) - cpu0;
  printf("{\"isa\": \"%s\", \"threads\": %d, \"gflops\": %.2f, \"gflops_per_cpu_second\": %.2f, \"seconds\": %.3f, \"cpu_seconds\": %.3f, \"checksum\": %g}\n",
         ISA, threads, flops / elapsed / 1e9, flops / cpu / 1e9, elapsed, cpu, sink);
  return 0;
}
