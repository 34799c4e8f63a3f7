/* SHA-1 (FIPS 180-4) in one pass over a buffer held whole in memory, which
 * is all that naming a Lua script needs: the message is hashed a 64-byte
 * block at a time, and the last one or two blocks, with the padding and the
 * bit length, are built on the stack. */
#include "util/sha1.h"

#include <stdint.h>
#include <string.h>

static uint32_t rol(uint32_t x, int n) {
    return (x << n) | (x >> (32 - n));
}

/* The round function and constant of round i (0..79). */
static uint32_t round_f(int i, uint32_t b, uint32_t c, uint32_t d, uint32_t *k) {
    if (i < 20) {
        *k = 0x5A827999u;
        return (b & c) | (~b & d);
    }
    if (i < 40) {
        *k = 0x6ED9EBA1u;
        return b ^ c ^ d;
    }
    if (i < 60) {
        *k = 0x8F1BBCDCu;
        return (b & c) | (b & d) | (c & d);
    }
    *k = 0xCA62C1D6u;
    return b ^ c ^ d;
}

/* Mixes one 64-byte block into the state h. */
static void sha1_block(uint32_t h[5], const unsigned char *p) {
    uint32_t w[80];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
               (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
    for (int i = 16; i < 80; i++)
        w[i] = rol(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
    for (int i = 0; i < 80; i++) {
        uint32_t k;
        uint32_t t = rol(a, 5) + round_f(i, b, c, d, &k) + e + k + w[i];
        e = d;
        d = c;
        c = rol(b, 30);
        b = a;
        a = t;
    }
    h[0] += a;
    h[1] += b;
    h[2] += c;
    h[3] += d;
    h[4] += e;
}

/* Hashes the tail (len < 64 bytes) of a message of `total` bytes: the
 * bytes, 0x80, zeros, and the length in bits, in one or two blocks. */
static void sha1_last(uint32_t h[5], const unsigned char *tail, size_t len, uint64_t total) {
    unsigned char buf[128] = {0};
    if (len > 0)
        memcpy(buf, tail, len);
    buf[len] = 0x80;
    size_t n = len < 56 ? 64 : 128;
    uint64_t bits = total * 8;
    for (int i = 0; i < 8; i++)
        buf[n - 1 - (size_t)i] = (unsigned char)(bits >> (8 * i));
    sha1_block(h, buf);
    if (n == 128)
        sha1_block(h, buf + 64);
}

void rk_sha1_hex(const void *data, size_t len, char hex[RK_SHA1_HEX_LEN + 1]) {
    static const char digits[] = "0123456789abcdef";
    uint32_t h[5] = {0x67452301u, 0xEFCDAB89u, 0x98BADCFEu, 0x10325476u, 0xC3D2E1F0u};
    const unsigned char *p = data;
    size_t whole = len - len % 64;
    for (size_t off = 0; off < whole; off += 64)
        sha1_block(h, p + off);
    sha1_last(h, p + whole, len - whole, len);
    for (int i = 0; i < 20; i++) {
        unsigned byte = (h[i / 4] >> (24 - 8 * (i % 4))) & 0xFF;
        hex[2 * i] = digits[byte >> 4];
        hex[2 * i + 1] = digits[byte & 15];
    }
    hex[RK_SHA1_HEX_LEN] = '\0';
}
