// CRC-32C for Kafka record batches: the SSE4.2 crc32 instruction where the CPU has it,
// slicing-by-8 tables otherwise. Chosen once, at first use.
#include "apus_crc32c.h"

#include <string.h>
#include <pthread.h>

#if defined(__x86_64__) || defined(__i386__)
#include <nmmintrin.h>
#define APUS_HAVE_X86 1
#endif

static uint32_t table[8][256];
static pthread_once_t once = PTHREAD_ONCE_INIT;
static int use_hardware = 0;

static void init(void) {
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t c = n;
        for (int k = 0; k < 8; k++) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
        table[0][n] = c;
    }
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t c = table[0][n];
        for (int k = 1; k < 8; k++) {
            c = table[0][c & 0xff] ^ (c >> 8);
            table[k][n] = c;
        }
    }
#ifdef APUS_HAVE_X86
    __builtin_cpu_init();
    use_hardware = __builtin_cpu_supports("sse4.2") ? 1 : 0;
#endif
}

static uint32_t portable(uint32_t crc, const unsigned char *p, size_t n) {
    while (n && ((uintptr_t)p & 7)) {
        crc = table[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
        n--;
    }
    while (n >= 8) {
        uint64_t word;
        memcpy(&word, p, 8);
        word ^= crc; // little-endian hosts only; big-endian falls to the byte loop below
        crc = table[7][word & 0xff] ^ table[6][(word >> 8) & 0xff] ^
              table[5][(word >> 16) & 0xff] ^ table[4][(word >> 24) & 0xff] ^
              table[3][(word >> 32) & 0xff] ^ table[2][(word >> 40) & 0xff] ^
              table[1][(word >> 48) & 0xff] ^ table[0][word >> 56];
        p += 8;
        n -= 8;
    }
    while (n--) crc = table[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
    return crc;
}

#ifdef APUS_HAVE_X86
__attribute__((target("sse4.2")))
static uint32_t hardware(uint32_t crc, const unsigned char *p, size_t n) {
    uint64_t c = crc;
    while (n && ((uintptr_t)p & 7)) {
        c = _mm_crc32_u8((uint32_t)c, *p++);
        n--;
    }
    // Three interleaved streams hide the instruction's 3-cycle latency on large inputs.
    while (n >= 3 * 4096) {
        uint64_t c1 = 0, c2 = 0;
        const unsigned char *p1 = p + 4096, *p2 = p + 8192;
        for (size_t i = 0; i < 4096; i += 8) {
            uint64_t w0, w1, w2;
            memcpy(&w0, p + i, 8);
            memcpy(&w1, p1 + i, 8);
            memcpy(&w2, p2 + i, 8);
            c = _mm_crc32_u64(c, w0);
            c1 = _mm_crc32_u64(c1, w1);
            c2 = _mm_crc32_u64(c2, w2);
        }
        // Combine: shift c over 8192 bytes of c1||c2 by feeding the streams through the
        // plain instruction is not possible without a shift table, so fold serially:
        // c(A||B) = shift(c(A), |B|) ^ c(B); shifts done by crc of zeros via tables below.
        extern uint32_t apus_crc32c_shift(uint32_t crc, size_t zeros);
        uint32_t s = apus_crc32c_shift((uint32_t)c, 4096) ^ (uint32_t)c1;
        s = apus_crc32c_shift(s, 4096) ^ (uint32_t)c2;
        c = s;
        p += 3 * 4096;
        n -= 3 * 4096;
    }
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        c = _mm_crc32_u64(c, w);
        p += 8;
        n -= 8;
    }
    while (n--) c = _mm_crc32_u8((uint32_t)c, *p++);
    return (uint32_t)c;
}
#endif

// Multiplication in GF(2) modulo the reflected polynomial, used to shift a raw CRC register
// over runs of zero bytes (the register state, without pre/post inversion).
static uint32_t gf2_multiply(uint32_t a, uint32_t b) {
    uint32_t product = 0;
    for (int i = 0; i < 32; i++) {
        if (a & 0x80000000u) product ^= b;
        a <<= 1;
        b = (b & 1) ? (b >> 1) ^ 0x82F63B78u : b >> 1;
    }
    return product;
}

// x^(8*zeros) mod P for the 4096-byte lane, computed once.
static uint32_t shift_4096 = 0;
static pthread_once_t shift_once = PTHREAD_ONCE_INIT;

static void init_shift(void) {
    // x^1 in reflected representation is 0x40000000; square-and-multiply to x^(8*4096).
    uint32_t result = 0x80000000u; // x^0
    uint32_t base = 0x40000000u;   // x^1
    uint64_t exponent = 8ull * 4096ull;
    while (exponent) {
        if (exponent & 1) result = gf2_multiply(result, base);
        base = gf2_multiply(base, base);
        exponent >>= 1;
    }
    shift_4096 = result;
}

uint32_t apus_crc32c_shift(uint32_t crc, size_t zeros) {
    (void)zeros; // only the 4096-byte lane is used
    pthread_once(&shift_once, init_shift);
    return gf2_multiply(crc, shift_4096);
}

uint32_t apus_crc32c(uint32_t crc, const void *data, size_t length) {
    pthread_once(&once, init);
    uint32_t c = ~crc;
#ifdef APUS_HAVE_X86
    if (use_hardware) return ~hardware(c, (const unsigned char *)data, length);
#endif
    return ~portable(c, (const unsigned char *)data, length);
}

uint32_t apus_crc32c_portable(uint32_t crc, const void *data, size_t length) {
    pthread_once(&once, init);
    return ~portable(~crc, (const unsigned char *)data, length);
}

int apus_crc32c_is_hardware(void) {
    pthread_once(&once, init);
    return use_hardware;
}
