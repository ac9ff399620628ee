/* features_windows: `features` and `window_logits` of one chunk in one pass (see _native.c).
 *
 *   features_windows(codes, bits, word_table, salts, weights, live, window, stride, bias)
 *       -> (trigrams, words, word_starts, longest, logits)
 *       The features of `codes` (n >= 8) are hashed as `features` hashes them, but only the character
 *       3-grams' buckets (the prefilter's), the words and their starts are returned; every feature's weight
 *       goes straight into the large windows' logits, as `window_logits` computes them from `features`'
 *       buckets and positions with the starts LinearModel.window_starts(n) gives (0, stride, ... and one
 *       flush with the end). The same float64 values: per position, its features' weights in feature order
 *       (3-, 4-, 5-gram, word, word pair: numpy.bincount's order over `features`' output), then sequential
 *       prefix sums. `weights` holds 2**bits float32, `live` is empty or one byte per weight.
 */
#include "_native.h"

#define BASE 0x100000001B3ULL
#define PAIR 0xC2B2AE3D27D4EB4FULL
#define MIX 0x9E3779B97F4A7C15ULL

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

PyObject *
native_features_windows(PyObject *self, PyObject *args)
{
    PyObject *objs[5];
    int bits;
    Py_ssize_t window, stride;
    double bias;
    if (!PyArg_ParseTuple(args, "OiOOOOnnd", &objs[0], &bits, &objs[1], &objs[2], &objs[3], &objs[4], &window,
                          &stride, &bias))
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
    starts = PyMem_Malloc(sizeof(int64_t) * (size_t)(n / 2 + 1));
    word_hashes = PyMem_Malloc(sizeof(int64_t) * (size_t)(n / 2 + 1));
    csum = PyMem_Malloc(sizeof(double) * (size_t)(n + 1));
    ccount = PyMem_Malloc(sizeof(int64_t) * (size_t)(n + 1));
    if (starts == NULL || word_hashes == NULL || csum == NULL || ccount == NULL) {
        PyErr_NoMemory();
        goto done;
    }
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
    else /* (inlined with live NULL: no test per feature) */
        sum_positions(c, n, salt, shift, w, NULL, starts, hw, nwords, b3, csum, ccount);
    double *out = (double *)PyByteArray_AS_STRING(logits);
    for (Py_ssize_t k = 0; k < nstarts; k++) {
        /* LinearModel.window_starts: every stride, and one flush with the end */
        Py_ssize_t a = n <= window ? 0 : (k + 1 < nstarts ? k * stride : n - window);
        Py_ssize_t e = window < n - a ? a + window : n; /* (no overflow: a < n) */
        double cnt = (double)(ccount[e] - ccount[a]);
        out[k] = bias + (csum[e] - csum[a]) / sqrt(cnt > 1.0 ? cnt : 1.0);
    }
    if (nwords)
        memcpy(PyByteArray_AS_STRING(starts_out), starts, (size_t)nwords * 8);
    result = Py_BuildValue("OOOnO", trigrams, words, starts_out, longest, logits);
done:
    Py_XDECREF(trigrams);
    Py_XDECREF(words);
    Py_XDECREF(starts_out);
    Py_XDECREF(logits);
    PyMem_Free(starts);
    PyMem_Free(word_hashes);
    PyMem_Free(csum);
    PyMem_Free(ccount);
    for (int i = 0; i < got; i++)
        PyBuffer_Release(&v[i]);
    return result;
}
