/* bastion._native.keyed_digest: the input scan cache's key for a text (policy/scan_cache.py).
 *
 *   keyed_digest(key, data) -> bytes
 *       SipHash-2-4 with its 128-bit output (Aumasson and Bernstein; the reference implementation's
 *       `siphash(in, inlen, k, out, 16)`) under the 16-byte `key`: of `data` itself when it is bytes; of a
 *       str's characters as CPython holds them (1, 2 or 4 bytes each, the width fixed by the text: two equal
 *       texts are the same bytes, two unequal ones different bytes or widths) under the key with its last
 *       byte XORed with the width, so texts of different widths are hashed under different keys. No copy and
 *       no UTF-8 encoding; lone surrogates are characters like any other.
 *   A keyed pseudo-random function: without the key (random per process) nobody can make two texts meet.
 */
#include "_native.h"

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                                                                   \
    do {                                                                           \
        v0 += v1; v1 = ROTL(v1, 13); v1 ^= v0; v0 = ROTL(v0, 32);                  \
        v2 += v3; v3 = ROTL(v3, 16); v3 ^= v2;                                     \
        v0 += v3; v3 = ROTL(v3, 21); v3 ^= v0;                                     \
        v2 += v1; v1 = ROTL(v1, 17); v1 ^= v2; v2 = ROTL(v2, 32);                  \
    } while (0)

static uint64_t load64(const unsigned char *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    return v;
}

static void store64(unsigned char *p, uint64_t v)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    memcpy(p, &v, 8);
}

static void siphash128(const unsigned char *in, size_t len, uint64_t k0, uint64_t k1, unsigned char out[16])
{
    uint64_t v0 = 0x736f6d6570736575ULL ^ k0, v1 = 0x646f72616e646f6dULL ^ k1;
    uint64_t v2 = 0x6c7967656e657261ULL ^ k0, v3 = 0x7465646279746573ULL ^ k1;
    const unsigned char *end = in + (len - len % 8);
    uint64_t b = ((uint64_t)len) << 56, m;
    v1 ^= 0xee;
    for (; in != end; in += 8) {
        m = load64(in);
        v3 ^= m;
        SIPROUND;
        SIPROUND;
        v0 ^= m;
    }
    switch (len & 7) {
    case 7: b |= ((uint64_t)in[6]) << 48; /* fall through */
    case 6: b |= ((uint64_t)in[5]) << 40; /* fall through */
    case 5: b |= ((uint64_t)in[4]) << 32; /* fall through */
    case 4: b |= ((uint64_t)in[3]) << 24; /* fall through */
    case 3: b |= ((uint64_t)in[2]) << 16; /* fall through */
    case 2: b |= ((uint64_t)in[1]) << 8; /* fall through */
    case 1: b |= ((uint64_t)in[0]); break;
    case 0: break;
    }
    v3 ^= b;
    SIPROUND;
    SIPROUND;
    v0 ^= b;
    v2 ^= 0xee;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    store64(out, v0 ^ v1 ^ v2 ^ v3);
    v1 ^= 0xdd;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    store64(out + 8, v0 ^ v1 ^ v2 ^ v3);
}

PyObject *native_keyed_digest(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2 || !PyBytes_Check(args[0]) || PyBytes_GET_SIZE(args[0]) != 16) {
        PyErr_SetString(PyExc_TypeError, "keyed_digest(key: bytes of 16, data: str | bytes)");
        return NULL;
    }
    const unsigned char *key = (const unsigned char *)PyBytes_AS_STRING(args[0]);
    uint64_t k0 = load64(key), k1 = load64(key + 8);
    PyObject *data = args[1];
    const unsigned char *in;
    size_t len;
    if (PyUnicode_Check(data)) {
        if (PyUnicode_READY(data) < 0)
            return NULL;
        int kind = PyUnicode_KIND(data);
        in = (const unsigned char *)PyUnicode_DATA(data);
        len = (size_t)PyUnicode_GET_LENGTH(data) * (size_t)kind;
        k1 ^= ((uint64_t)kind) << 56; /* the key's last byte */
    } else if (PyBytes_Check(data)) {
        in = (const unsigned char *)PyBytes_AS_STRING(data);
        len = (size_t)PyBytes_GET_SIZE(data);
    } else {
        PyErr_SetString(PyExc_TypeError, "keyed_digest: data must be str or bytes");
        return NULL;
    }
    unsigned char out[16];
    siphash128(in, len, k0, k1, out);
    return PyBytes_FromStringAndSize((const char *)out, 16);
}
