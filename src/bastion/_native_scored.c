/* features_windows: `features` and `window_logits` of one chunk in one pass (see _native.c).
 *
 *   features_windows(codes, bits, word_table, salts, weights, live, window, stride, bias[, tables])
 *       -> (trigrams, words, word_starts, longest, logits[, rule_ok, maybe])
 *       The features of `codes` (n >= 8) are hashed as `features` hashes them, but only the character
 *       3-grams' buckets (the prefilter's), the words and their starts are returned; every feature's weight
 *       goes straight into the large windows' logits, as `window_logits` computes them from `features`'
 *       buckets and positions with the starts LinearModel.window_starts(n) gives (0, stride, ... and one
 *       flush with the end). The same float64 values: per position, its features' weights in feature order
 *       (3-, 4-, 5-gram, word, word pair: numpy.bincount's order over `features`' output), then sequential
 *       prefix sums. `weights` holds 2**bits float32, `live` is empty or one byte per weight. With the
 *       prefilter's `tables` (`prefilter_tables`), also `prefilter(tables, trigrams)`'s flags, read from the
 *       buckets as they lie in memory (below 2**bits: not checked one by one when the tables hold as many).
 */
#include "_native.h"

#define BASE 0x100000001B3ULL
#define PAIR 0xC2B2AE3D27D4EB4FULL
#define MIX 0x9E3779B97F4A7C15ULL

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define SCORED_AVX2 1
/* The character n-grams of sum_plain four positions at a time where the CPU has AVX2 (checked once; `features_simd`
 * turns it off for the tests that hold it equal to the scalar loop): -1 not yet checked, 0 scalar, 1 AVX2. */
static int use_avx2 = -1;

/* x * BASE per 64-bit lane, modulo 2**64 (BASE = 2**40 + 0x1B3; AVX2 multiplies 32-bit halves only). */
static inline __attribute__((target("avx2"), always_inline)) __m256i
times_base(__m256i x, __m256i low)
{
    __m256i lo = _mm256_mul_epu32(x, low), hi = _mm256_mul_epu32(_mm256_srli_epi64(x, 32), low);
    return _mm256_add_epi64(_mm256_add_epi64(lo, _mm256_slli_epi64(hi, 32)), _mm256_slli_epi64(x, 40));
}

/* c * k per 64-bit lane, modulo 2**64, for c below 2**32 (a code point as loaded): k's halves in `klo`, `khi`. */
static inline __attribute__((target("avx2"), always_inline)) __m256i
times_small(__m256i c, __m256i klo, __m256i khi)
{
    return _mm256_add_epi64(_mm256_mul_epu32(c, klo), _mm256_slli_epi64(_mm256_mul_epu32(c, khi), 32));
}

/* x * k per 64-bit lane, modulo 2**64: k's halves in `klo`, `khi`. */
static inline __attribute__((target("avx2"), always_inline)) __m256i
times(__m256i x, __m256i klo, __m256i khi)
{
    __m256i cross = _mm256_add_epi64(_mm256_mul_epu32(_mm256_srli_epi64(x, 32), klo), _mm256_mul_epu32(x, khi));
    return _mm256_add_epi64(_mm256_mul_epu32(x, klo), _mm256_slli_epi64(cross, 32));
}

/* The bucket ((h ^ salt) * MIX) >> shift per lane (the scalar loop's, modulo 2**64). */
static inline __attribute__((target("avx2"), always_inline)) __m256i
bucket4(__m256i h, __m256i salt, __m256i mlo, __m256i mhi, __m128i shift)
{
    return _mm256_srl_epi64(times(_mm256_xor_si256(h, salt), mlo, mhi), shift);
}

/* The weights of the words [0, k) and of the pairs they start (k < nwords: each has a next word) added to
 * acc[starts[j]], word then pair (the scalar loop's order), four words at a time; the number of words done (a multiple
 * of 4: the rest are the caller's). */
