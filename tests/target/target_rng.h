/*
 * target_rng.h - the firmware programs' random numbers: xorshift64*, the top 32 bits of
 * each step, and an unbiased-enough scaling to [0, n). One stream per program (the seed is
 * set by writing rng_state); the sequence is part of what a seed replays.
 */
#ifndef TARGET_RNG_H
#define TARGET_RNG_H
#include <stdint.h>

static uint64_t rng_state;

static inline uint32_t rnd(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (uint32_t)((rng_state * 2685821657736338717ull) >> 32);
}

/* Uniform in [0, n), by multiply-shift. */
static inline uint32_t below(uint32_t n) { return (uint32_t)(((uint64_t)rnd() * n) >> 32); }

#endif
