/* rng.h: counter-based random numbers.
 *
 * Every random stream is a pure function of a 64-bit key and a counter, so a
 * stream derived from (seed, symbol, epoch, step, layer) gives the same numbers
 * whatever rank runs it and whenever it is resumed. No hidden state. */
#ifndef DL_RNG_H
#define DL_RNG_H

#include <math.h>
#include <stdint.h>

static inline uint64_t dl_mix64(uint64_t z) { /* splitmix64 finaliser */
    z += 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* derive a child key: key' = H(key, tag). Chain it: dl_key(dl_key(seed, sym), epoch) */
static inline uint64_t dl_key(uint64_t key, uint64_t tag) {
    return dl_mix64(key ^ dl_mix64(tag + 0x632be59bd9b4e019ULL));
}

/* string tag (symbol names) -> 64-bit, FNV-1a then mixed */
static inline uint64_t dl_hash_str(const char *s) {
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++) { h ^= (unsigned char)*s; h *= 1099511628211ULL; }
    return dl_mix64(h);
}

static inline uint64_t dl_rand_u64(uint64_t key, uint64_t i) { return dl_mix64(key + dl_mix64(i)); }

/* uniform in [0,1) with 24 random bits (exact in float) */
static inline float dl_rand_uniform(uint64_t key, uint64_t i) {
    return (float)(dl_rand_u64(key, i) >> 40) * (1.0f / 16777216.0f);
}

/* uniform in [0,1) with 53 bits */
static inline double dl_rand_uniform_d(uint64_t key, uint64_t i) {
    return (double)(dl_rand_u64(key, i) >> 11) * (1.0 / 9007199254740992.0);
}

/* standard normal by Box-Muller on draws 2i, 2i+1 */
static inline double dl_rand_normal(uint64_t key, uint64_t i) {
    double u1 = dl_rand_uniform_d(key, 2 * i), u2 = dl_rand_uniform_d(key, 2 * i + 1);
    if (u1 < 1e-300) u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

/* Sequential generator for long streams (synthetic data): state is explicit. */
typedef struct { uint64_t key, i; } DlRng;
static inline DlRng dl_rng(uint64_t key) { DlRng r = {key, 0}; return r; }
static inline double dl_rng_uniform(DlRng *r) { return dl_rand_uniform_d(r->key, r->i++); }
static inline double dl_rng_normal(DlRng *r) { return dl_rand_normal(r->key, r->i++); }

#endif