static __attribute__((target("avx2"))) Py_ssize_t
words_avx2(const uint64_t *hw, const int64_t *starts, Py_ssize_t k, const uint64_t *salt, int shift, const float *w,
           double *acc)
{
    const __m256i mlo = _mm256_set1_epi64x((int64_t)(MIX & 0xFFFFFFFFULL));
    const __m256i mhi = _mm256_set1_epi64x((int64_t)(MIX >> 32));
    const __m256i plo = _mm256_set1_epi64x((int64_t)(PAIR & 0xFFFFFFFFULL));
    const __m256i phi = _mm256_set1_epi64x((int64_t)(PAIR >> 32));
    const __m256i s3 = _mm256_set1_epi64x((int64_t)salt[3]), s4 = _mm256_set1_epi64x((int64_t)salt[4]);
    const __m128i sh = _mm_cvtsi32_si128(shift);
    Py_ssize_t j = 0;
    for (; j + 4 <= k; j += 4) {
        __m256i hn = _mm256_loadu_si256((const __m256i *)(hw + j));
        __m256i hp = _mm256_add_epi64(times(hn, plo, phi), _mm256_loadu_si256((const __m256i *)(hw + j + 1)));
        double word[4], pair[4];
        _mm256_storeu_pd(word, _mm256_cvtps_pd(_mm256_i64gather_ps(w, bucket4(hn, s3, mlo, mhi, sh), 4)));
        _mm256_storeu_pd(pair, _mm256_cvtps_pd(_mm256_i64gather_ps(w, bucket4(hp, s4, mlo, mhi, sh), 4)));
        for (int q = 0; q < 4; q++) {
            double *a = acc + starts[j + q];
            *a += word[q];
            *a += pair[q];
        }
    }
    return j;
}

/* For the positions [0, m) of `c` (m the returned multiple of 4, m + 8 > n), the 3-gram's bucket into b3[p] and the
 * weights of the 3-, 4- and 5-gram starting at p into acc[p], as sum_plain adds them (float32 widened, in that
 * order: the same float64 value). Every bucket is below 2**bits, the number of weights. */
static __attribute__((target("avx2"))) Py_ssize_t
grams_avx2(const uint32_t *c, Py_ssize_t n, const uint64_t *salt, int shift, const float *w, int64_t *b3, double *acc)
{
    const __m256i low = _mm256_set1_epi64x(0x1B3), mlo = _mm256_set1_epi64x((int64_t)(MIX & 0xFFFFFFFFULL));
    const __m256i mhi = _mm256_set1_epi64x((int64_t)(MIX >> 32));
    const __m256i s0 = _mm256_set1_epi64x((int64_t)salt[0]), s1 = _mm256_set1_epi64x((int64_t)salt[1]);
    const __m256i s2 = _mm256_set1_epi64x((int64_t)salt[2]);
    const __m128i sh = _mm_cvtsi32_si128(shift);
    const uint64_t base2 = BASE * BASE; /* (modulo 2**64) */
    const __m256i b2lo = _mm256_set1_epi64x((int64_t)(base2 & 0xFFFFFFFFULL));
    const __m256i b2hi = _mm256_set1_epi64x((int64_t)(base2 >> 32));
    Py_ssize_t i = 0;
    for (; i + 8 <= n; i += 4) { /* (c[i + 7], the last 5-gram's end, is inside) */
#define CODES(k) _mm256_cvtepu32_epi64(_mm_loadu_si128((const __m128i *)(c + i + (k))))
        /* c0 * BASE**2 + c1 * BASE + c2, modulo 2**64: the rolling hash's value (BASE = 2**40 + 0x1B3) */
        __m256i c1 = CODES(1);
        __m256i h3 = _mm256_add_epi64(_mm256_add_epi64(times_small(CODES(0), b2lo, b2hi), CODES(2)),
                                      _mm256_add_epi64(_mm256_mul_epu32(c1, low), _mm256_slli_epi64(c1, 40)));
        __m256i h4 = _mm256_add_epi64(times_base(h3, low), CODES(3));
        __m256i h5 = _mm256_add_epi64(times_base(h4, low), CODES(4));
#undef CODES
        __m256i b = bucket4(h3, s0, mlo, mhi, sh);
        _mm256_storeu_si256((__m256i *)(b3 + i), b);
        __m256d a = _mm256_cvtps_pd(_mm256_i64gather_ps(w, b, 4));
        a = _mm256_add_pd(a, _mm256_cvtps_pd(_mm256_i64gather_ps(w, bucket4(h4, s1, mlo, mhi, sh), 4)));
        a = _mm256_add_pd(a, _mm256_cvtps_pd(_mm256_i64gather_ps(w, bucket4(h5, s2, mlo, mhi, sh), 4)));
        _mm256_storeu_pd(acc + i, a);
    }
    return i;
}

static int
avx2_on(void)
{
    if (use_avx2 < 0) {
        __builtin_cpu_init();
        use_avx2 = __builtin_cpu_supports("avx2") != 0;
    }
    return use_avx2;
}
#endif

/* features_simd([on]) -> bool: whether features_windows hashes with AVX2 (after setting it: `on` false keeps the
 * scalar loop, true uses AVX2 where the CPU has it). For the tests that compare the two. */
PyObject *
native_features_simd(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs > 1) {
        PyErr_SetString(PyExc_TypeError, "features_simd: expected at most 1 argument");
        return NULL;
    }
#ifdef SCORED_AVX2
    int on = avx2_on();
    if (nargs == 1) {
        int want = PyObject_IsTrue(args[0]);
        if (want < 0)
            return NULL;
        use_avx2 = -1;
        on = want && avx2_on();
        use_avx2 = on;
    }
    return PyBool_FromLong(on);
#else
    if (nargs == 1 && PyObject_IsTrue(args[0]) < 0)
        return NULL;
    Py_RETURN_FALSE;
#endif
}

/* Per position p, the weights of the features starting at p in feature order (each bucket < 2**bits = the
 * number of weights) added to the prefix sums before p, and their count (those `live` marks, when given). */
static inline __attribute__((always_inline)) void
sum_positions(const uint32_t *c, Py_ssize_t n, const uint64_t *salt, int shift, const float *w,
              const unsigned char *live, const int64_t *starts, const uint64_t *hw, Py_ssize_t nwords, int64_t *b3,
              double *csum, int64_t *ccount)
{
#define ADD(bucket)                                  \
    do {                                             \
        int64_t b_ = (bucket);                       \
        acc += (double)w[b_];                        \
        cnt += live != NULL ? live[b_] != 0 : 1;     \
    } while (0)
#define WORD()                                                                                    \
    do {                                                                                          \
        if (i == next_at) {                                                                       \
            ADD((int64_t)(((hw[next] ^ salt[3]) * MIX) >> shift));                                \
            if (next + 1 < nwords)                                                                \
                ADD((int64_t)((((hw[next] * PAIR + hw[next + 1]) ^ salt[4]) * MIX) >> shift));     \
            next++;                                                                               \
            next_at = next < nwords ? starts[next] : -1;                                          \
        }                                                                                         \
    } while (0)
    csum[0] = 0.0;
    ccount[0] = 0;
    /* the next word and where it starts (-1: none), and the running sums, in locals: the stores into b3, csum
     * and ccount (int64 and double arrays) would otherwise make the compiler read them back every position */
    Py_ssize_t next = 0, i = 0;
    int64_t next_at = nwords > 0 ? starts[0] : -1, total_cnt = 0;
    double total = 0.0; /* csum[i], the same float64 additions in the same order */
    for (; i + 4 < n; i++) { /* a 3-, 4- and 5-gram start here */
        double acc = 0.0;
        int64_t cnt = 0;
        uint64_t h = ((uint64_t)c[i] * BASE + c[i + 1]) * BASE + c[i + 2];
        b3[i] = (int64_t)(((h ^ salt[0]) * MIX) >> shift);
        ADD(b3[i]);
        h = h * BASE + c[i + 3];
        ADD((int64_t)(((h ^ salt[1]) * MIX) >> shift));
        h = h * BASE + c[i + 4];
        ADD((int64_t)(((h ^ salt[2]) * MIX) >> shift));
        WORD();
        total += acc;
        csum[i + 1] = total;
        total_cnt += cnt;
        ccount[i + 1] = total_cnt;
    }
    for (; i < n; i++) { /* the last four positions */
        double acc = 0.0;
        int64_t cnt = 0;
        if (i + 2 < n) {
            uint64_t h = ((uint64_t)c[i] * BASE + c[i + 1]) * BASE + c[i + 2];
            b3[i] = (int64_t)(((h ^ salt[0]) * MIX) >> shift);
            ADD(b3[i]);
            if (i + 3 < n) {
                h = h * BASE + c[i + 3];
                ADD((int64_t)(((h ^ salt[1]) * MIX) >> shift));
            }
        }
        WORD();
        total += acc;
        csum[i + 1] = total;
        total_cnt += cnt;
        ccount[i + 1] = total_cnt;
    }
#undef WORD
#undef ADD
}

static inline Py_ssize_t below(const int64_t *starts, Py_ssize_t nwords, Py_ssize_t x);

/* sum_positions without `live` (every feature counts): only the sums. A window's count follows from where it lies
 * (window_count); the 3-gram hash rolls (the next one is the 4-gram's hash less its first code point's term, modulo
 * 2**64: the same value as hashed afresh), each position loads one new code point, the salts are in locals, two
 * positions a loop step (the same operations in the same order; fewer loop tests and spilled reloads). The
 * per-position sum starts from the 3-gram's weight instead of 0.0 + it: the two differ only in a zero's sign, which
 * no later addition to `total` (never -0.0: it starts at +0.0 and rounds to nearest) can see. */
static void
sum_plain(const uint32_t *c, Py_ssize_t n, const uint64_t *salt, int shift, const float *w, const int64_t *starts,
          const uint64_t *hw, Py_ssize_t nwords, int64_t *b3, double *csum)
{
    const uint64_t s0 = salt[0], s1 = salt[1], s2 = salt[2], s3 = salt[3], s4 = salt[4];
    const uint64_t base3 = BASE * BASE * BASE;
    Py_ssize_t next = 0, i = 0;
    int64_t next_at = nwords > 0 ? starts[0] : -1;
    double total = 0.0;
    csum[0] = 0.0;
#ifdef SCORED_AVX2
    if (avx2_on()) { /* the n-grams' weights of the first positions four at a time (into csum[1..i]), then the words'
                      * added to their first position's (word, then pair: the scalar loop's order; four words at a
                      * time, then the rest), then the sums */
        i = grams_avx2(c, n, salt, shift, w, b3, csum + 1);
        Py_ssize_t k = below(starts, nwords, i); /* the words starting below i but the last word (it starts no pair) */
        k = k < nwords - 1 ? k : (nwords > 0 ? nwords - 1 : 0);
        next = words_avx2(hw, starts, k, salt, shift, w, csum + 1);
        for (; next < nwords && starts[next] < i; next++) {
            uint64_t hn = hw[next];
            double *acc = csum + starts[next] + 1;
            *acc += (double)w[((hn ^ s3) * MIX) >> shift];
            if (next + 1 < nwords)
                *acc += (double)w[(((hn * PAIR + hw[next + 1]) ^ s4) * MIX) >> shift];
        }
        next_at = next < nwords ? starts[next] : -1;
        for (Py_ssize_t p = 1; p <= i; p += 4) { /* (i: a multiple of 4; four a step, fewer loop tests) */
            csum[p] = total += csum[p];
            csum[p + 1] = total += csum[p + 1];
            csum[p + 2] = total += csum[p + 2];
            csum[p + 3] = total += csum[p + 3];
        }
    }
#endif
#define WORD_ADD(j)                                                                             \
    do {                                                                                        \
        if ((j) == next_at) {                                                                   \
            uint64_t hn = hw[next];                                                             \
            acc += (double)w[((hn ^ s3) * MIX) >> shift];                                       \
            if (next + 1 < nwords)                                                              \
                acc += (double)w[(((hn * PAIR + hw[next + 1]) ^ s4) * MIX) >> shift];           \
            next++;                                                                             \
            next_at = next < nwords ? starts[next] : -1;                                        \
        }                                                                                       \
    } while (0)
#define STEP(j)                                                                                 \
    do {                                                                                        \
        uint64_t h4 = h3 * BASE + c[(j) + 3], h5 = h4 * BASE + c[(j) + 4];                      \
        uint64_t b = ((h3 ^ s0) * MIX) >> shift;                                                \
        b3[j] = (int64_t)b;                                                                     \
        double acc = (double)w[b];                                                              \
        acc += (double)w[((h4 ^ s1) * MIX) >> shift];                                           \
        acc += (double)w[((h5 ^ s2) * MIX) >> shift];                                           \
        WORD_ADD(j);                                                                            \
        total += acc;                                                                           \
        csum[(j) + 1] = total;                                                                  \
        h3 = h4 - (uint64_t)c[j] * base3;                                                       \
    } while (0)
    uint64_t h3 = ((uint64_t)c[i] * BASE + c[i + 1]) * BASE + c[i + 2]; /* (n >= 8; i + 8 > n after AVX2's) */
    for (; i + 5 < n; i += 2) { /* two positions a step, where a 3-, 4- and 5-gram start */
        STEP(i);
        STEP(i + 1);
    }
    if (i + 4 < n) {
        STEP(i);
        i++;
    }
#undef STEP
    for (; i < n; i++) { /* the last four positions (h3: position i's 3-gram while one starts here) */
        double acc = 0.0;
        if (i + 2 < n) {
            uint64_t b = ((h3 ^ s0) * MIX) >> shift;
            b3[i] = (int64_t)b;
            acc += (double)w[b];
            if (i + 3 < n) {
                uint64_t h4 = h3 * BASE + c[i + 3];
                acc += (double)w[((h4 ^ s1) * MIX) >> shift];
                h3 = h4 - (uint64_t)c[i] * base3;
            }
        }
        WORD_ADD(i);
        total += acc;
        csum[i + 1] = total;
    }
#undef WORD_ADD
}

/* The number of the ascending `starts` below x. */
static inline Py_ssize_t
below(const int64_t *starts, Py_ssize_t nwords, Py_ssize_t x)
{
    Py_ssize_t lo = 0, hi = nwords;
    while (lo < hi) {
        Py_ssize_t mid = lo + (hi - lo) / 2;
        if (starts[mid] < x)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* The features starting in [a, e) (0 <= a < e <= n, n >= 8) when every one counts: the 3-, 4- and 5-grams that fit,
 * the words and the word pairs (a pair starts with its first word: every word but the last). */
static inline int64_t
window_count(Py_ssize_t a, Py_ssize_t e, Py_ssize_t n, const int64_t *starts, Py_ssize_t nwords)
{
    int64_t cnt = 0;
    for (Py_ssize_t k = 2; k <= 4; k++) {
        Py_ssize_t end = e < n - k ? e : n - k;
        cnt += end > a ? end - a : 0;
    }
    if (nwords > 0) {
        Py_ssize_t wa = below(starts, nwords, a), we = below(starts, nwords, e);
        cnt += (we - wa) + ((we < nwords - 1 ? we : nwords - 1) - (wa < nwords - 1 ? wa : nwords - 1));
    }
    return cnt;
}

/* METH_FASTCALL: a format string's parse cost about as much as the pass over a short text's windows. */
PyObject *
native_features_windows(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 9 && nargs != 10) {
        PyErr_SetString(PyExc_TypeError, "features_windows: expected 9 or 10 arguments");
        return NULL;
    }
    PyObject *objs[5] = {args[0], args[2], args[3], args[4], args[5]}, *pre = nargs == 10 ? args[9] : NULL;
    Py_ssize_t bits = index_arg(args[1]), window, stride;
    if (bits == -1 && PyErr_Occurred())
        return NULL;
    if ((window = index_arg(args[6])) == -1 && PyErr_Occurred())
        return NULL;
    if ((stride = index_arg(args[7])) == -1 && PyErr_Occurred())
        return NULL;
    double bias = PyFloat_AsDouble(args[8]);
    if (bias == -1.0 && PyErr_Occurred())
        return NULL;
    if (bits < 1 || bits > 40) {
        PyErr_SetString(PyExc_ValueError, "bits: must be 1..40");
        return NULL;
    }
    if (window < 1 || stride < 1) {
        PyErr_SetString(PyExc_ValueError, "window, stride: must be >= 1");
        return NULL;
    }
    static const char *names[5] = {"codes", "word_table", "salts", "weights", "live"};
    static const Py_ssize_t sizes[5] = {4, 1, 8, 4, 1};
    Py_buffer v[5];
    int got = 0;
    PyObject *result = NULL, *trigrams = NULL, *words = NULL, *starts_out = NULL, *logits = NULL;
    int64_t *starts = NULL, *ccount = NULL;
    uint64_t *word_hashes = NULL;
    double *csum = NULL;
    for (; got < 5; got++)
        if (get_buffer(objs[got], &v[got], sizes[got], names[got]) < 0)
            goto done;
    const uint32_t *c = v[0].buf;
    const unsigned char *table = v[1].buf, *live = v[4].buf;
    const uint64_t *salt = v[2].buf;
    const float *w = v[3].buf;
    Py_ssize_t n = v[0].len / 4, tlen = v[1].len, nw = v[3].len / 4, nl = v[4].len;
    if (n < 8 || v[2].len != 5 * 8) {
        PyErr_SetString(PyExc_ValueError, "features_windows: needs at least 8 code points and 5 salts");
        goto done;
    }
    if (nw != ((Py_ssize_t)1 << bits) || (nl != 0 && nl != nw)) {
        PyErr_SetString(PyExc_ValueError, "features_windows: weights must hold 2**bits values, live none or as many");
        goto done;
    }
    /* the scratch arrays in one allocation (8-byte items): starts and word hashes n / 2 + 1 each, the prefix sums
     * n + 1, the prefix counts n + 1 when `live` is given (a buffer's n is far below SIZE_MAX / 32) */
    size_t half = (size_t)(n / 2 + 1), full = (size_t)(n + 1);
    starts = PyMem_Malloc(8 * (2 * half + (nl ? 2 : 1) * full));
    if (starts == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    word_hashes = (uint64_t *)(starts + half);
    csum = (double *)(word_hashes + half);
    ccount = nl ? (int64_t *)(csum + full) : NULL;
    Py_ssize_t longest, nwords = find_words(c, n, table, tlen, starts, word_hashes, &longest);
    Py_ssize_t nstarts = n <= window ? 1 : (n - window) / stride + 1 + ((n - window) % stride != 0);
    trigrams = PyByteArray_FromStringAndSize(NULL, (n - 2) * 8);
    words = PyByteArray_FromStringAndSize(NULL, nwords * 8);
    starts_out = PyByteArray_FromStringAndSize(NULL, nwords * 8);
    logits = PyByteArray_FromStringAndSize(NULL, nstarts * 8);
    if (trigrams == NULL || words == NULL || starts_out == NULL || logits == NULL)
        goto done;
    int64_t *b3 = (int64_t *)PyByteArray_AS_STRING(trigrams);
    uint64_t *hw = (uint64_t *)PyByteArray_AS_STRING(words);
    int shift = 64 - bits;
    if (nwords)
        memcpy(hw, word_hashes, (size_t)nwords * 8);
    if (nl)
        sum_positions(c, n, salt, shift, w, live, starts, hw, nwords, b3, csum, ccount);
    else
        sum_plain(c, n, salt, shift, w, starts, hw, nwords, b3, csum);
    double *out = (double *)PyByteArray_AS_STRING(logits);
    for (Py_ssize_t k = 0; k < nstarts; k++) {
        /* LinearModel.window_starts: every stride, and one flush with the end */
        Py_ssize_t a = n <= window ? 0 : (k + 1 < nstarts ? k * stride : n - window);
        Py_ssize_t e = window < n - a ? a + window : n; /* (no overflow: a < n) */
        double cnt = (double)(nl ? ccount[e] - ccount[a] : window_count(a, e, n, starts, nwords));
        out[k] = bias + (csum[e] - csum[a]) / sqrt(cnt > 1.0 ? cnt : 1.0);
    }
    if (nwords)
        memcpy(PyByteArray_AS_STRING(starts_out), starts, (size_t)nwords * 8);
    PyObject *items[7] = {trigrams, words, starts_out, PyLong_FromSsize_t(longest), logits, NULL, NULL};
    /* with the tables, the prefilter's flags of the 3-grams too (their buckets are below 2**bits) */
    PyObject *flags = items[3] == NULL || pre == NULL ? NULL : prefilter_below(pre, b3, n - 2, (int)bits);
    if (flags != NULL)
        items[5] = PyTuple_GET_ITEM(flags, 0), items[6] = PyTuple_GET_ITEM(flags, 1);
    if (items[3] != NULL && (pre == NULL || flags != NULL))
        result = tuple_of(pre == NULL ? 5 : 7, items);
    Py_XDECREF(items[3]);
    Py_XDECREF(flags);
done:
    Py_XDECREF(trigrams);
    Py_XDECREF(words);
    Py_XDECREF(starts_out);
    Py_XDECREF(logits);
    PyMem_Free(starts); /* (and the other scratch arrays) */
    for (int i = 0; i < got; i++)
        PyBuffer_Release(&v[i]);
    return result;
}
