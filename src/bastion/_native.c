/* bastion._native: the injection detector's two numeric inner loops in C (optional; the numpy
 * code in policy/injection/{features,prefilter}.py is the reference and the fallback, and the
 * tests compare the two on every path).
 *
 *   features(codes, bits, word_table, salts) -> (buckets, positions, words, word_starts, longest)
 *       Hasher.extract for n >= 8 code points: the hashed character 3-, 4- and 5-grams, words and
 *       word pairs of `codes` (uint32), in the same order and with the same values (polynomial
 *       hashes modulo 2**64, mixed per kind, reduced to `bits`). Arrays come back as bytearrays
 *       of int64 / uint64 for numpy.frombuffer.
 *   prefilter_tables(tri, member_flat, clause_start, rule_flat, rule_start, size) -> tables
 *   prefilter(tables, trigrams) -> (rule_ok, maybe)
 *       Prefilter.scan: per literal string, 1 when all 8 of its picked 3-gram buckets occur among
 *       `trigrams`; per clause, any of its strings; per rule, all of its clauses. The tables are
 *       checked once; a call checks its trigrams, so no input can make it read out of bounds.
 *
 *   window_logits(buckets, positions, weights, live, n, starts, window, bias) -> logits
 *       LinearModel's window logits before rule cues (`weights` float32, the model's own type;
 *       widened to float64 exactly): per window [s, min(s + window, n)), bias + the
 *       sum of the weights of the features starting in it / sqrt(their count, at least 1) (`live`,
 *       when not empty, says which buckets count). Sums per position in feature order, then prefix
 *       sums: numpy.bincount's and numpy.cumsum's order, so the same float64 values.
 *
 *   features_windows(codes, bits, word_table, salts, weights, live, window, stride, bias[, tables])
 *       -> (trigrams, words, word_starts, longest, logits[, rule_ok, maybe])
 *       features and window_logits of one chunk in one pass, without the arrays between them (in
 *       _native_scored.c); with the prefilter's tables, also `prefilter(tables, trigrams)`'s flags.
 *   features_simd([on]) -> bool
 *       Whether features_windows hashes the character n-grams with AVX2 (where the CPU has it); `on` false
 *       keeps the scalar loop (the tests compare the two).
 *
 *   anchor_tables(hashes, first, rules, n_rules) -> anchors
 *   anchored_spans(anchors, word_hashes, word_starts, ok, lo, n, before, after) -> dict | None
 *       Regions.anchored_spans: per rule k with ok[k] and an anchor among the words, the spans
 *       [max(lo, p - before), min(n, p + after)) around its anchors' positions p, merged when they
 *       overlap, keyed in order of first occurrence; None when the words are not in text order.
 *   anchored_by_rule(anchors, word_hashes, word_starts, ok, lo, n, before, after) -> dict
 *       Regions.anchored_long: the same spans of words in any order, keyed by ascending rule index.
 *   possible_anchored(anchors, tables, word_hashes, word_starts, ok, maybe, text, few, test_from, before, after)
 *       -> dict | None
 *       possible_regions(tables, anchored_spans(anchors, ..., ok, 0, len(text), before, after), maybe, text, few,
 *       test_from) without the spans' objects between them (_native_possible.c).
 *
 *   possible_tables(rule_clauses, clause_members, strings, budget) -> tables
 *   possible(tables, rule, maybe, text, a, b, few) -> bool
 *       Prefilter.possible, the exact str.find test of a region (in _native_possible.c).
 *   possible_regions(tables, regions, maybe, text, few, test_from) -> dict
 *       Prefilter._possible_regions: `possible` of every region of a scan in one call (_native_possible.c).
 *   next_literal(text, literals, pos, end) -> int
 *       Where the first of `literals` starts in text[pos:end] (wholly inside it), -1 when none, -2 when `text` is
 *       not of one byte per character (_native_possible.c: the detector's search for rules led by `\b`).
 *
 *   window_logits_capped(buckets, positions, weights, live, n, starts, window, bias, cap) -> logits
 *       window_logits with each bucket counted at most `cap` times per window (in _native_distinct.c).
 *
 *   leet_runs(text) -> list[(start, end)]
 *       leet._leet_runs, the spans that undoing leetspeak changes (in _native_leet.c).
 *
 *   canon(text, table, multi, layout, astral, keep) -> (str, codes, origin)
 *       The detector's canonical form before the spaced-letters step (in _native_canon.c).
 *
 *   ascii_canon(text, keep, drop, hint_class, run_class, hex_map, b85_map)
 *       -> None | (str, codes, spaced_hint, run_hint, gates, leet)
 *       canon._ascii_fast's one-character map of an ASCII text and its gates, encoding_gates's gates and whether
 *       leet_runs finds a run, in one pass (_native_ascii.c).
 *   encoding_gates(text, hex_map, b85_map) -> (morse, zero, hex_digits, hex_run, b85_run)
 *       encodings.encoded_runs's count gates of an ASCII text, in one pass (_native_ascii.c).
 *
 *   secret_tables(literals, common) -> tables;  secret_bits(tables, text) -> int
 *       The secrets scanner's literal prefilter: the rule bits whose literals occur, in one pass (_native_secrets.c).
 *
 *   plain(text) -> bool;  pii_gates(text) -> None | (first digit, IBAN hint, IPv6 hint, cluster spans)
 *       normalize.is_plain, and the PII scanner's gates of an ASCII text, in one pass each (_native_pii.c).
 *   quiet_text(marks, tables, text) -> bool
 *       An ASCII text with no byte `marks` marks and (tables not None) no secret literal (_native_pii.c).
 *   pending_start(text, pos) -> int
 *       policy/window.py's pending suffix start of an ASCII text, -1 for another str (_native_pii.c).
 *
 * They hold the GIL throughout (the prefilter's tables hold a stamp table each call writes).
 */
#include "_native.h"

#define BASE 0x100000001B3ULL
#define PAIR 0xC2B2AE3D27D4EB4FULL
#define MIX 0x9E3779B97F4A7C15ULL

static PyObject *
native_features(PyObject *self, PyObject *args)
{
    PyObject *codes_obj, *table_obj, *salts_obj;
    int bits;
    if (!PyArg_ParseTuple(args, "OiOO", &codes_obj, &bits, &table_obj, &salts_obj))
        return NULL;
    if (bits < 1 || bits > 63) {
        PyErr_SetString(PyExc_ValueError, "bits: must be 1..63");
        return NULL;
    }
    Py_buffer cv, tv, sv;
    if (get_buffer(codes_obj, &cv, 4, "codes") < 0)
        return NULL;
    if (get_buffer(table_obj, &tv, 1, "word_table") < 0) {
        PyBuffer_Release(&cv);
        return NULL;
    }
    if (get_buffer(salts_obj, &sv, 8, "salts") < 0) {
        PyBuffer_Release(&cv);
        PyBuffer_Release(&tv);
        return NULL;
    }
    PyObject *result = NULL;
    PyObject *buckets = NULL, *positions = NULL, *words = NULL, *starts_out = NULL;
    int64_t *starts = NULL;
    uint64_t *word_hashes = NULL;
    const uint32_t *c = (const uint32_t *)cv.buf;
    const unsigned char *table = (const unsigned char *)tv.buf;
    const uint64_t *salt = (const uint64_t *)sv.buf;
    Py_ssize_t n = cv.len / 4, tlen = tv.len;
    if (n < 8 || sv.len != 5 * 8) {
        PyErr_SetString(PyExc_ValueError, "features: needs at least 8 code points and 5 salts");
        goto done;
    }
    starts = PyMem_Malloc(sizeof(int64_t) * (size_t)(n / 2 + 1));
    word_hashes = PyMem_Malloc(sizeof(int64_t) * (size_t)(n / 2 + 1));
    if (starts == NULL || word_hashes == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    Py_ssize_t longest, w = find_words(c, n, table, tlen, starts, word_hashes, &longest);
    Py_ssize_t pairs = w > 1 ? w - 1 : 0;
    Py_ssize_t total = (n - 2) + (n - 3) + (n - 4) + w + pairs;
    buckets = PyByteArray_FromStringAndSize(NULL, total * 8);
    positions = PyByteArray_FromStringAndSize(NULL, total * 8);
    words = PyByteArray_FromStringAndSize(NULL, w * 8);
    starts_out = PyByteArray_FromStringAndSize(NULL, w * 8);
    if (buckets == NULL || positions == NULL || words == NULL || starts_out == NULL)
        goto done;
    int64_t *b = (int64_t *)PyByteArray_AS_STRING(buckets);
    int64_t *p = (int64_t *)PyByteArray_AS_STRING(positions);
    uint64_t *hw = (uint64_t *)PyByteArray_AS_STRING(words);
    int shift = 64 - bits;
    int64_t *b3 = b, *b4 = b + (n - 2), *b5 = b4 + (n - 3), *bw = b5 + (n - 4), *bp = bw + w;
    int64_t *p3 = p, *p4 = p + (n - 2), *p5 = p4 + (n - 3), *pw = p5 + (n - 4), *pp = pw + w;
    for (Py_ssize_t i = 0; i + 2 < n; i++) {
        uint64_t h = ((uint64_t)c[i] * BASE + c[i + 1]) * BASE + c[i + 2];
        b3[i] = (int64_t)(((h ^ salt[0]) * MIX) >> shift);
        p3[i] = i;
        if (i + 3 < n) {
            h = h * BASE + c[i + 3];
            b4[i] = (int64_t)(((h ^ salt[1]) * MIX) >> shift);
            p4[i] = i;
            if (i + 4 < n) {
                h = h * BASE + c[i + 4];
                b5[i] = (int64_t)(((h ^ salt[2]) * MIX) >> shift);
                p5[i] = i;
            }
        }
    }
    for (Py_ssize_t k = 0; k < w; k++) {
        uint64_t h = word_hashes[k];
        hw[k] = h;
        bw[k] = (int64_t)(((h ^ salt[3]) * MIX) >> shift);
        pw[k] = starts[k];
    }
    for (Py_ssize_t k = 0; k < pairs; k++) {
        uint64_t h = hw[k] * PAIR + hw[k + 1];
        bp[k] = (int64_t)(((h ^ salt[4]) * MIX) >> shift);
        pp[k] = starts[k];
    }
    if (w)
        memcpy(PyByteArray_AS_STRING(starts_out), starts, (size_t)w * 8);
    result = Py_BuildValue("OOOOn", buckets, positions, words, starts_out, longest);
done:
    Py_XDECREF(buckets);
    Py_XDECREF(positions);
    Py_XDECREF(words);
    Py_XDECREF(starts_out);
    PyMem_Free(starts);
    PyMem_Free(word_hashes);
    PyBuffer_Release(&cv);
    PyBuffer_Release(&tv);
    PyBuffer_Release(&sv);
    return result;
}

/* The prefilter's constant tables, checked once (`prefilter_tables`) and held in a capsule: each
 * call then checks only its trigrams. */
typedef struct {
    Py_ssize_t size, ns, nm, nc, nrf, nr;
    uint32_t *tri;                     /* 8 picks per string (checked <= size < 2**31): half of int64's reads */
    int64_t *mf, *cs, *rf, *rs;        /* one allocation (rs: nr + 1 offsets, the last nrf) */
    unsigned char *stamp;              /* size + 1 bytes: a bucket of this call's text holds `gen` (a call's bucket
                                        * is set and tested by one load or store, and no call clears it: the
                                        * next takes the next `gen`; all zero again when it wraps to 0) */
    unsigned char gen;                 /* the last call's stamp (0: none yet) */
    unsigned char *clause_ok;          /* nc + 1 */
    /* the strings filed under one of their picks (`key`), for texts of fewer 3-grams than strings: each
     * distinct 3-gram bucket is looked up (a bit of `firsts`, then `slot`), and only the strings filed under
     * it are tested (their other 7 picks: `tri` holds a filed string's key first); strings without a 3-gram
     * (every pick the sentinel) are in `always` */
    uint64_t *firsts;                  /* size + 1 bits: the buckets some string is filed under */
    uint32_t *slot_key;                /* nslot (a power of two), UINT32_MAX when empty */
    uint32_t *slot_at;                 /* nslot + ...: offsets into by_first; per slot [at, at + count) */
    uint32_t *slot_count;
    uint32_t *by_first;                /* ns string indices grouped by key */
    uint32_t *str_cl_at, *str_cl;      /* per string: the clauses it is a member of (ns + 1 offsets, nm) */
    uint32_t *always;                  /* the strings whose key is the sentinel, but for those below */
    unsigned char *maybe0, *ok0;       /* ns, nc: the flags of the strings whose 8 picks are all the sentinel
                                        * (strings of fewer than 3 characters: always set) and their clauses */
    uint32_t *key;                     /* per string, the pick it is filed under */
    uint32_t *rule_first;              /* per rule, its first clause (most rules fail it), then per rule a byte: */
    unsigned char *rule_more;          /* whether it has more clauses (in rule_first's allocation) */
    Py_ssize_t nslot, nalways, nkeys; /* nkeys: the distinct keys */
} Tables;

static void
tables_free_struct(Tables *t)
{
    if (t != NULL) {
        PyMem_Free(t->tri);
        PyMem_Free(t->mf);
        PyMem_Free(t->stamp);
        PyMem_Free(t->clause_ok);
        PyMem_Free(t->firsts);
        PyMem_Free(t->slot_key);
        PyMem_Free(t->by_first);
        PyMem_Free(t->str_cl_at);
        PyMem_Free(t->key);
        PyMem_Free(t->rule_first);
        PyMem_Free(t->maybe0);
        PyMem_Free(t);
    }
}

static void
tables_free(PyObject *capsule)
{
    tables_free_struct(PyCapsule_GetPointer(capsule, "bastion._native.Tables"));
}

static inline uint32_t
slot_of(const Tables *t, uint32_t key)
{
    return (uint32_t)(((uint64_t)key * 0x9E3779B97F4A7C15ULL) >> 40) & (uint32_t)(t->nslot - 1);
}

/* The inverted tables of `Tables` (0, or -1 with MemoryError set; the caller frees `t` either way). */
static int
invert(Tables *t)
{
    Py_ssize_t ns = t->ns, nm = t->nm, nc = t->nc;
    Py_ssize_t nslot = 16;
    while (nslot < 2 * ns + 2) /* a key per string at most, at most half full */
        nslot <<= 1;
    t->nslot = nslot;
    t->firsts = PyMem_Calloc((size_t)t->size / 64 + 1, sizeof(uint64_t));
    /* slot_key, slot_at, slot_count in one allocation; by_first and always in one; the string-to-clause
     * index in one */
    t->slot_key = PyMem_Malloc(sizeof(uint32_t) * (size_t)(3 * nslot));
    t->by_first = PyMem_Malloc(sizeof(uint32_t) * (size_t)(2 * ns + 1));
    t->str_cl_at = PyMem_Calloc((size_t)(ns + 1 + nm + 1), sizeof(uint32_t));
    if (t->firsts == NULL || t->slot_key == NULL || t->by_first == NULL || t->str_cl_at == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    t->slot_at = t->slot_key + nslot;
    t->slot_count = t->slot_at + nslot;
    t->always = t->by_first + ns;
    t->str_cl = t->str_cl_at + ns + 1;
    for (Py_ssize_t k = 0; k < nslot; k++)
        t->slot_key[k] = UINT32_MAX, t->slot_count[k] = 0;
    t->nalways = 0;
    /* each string's key: its first pick, the rarest in ordinary text (`Prefilter._rarest`: a common 3-gram occurs
     * in most texts, and every string filed under it is tested then; any pick is necessary) */
    t->key = PyMem_Malloc(sizeof(uint32_t) * (size_t)(ns + 1));
    if (t->key == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t s = 0; s < ns; s++)
        t->key[s] = t->tri[s * 8];
    /* count per key (buckets are < 2**31: never UINT32_MAX) */
    for (Py_ssize_t s = 0; s < ns; s++) {
        uint32_t key = t->key[s];
        if (key == (uint32_t)t->size) {
            t->always[t->nalways++] = (uint32_t)s;
            continue;
        }
        t->firsts[key >> 6] |= 1ULL << (key & 63);
        uint32_t k = slot_of(t, key);
        while (t->slot_key[k] != UINT32_MAX && t->slot_key[k] != key)
            k = (k + 1) & (uint32_t)(nslot - 1);
        t->nkeys += t->slot_key[k] == UINT32_MAX;
        t->slot_key[k] = key;
        t->slot_count[k]++;
    }
    uint32_t at = 0;
    for (Py_ssize_t k = 0; k < nslot; k++) {
        t->slot_at[k] = at;
        at += t->slot_count[k];
        t->slot_count[k] = 0;
    }
    for (Py_ssize_t s = 0; s < ns; s++) { /* ascending string order within a slot */
        uint32_t key = t->key[s];
        if (key == (uint32_t)t->size)
            continue;
        uint32_t k = slot_of(t, key);
        while (t->slot_key[k] != key)
            k = (k + 1) & (uint32_t)(nslot - 1);
        t->by_first[t->slot_at[k] + t->slot_count[k]++] = (uint32_t)s;
    }
    /* per string, its clauses (CSR: count, prefix, fill) */
    for (Py_ssize_t j = 0; j < nm; j++)
        t->str_cl_at[t->mf[j] + 1]++;
    for (Py_ssize_t s = 0; s < ns; s++)
        t->str_cl_at[s + 1] += t->str_cl_at[s];
    uint32_t *fill = PyMem_Calloc((size_t)ns + 1, sizeof(uint32_t));
    if (fill == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t c = 0; c < nc; c++) {
        Py_ssize_t e = c + 1 < nc ? t->cs[c + 1] : nm;
        for (Py_ssize_t j = t->cs[c]; j < e; j++) {
            int64_t s = t->mf[j];
            t->str_cl[t->str_cl_at[s] + fill[s]++] = (uint32_t)c;
        }
    }
    PyMem_Free(fill);
    /* the strings of the sentinel alone hold all 8 picks in every text: their flags and clauses once here */
    t->maybe0 = PyMem_Calloc((size_t)(ns + nc + 1), 1);
    if (t->maybe0 == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    t->ok0 = t->maybe0 + ns;
    Py_ssize_t kept = 0;
    for (Py_ssize_t a = 0; a < t->nalways; a++) {
        uint32_t s = t->always[a];
        int sentinel = 1;
        for (int j = 0; j < 8; j++)
            sentinel &= t->tri[(size_t)s * 8 + j] == (uint32_t)t->size;
        if (!sentinel) {
            t->always[kept++] = s; /* tested per call */
            continue;
        }
        t->maybe0[s] = 1;
        for (uint32_t j = t->str_cl_at[s]; j < t->str_cl_at[s + 1]; j++)
            t->ok0[t->str_cl[j]] = 1;
    }
    t->nalways = kept;
    t->rule_first = PyMem_Malloc((size_t)t->nr * 5 + 1);
    if (t->rule_first == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    t->rule_more = (unsigned char *)(t->rule_first + t->nr);
    for (Py_ssize_t k = 0; k < t->nr; k++) /* (every rule has a clause: rule_start's offsets increase) */
        t->rule_first[k] = (uint32_t)t->rf[t->rs[k]], t->rule_more[k] = t->rs[k + 1] - t->rs[k] > 1;
    return 0;
}

static int
increasing(const int64_t *start, Py_ssize_t n, Py_ssize_t total)
{
    for (Py_ssize_t k = 0; k < n; k++) {
        Py_ssize_t a = start[k], e = k + 1 < n ? start[k + 1] : total;
        if (a < 0 || e > total || e <= a)
            return 0;
    }
    return 1;
}

static PyObject *
native_prefilter_tables(PyObject *self, PyObject *args)
{
    PyObject *objs[5];
    Py_ssize_t size;
    if (!PyArg_ParseTuple(args, "OOOOOn", &objs[0], &objs[1], &objs[2], &objs[3], &objs[4], &size))
        return NULL;
    static const char *names[5] = {"tri", "member_flat", "clause_start", "rule_flat", "rule_start"};
    Py_buffer v[5];
    int got = 0;
    PyObject *capsule = NULL;
    Tables *t = NULL;
    for (; got < 5; got++)
        if (get_buffer(objs[got], &v[got], 8, names[got]) < 0)
            goto done;
    const char *bad = NULL;
    Py_ssize_t ns = v[0].len / 64, nm = v[1].len / 8, nc = v[2].len / 8, nrf = v[3].len / 8, nr = v[4].len / 8;
    const int64_t *tri = v[0].buf, *mf = v[1].buf, *rf = v[3].buf;
    if (size < 0)
        bad = "size: must be >= 0";
    else if (size >= ((Py_ssize_t)1 << 31))
        bad = "size: must be < 2**31";
    else if (v[0].len % 64 != 0)
        bad = "tri: expected 8 buckets per string";
    for (Py_ssize_t i = 0; bad == NULL && i < ns * 8; i++)
        if (tri[i] < 0 || tri[i] > size)
            bad = "tri: bucket out of range";
    for (Py_ssize_t i = 0; bad == NULL && i < nm; i++)
        if (mf[i] < 0 || mf[i] >= ns)
            bad = "member_flat: string index out of range";
    for (Py_ssize_t i = 0; bad == NULL && i < nrf; i++)
        if (rf[i] < 0 || rf[i] > nc)
            bad = "rule_flat: clause index out of range";
    if (bad == NULL && !increasing(v[2].buf, nc, nm))
        bad = "clause_start: not increasing offsets into member_flat";
    if (bad == NULL && !increasing(v[4].buf, nr, nrf))
        bad = "rule_start: not increasing offsets into rule_flat";
    if (bad != NULL) {
        PyErr_SetString(PyExc_ValueError, bad);
        goto done;
    }
    t = PyMem_Calloc(1, sizeof(Tables));
    if (t == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    Py_ssize_t words = nm + nc + nrf + nr;
    t->tri = PyMem_Malloc(sizeof(uint32_t) * (size_t)(ns * 8 + 1));
    t->mf = PyMem_Malloc(sizeof(int64_t) * (size_t)(words + 1));
    t->stamp = PyMem_Calloc((size_t)size + 1, 1);
    t->clause_ok = PyMem_Malloc((size_t)nc + 1);
    if (t->tri == NULL || t->mf == NULL || t->stamp == NULL || t->clause_ok == NULL) {
        PyMem_Free(t->tri);
        PyMem_Free(t->mf);
        PyMem_Free(t->stamp);
        PyMem_Free(t->clause_ok);
        PyMem_Free(t);
        t = NULL;
        PyErr_NoMemory();
        goto done;
    }
    t->size = size, t->ns = ns, t->nm = nm, t->nc = nc, t->nrf = nrf, t->nr = nr;
    t->cs = t->mf + nm;
    t->rf = t->cs + nc;
    t->rs = t->rf + nrf;
    for (Py_ssize_t i = 0; i < ns * 8; i++)
        t->tri[i] = (uint32_t)tri[i];
    memcpy(t->mf, v[1].buf, (size_t)v[1].len);
    memcpy(t->cs, v[2].buf, (size_t)v[2].len);
    memcpy(t->rf, v[3].buf, (size_t)v[3].len);
    memcpy(t->rs, v[4].buf, (size_t)v[4].len);
    t->rs[nr] = nrf; /* (the allocation's last item) rule k's clauses end where rule k + 1's start, the last's too */
    if (invert(t) < 0) {
        tables_free_struct(t);
        goto done;
    }
    capsule = PyCapsule_New(t, "bastion._native.Tables", tables_free);
    if (capsule == NULL)
        tables_free_struct(t);
done:
    for (int i = 0; i < got; i++)
        PyBuffer_Release(&v[i]);
    return capsule;
}

/* `prefilter` of the nt 3-gram buckets at tg with the tables of `capsule`: (rule_ok, maybe), or NULL with an
 * exception. `check`: 0 when the caller knows every bucket is below the tables' size (none is tested). */
static inline __attribute__((always_inline)) PyObject *
prefilter_of(PyObject *capsule, const int64_t *tg, Py_ssize_t nt, int check)
{
    Tables *t = PyCapsule_GetPointer(capsule, "bastion._native.Tables");
    if (t == NULL)
        return NULL;
    PyObject *result = NULL, *rule_ok = NULL, *maybe = NULL;
    maybe = PyBytes_FromStringAndSize(NULL, t->ns);
    rule_ok = PyBytes_FromStringAndSize(NULL, t->nr);
    if (maybe == NULL || rule_ok == NULL)
        goto done;
    /* this call's stamp (each of 1..255 once between two clearings of the table) */
    unsigned char *st = t->stamp, gen = (unsigned char)(t->gen + 1);
    if (gen == 0) {
        memset(st, 0, (size_t)t->size + 1);
        gen = 1;
    }
    t->gen = gen;
#define HAS(b) (st[b] == gen)
    /* few 3-grams: only the strings filed under one of them can hold all 8 picks (the same flags), so the
     * distinct buckets that are some string's key are collected as they are stamped (on the stack up to
     * KEYS_ON_STACK of them). Many (a text of ~20,000 characters and more): every string is tested, and a 3-gram's
     * stamp is a store, without the load and test that find a new one (measured: 10 kB of English cost 6% less
     * keyed than all strings tested, 100 kB 1% more) */
    int few = nt < 4 * t->ns;
    enum { KEYS_ON_STACK = 2048 };
    uint32_t keys_stack[KEYS_ON_STACK];
    Py_ssize_t most = nt < t->nkeys ? nt : t->nkeys; /* the distinct keys a text can hold */
    uint32_t *keys = !few ? NULL : most < KEYS_ON_STACK ? keys_stack : PyMem_Malloc(sizeof(uint32_t) * (size_t)(most + 1));
    Py_ssize_t nk = 0;
    if (few && keys == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    const uint64_t *firsts = t->firsts;
    const uint64_t size = (uint64_t)t->size;
    Py_ssize_t g = 0; /* the 3-grams read */
    /* a bucket not seen before in this text stamped, and kept when it is some string's key */
#define STAMP(bucket)                                   \
    do {                                                \
        uint64_t b_ = (bucket);                         \
        if (st[b_] != gen) {                            \
            st[b_] = gen;                               \
            if ((firsts[b_ >> 6] >> (b_ & 63)) & 1)     \
                keys[nk++] = (uint32_t)b_;              \
        }                                               \
    } while (0)
    if (few && !check) /* (four 3-grams a step: fewer loop tests) */
        for (; g + 4 <= nt; g += 4) {
            STAMP((uint64_t)tg[g]);
            STAMP((uint64_t)tg[g + 1]);
            STAMP((uint64_t)tg[g + 2]);
            STAMP((uint64_t)tg[g + 3]);
        }
    if (few) /* (two loops: no test of `few` per 3-gram) */
        for (; g < nt; g++) {
            uint64_t b = (uint64_t)tg[g];
            if (check && b >= size) /* (negative ones too) */
                break;
            STAMP(b);
        }
    else
        for (; g < nt; g++) {
            uint64_t b = (uint64_t)tg[g];
            if (check && b >= size)
                break;
            st[b] = gen;
        }
    if (g < nt) { /* (the stamps set stay: the next call's differs) */
        if (keys != keys_stack)
            PyMem_Free(keys);
        PyErr_SetString(PyExc_ValueError, "trigrams: bucket out of range");
        goto done;
    }
    st[size] = gen; /* the sentinel pads strings of < 8 picks */
    unsigned char *m = (unsigned char *)PyBytes_AS_STRING(maybe);
    unsigned char *ok = t->clause_ok;
#define ALL7(p) (HAS((p)[1]) && HAS((p)[2]) && HAS((p)[3]) && HAS((p)[4]) && HAS((p)[5]) && HAS((p)[6]) && \
                 HAS((p)[7]))
#define ALL8(p) (HAS((p)[0]) && ALL7(p))
    if (few) {
        memcpy(m, t->maybe0, (size_t)t->ns);
        memcpy(ok, t->ok0, (size_t)t->nc);
        for (Py_ssize_t a = 0; a < t->nalways; a++) {
            uint32_t s = t->always[a];
            if (ALL8(t->tri + (size_t)s * 8)) {
                m[s] = 1;
                for (uint32_t j = t->str_cl_at[s]; j < t->str_cl_at[s + 1]; j++)
                    ok[t->str_cl[j]] = 1;
            }
        }
        /* the tables' arrays in locals: the flags are bytes, and a byte's store may alias anything, so the
         * compiler would read each field again after every flag set */
        const uint32_t *slot_key = t->slot_key, *slot_at = t->slot_at, *slot_count = t->slot_count;
        const uint32_t *by_first = t->by_first, *tri = t->tri, *cl_at = t->str_cl_at, *cl = t->str_cl;
        const uint32_t mask = (uint32_t)(t->nslot - 1);
        for (Py_ssize_t i = 0; i < nk; i++) { /* each key once: the stamp test above kept only its first */
            uint32_t key = keys[i];
            uint32_t k = slot_of(t, key);
            while (slot_key[k] != key) /* present: the bit says so */
                k = (k + 1) & mask;
            const uint32_t *str = by_first + slot_at[k], *str_end = str + slot_count[k];
            for (; str < str_end; str++) {
                uint32_t s = *str;
                if (ALL7(tri + (size_t)s * 8)) { /* (pick 0 is the key, present) */
                    m[s] = 1;
                    for (uint32_t j = cl_at[s], e = cl_at[s + 1]; j < e; j++)
                        ok[cl[j]] = 1;
                }
            }
        }
        if (keys != keys_stack)
            PyMem_Free(keys);
    } else { /* every string tested; a clause is set by its strings that are (not read member by member) */
        const uint32_t *tri = t->tri;
        memset(ok, 0, (size_t)t->nc);
        for (Py_ssize_t s = 0; s < t->ns; s++, tri += 8) {
            m[s] = ALL8(tri);
            if (m[s])
                for (uint32_t j = t->str_cl_at[s]; j < t->str_cl_at[s + 1]; j++)
                    ok[t->str_cl[j]] = 1;
        }
    }
#undef ALL8
#undef ALL7
#undef HAS
#undef STAMP
    ok[t->nc] = 1; /* the sentinel clause of rules without a requirement */
    unsigned char *r = (unsigned char *)PyBytes_AS_STRING(rule_ok);
    const int64_t *rs = t->rs, *rf = t->rf; /* (in locals: the byte stores below may alias the fields) */
    const uint32_t *rule_first = t->rule_first;
    const unsigned char *more = t->rule_more;
    const Py_ssize_t nr = t->nr;
    for (Py_ssize_t k = 0; k < nr; k++) {
        unsigned char all = ok[rule_first[k]];
        if (all && more[k])
            for (Py_ssize_t j = rs[k] + 1, e = rs[k + 1]; j < e && all; j++)
                all = ok[rf[j]];
        r[k] = all;
    }
    result = PyTuple_Pack(2, rule_ok, maybe);
done:
    Py_XDECREF(rule_ok);
    Py_XDECREF(maybe);
    return result;
}

/* `prefilter` of buckets the caller made below 2**bits: checked only when 2**bits is past the tables' size. */
PyObject *
prefilter_below(PyObject *capsule, const int64_t *tg, Py_ssize_t nt, int bits)
{
    Tables *t = PyCapsule_GetPointer(capsule, "bastion._native.Tables");
    if (t == NULL)
        return NULL;
    return ((int64_t)1 << bits) <= t->size ? prefilter_of(capsule, tg, nt, 0) : prefilter_of(capsule, tg, nt, 1);
}

static PyObject *
native_prefilter(PyObject *self, PyObject *args)
{
    PyObject *capsule, *trigrams;
    if (!PyArg_ParseTuple(args, "OO", &capsule, &trigrams))
        return NULL;
    Py_buffer v;
    if (get_buffer(trigrams, &v, 8, "trigrams") < 0)
        return NULL;
    PyObject *result = prefilter_of(capsule, v.buf, v.len / 8, 1);
    PyBuffer_Release(&v);
    return result;
}

/* The five buffers of a window-logits call, checked: buckets and positions int64 of one length, weights
 * float32, live empty or one byte per weight, starts int64 each in [0, n), every bucket a weight's index
 * (unless `buckets` is 0: the caller checks them as it reads them), n and window at least 1. 0, or -1 with an exception set; `*got` buffers are held either way (release them). */
int
window_buffers(PyObject *objs[5], Py_buffer v[5], int *got, Py_ssize_t n, Py_ssize_t window, const char *fn,
               int buckets)
{
    static const char *names[5] = {"buckets", "positions", "weights", "live", "starts"};
    static const Py_ssize_t sizes[5] = {8, 8, 4, 1, 8};
    for (*got = 0; *got < 5; (*got)++)
        if (get_buffer(objs[*got], &v[*got], sizes[*got], names[*got]) < 0)
            return -1;
    const int64_t *bk = v[0].buf, *starts = v[4].buf;
    Py_ssize_t nf = v[0].len / 8, nw = v[2].len / 4, nl = v[3].len, ns = v[4].len / 8;
    if (v[1].len != v[0].len || n < 1 || window < 1 || (nl != 0 && nl != nw)) {
        PyErr_Format(PyExc_ValueError, "%s: mismatched buckets/positions/live or bad n/window", fn);
        return -1;
    }
    for (Py_ssize_t k = 0; k < ns; k++)
        if (starts[k] < 0 || starts[k] >= n) {
            PyErr_SetString(PyExc_ValueError, "starts: out of range");
            return -1;
        }
    for (Py_ssize_t i = 0; buckets && i < nf; i++)
        if ((uint64_t)bk[i] >= (uint64_t)nw) {
            PyErr_SetString(PyExc_ValueError, "buckets: out of range");
            return -1;
        }
    return 0;
}

static PyObject *
native_window_logits(PyObject *self, PyObject *args)
{
    PyObject *objs[5];
    Py_ssize_t n, window;
    double bias;
    if (!PyArg_ParseTuple(args, "OOOOnOnd", &objs[0], &objs[1], &objs[2], &objs[3], &n, &objs[4], &window, &bias))
        return NULL;
    Py_buffer v[5];
    int got = 0;
    PyObject *result = NULL;
    double *csum = NULL, *gathered = NULL;
    int64_t *ccount = NULL;
    if (window_buffers(objs, v, &got, n, window, "window_logits", 0) < 0)
        goto done;
    const int64_t *bk = v[0].buf, *pos = v[1].buf, *starts = v[4].buf;
    const float *w = v[2].buf; /* the model's float32 weights: half the cache footprint of float64, same values */
    const unsigned char *live = v[3].buf;
    Py_ssize_t nf = v[0].len / 8, nl = v[3].len, ns = v[4].len / 8, nw = v[2].len / 4;
    /* csum and ccount (n + 1 each) zeroed in one allocation, gathered (nf) after them */
    csum = PyMem_Calloc((size_t)(2 * (n + 1)), sizeof(double));
    gathered = PyMem_Malloc(sizeof(double) * (size_t)(nf + 1));
    if (csum == NULL || gathered == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    ccount = (int64_t *)(csum + n + 1);
    /* the weights first (independent loads from a large table overlap; each bucket checked as it is read),
     * then per position in feature order (numpy.bincount's order and float64 sums) */
    for (Py_ssize_t i = 0; i < nf; i++) {
        if ((uint64_t)bk[i] >= (uint64_t)nw) {
            PyErr_SetString(PyExc_ValueError, "buckets: out of range");
            goto done;
        }
        gathered[i] = (double)w[bk[i]];
    }
    if (nl) {
        for (Py_ssize_t i = 0; i < nf; i++) {
            uint64_t p = (uint64_t)pos[i];
            if (p >= (uint64_t)n)
                continue; /* past the text: not counted (as the numpy path's [:n]) */
            csum[p + 1] += gathered[i];
            ccount[p + 1] += live[bk[i]] != 0;
        }
    } else {
        for (Py_ssize_t i = 0; i < nf; i++) {
            uint64_t p = (uint64_t)pos[i];
            if (p >= (uint64_t)n)
                continue;
            csum[p + 1] += gathered[i];
            ccount[p + 1]++;
        }
    }
    for (Py_ssize_t k = 1; k <= n; k++) { /* sequential prefix sums (numpy.cumsum's) */
        csum[k] += csum[k - 1];
        ccount[k] += ccount[k - 1];
    }
    result = PyByteArray_FromStringAndSize(NULL, ns * 8);
    if (result == NULL)
        goto done;
    double *out = (double *)PyByteArray_AS_STRING(result);
    for (Py_ssize_t k = 0; k < ns; k++) {
        Py_ssize_t a = starts[k], e = window < n - a ? a + window : n; /* (no overflow: a < n) */
        double cnt = (double)(ccount[e] - ccount[a]);
        out[k] = bias + (csum[e] - csum[a]) / sqrt(cnt > 1.0 ? cnt : 1.0);
    }
done:
    PyMem_Free(csum);
    PyMem_Free(gathered);
    for (int i = 0; i < got; i++)
        PyBuffer_Release(&v[i]);
    return result;
}

static void
anchors_free(PyObject *capsule)
{
    Anchors *a = PyCapsule_GetPointer(capsule, "bastion._native.Anchors");
    if (a != NULL) {
        PyMem_Free(a->hash);
        PyMem_Free(a->slot);
        PyMem_Free(a);
    }
}

static PyObject *
native_anchor_tables(PyObject *self, PyObject *args)
{
    PyObject *objs[3];
    Py_ssize_t nrules;
    if (!PyArg_ParseTuple(args, "OOOn", &objs[0], &objs[1], &objs[2], &nrules))
        return NULL;
    static const char *names[3] = {"hashes", "first", "rules"};
    Py_buffer v[3];
    int got = 0;
    PyObject *capsule = NULL;
    for (; got < 3; got++)
        if (get_buffer(objs[got], &v[got], 8, names[got]) < 0)
            goto done;
    Py_ssize_t na = v[0].len / 8, nr = v[2].len / 8;
    const uint64_t *h = v[0].buf;
    const int64_t *first = v[1].buf, *rule = v[2].buf;
    const char *bad = NULL;
    if (v[1].len / 8 != na + 1 || first[0] != 0 || first[na] != nr)
        bad = "first: expected len(hashes) + 1 offsets from 0 to len(rules)";
    for (Py_ssize_t i = 0; bad == NULL && i < na; i++)
        if ((i > 0 && h[i] <= h[i - 1]) || first[i + 1] < first[i])
            bad = "hashes: expected strictly ascending hashes and ascending offsets";
    for (Py_ssize_t i = 0; bad == NULL && i < nr; i++)
        if (rule[i] < 0 || rule[i] >= nrules)
            bad = "rules: rule index out of range";
    if (bad != NULL) {
        PyErr_SetString(PyExc_ValueError, bad);
        goto done;
    }
    Anchors *a = PyMem_Calloc(1, sizeof(Anchors));
    char *mem = PyMem_Malloc((size_t)(v[0].len + v[1].len + v[2].len) + 8);
    int log2 = 4;
    while (((Py_ssize_t)1 << log2) <= 4 * na) /* at most a quarter full: most words are not anchors, and a miss
                                               * probes until an empty slot (~1.4 slots at a quarter, ~2.5 at half) */
        log2++;
    uint32_t *slot = log2 < 32 ? PyMem_Calloc((size_t)1 << log2, sizeof(uint32_t)) : NULL;
    if (a == NULL || mem == NULL || slot == NULL) {
        PyMem_Free(a);
        PyMem_Free(mem);
        PyMem_Free(slot);
        PyErr_NoMemory();
        goto done;
    }
    a->slot = slot, a->slot_shift = 64 - log2, a->slot_mask = (uint32_t)(((Py_ssize_t)1 << log2) - 1);
    for (Py_ssize_t i = 0; i < na; i++) { /* (hashes are distinct: checked above) */
        uint32_t k = (uint32_t)((h[i] * MIX) >> a->slot_shift);
        while (slot[k] != 0)
            k = (k + 1) & a->slot_mask;
        slot[k] = (uint32_t)(i + 1);
    }
    a->na = na, a->nrules = nrules;
    a->hash = (uint64_t *)mem;
    a->first = (int64_t *)(mem + v[0].len);
    a->rule = (int64_t *)(mem + v[0].len + v[1].len);
    memcpy(a->hash, h, (size_t)v[0].len);
    memcpy(a->first, first, (size_t)v[1].len);
    memcpy(a->rule, rule, (size_t)v[2].len);
    capsule = PyCapsule_New(a, "bastion._native.Anchors", anchors_free);
    if (capsule == NULL) {
        PyMem_Free(mem);
        PyMem_Free(slot);
        PyMem_Free(a);
    }
done:
    for (int i = 0; i < got; i++)
        PyBuffer_Release(&v[i]);
    return capsule;
}

/* Append (or merge into the last) span [a, b) of rule k in `out` (a dict rule -> list of (a, b)). */
static int
add_span(PyObject *out, PyObject **lists, Py_ssize_t k, Py_ssize_t a, Py_ssize_t b, Py_ssize_t *last_end)
{
    PyObject *spans = lists[k];
    if (spans == NULL) {
        spans = PyList_New(0);
        if (spans == NULL)
            return -1;
        PyObject *key = PyLong_FromSsize_t(k);
        int err = key == NULL || PyDict_SetItem(out, key, spans) < 0;
        Py_XDECREF(key);
        Py_DECREF(spans); /* the dict holds it */
        if (err)
            return -1;
        lists[k] = spans;
    } else if (a <= last_end[k]) { /* overlaps the last span (positions ascend): merged */
        Py_ssize_t len = PyList_GET_SIZE(spans);
        PyObject *prev = PyList_GET_ITEM(spans, len - 1);
        PyObject *pb = PyLong_FromSsize_t(b);
        PyObject *merged = pb == NULL ? NULL : PyTuple_Pack(2, PyTuple_GET_ITEM(prev, 0), pb);
        Py_XDECREF(pb);
        if (merged == NULL)
            return -1;
        PyList_SetItem(spans, len - 1, merged); /* steals merged, drops prev */
        last_end[k] = b;
        return 0;
    }
    PyObject *span = span_tuple(a, b);
    if (span == NULL)
        return -1;
    int err = PyList_Append(spans, span);
    Py_DECREF(span);
    last_end[k] = b;
    return err;
}

/* The arguments of anchored_spans and anchored_by_rule (`fn`): the tables, the word buffers (held in v[0..2]:
 * release `*got` of them either way) and lo, n, before, after (num[0..3]), checked. 0, or -1 with an exception. */
static int
anchored_args(PyObject *const *args, Py_ssize_t nargs, const char *fn, Anchors **t, Py_buffer v[3], int *got,
              Py_ssize_t num[4])
{
    *got = 0;
    if (nargs != 8) { /* (METH_FASTCALL: a format string's parse cost as much as the spans of a short text) */
        PyErr_Format(PyExc_TypeError, "%s: expected 8 arguments", fn);
        return -1;
    }
    for (int k = 0; k < 4; k++)
        if ((num[k] = index_arg(args[4 + k])) == -1 && PyErr_Occurred())
            return -1;
    if ((*t = PyCapsule_GetPointer(args[0], "bastion._native.Anchors")) == NULL)
        return -1;
    static const char *names[3] = {"word_hashes", "word_starts", "ok"};
    static const Py_ssize_t sizes[3] = {8, 8, 1};
    for (; *got < 3; (*got)++)
        if (get_buffer(args[1 + *got], &v[*got], sizes[*got], names[*got]) < 0)
            return -1;
    if (v[1].len != v[0].len || v[2].len != (*t)->nrules) {
        PyErr_Format(PyExc_ValueError, "%s: mismatched word arrays or rule flags", fn);
        return -1;
    }
    const Py_ssize_t far = (Py_ssize_t)1 << 40; /* offsets and reaches stay far from overflow */
    for (int k = 0; k < 4; k++)
        if (num[k] < 0 || num[k] > far) {
            PyErr_Format(PyExc_ValueError, "%s: lo, n, before and after must be in 0..2**40", fn);
            return -1;
        }
    const int64_t *ws = v[1].buf;
    for (Py_ssize_t i = 0; i < v[1].len / 8; i++)
        if (ws[i] < 0 || ws[i] > far) {
            PyErr_SetString(PyExc_ValueError, "word_starts: out of range");
            return -1;
        }
    return 0;
}

/* Per rule its list in `out` (NULL until it has one) and its last span's end (read once the list exists), for
 * add_span: on the stack for the rules of a few hundred (a calloc of both cost more than a short text's spans), else
 * in `*heap` (free it). 0, or -1 with MemoryError. */
enum { STACK_RULES = 512 };
static int
span_lists(Py_ssize_t nrules, PyObject **stack_lists, Py_ssize_t *stack_ends, PyObject ***lists, Py_ssize_t **last_end,
           void **heap)
{
    if (nrules < STACK_RULES) {
        memset(stack_lists, 0, sizeof(PyObject *) * (size_t)(nrules + 1));
        *lists = stack_lists, *last_end = stack_ends;
        return 0;
    }
    *lists = *heap = PyMem_Calloc((size_t)nrules + 1, sizeof(PyObject *) + sizeof(Py_ssize_t));
    if (*lists == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    *last_end = (Py_ssize_t *)(*lists + nrules + 1);
    return 0;
}

static int
cmp_i64(const void *x, const void *y)
{
    int64_t a = *(const int64_t *)x, b = *(const int64_t *)y;
    return (a > b) - (a < b);
}

/* anchored_spans (`by_rule` 0) or anchored_by_rule (1). anchored_by_rule(anchors, word_hashes, word_starts, ok, lo,
 * n, before, after) -> dict: Regions.anchored_long, the anchored spans of words in any order (a long text's chunks
 * overlap): per rule k with ok[k] (ascending k) and an anchor among the words, the spans
 * [max(lo, p - before), min(n, p + after)) around its anchors' positions p in ascending order, merged when they
 * overlap or touch. The same errors as anchored_spans. */
static PyObject *
anchored(PyObject *const *args, Py_ssize_t nargs, int by_rule)
{
    Anchors *t;
    Py_buffer v[3];
    int got;
    Py_ssize_t num[4]; /* lo, n, before, after */
    PyObject *out = NULL, **lists = NULL, *stack_lists[STACK_RULES];
    Py_ssize_t *last_end = NULL, stack_ends[STACK_RULES];
    void *heap = NULL;
    int64_t *at = NULL, *pos = NULL;
    if (anchored_args(args, nargs, by_rule ? "anchored_by_rule" : "anchored_spans", &t, v, &got, num) < 0)
        goto done;
    Py_ssize_t lo = num[0], n = num[1], before = num[2], after = num[3], nr = t->nrules;
    const uint64_t *wh = v[0].buf;
    const int64_t *ws = v[1].buf;
    const unsigned char *ok = v[2].buf;
    Py_ssize_t nw = v[0].len / 8;
    if (!by_rule) {
        for (Py_ssize_t i = 1; i < nw; i++)
            if (ws[i] < ws[i - 1]) { /* words not in text order: the caller's general path */
                Py_INCREF(Py_None);
                out = Py_None;
                goto done;
            }
    } else { /* the hits grouped by rule (counted, offsets, filled: at[k] is where rule k's positions start) */
        at = PyMem_Calloc((size_t)nr + 2, sizeof(int64_t));
        if (at == NULL) {
            PyErr_NoMemory();
            goto done;
        }
        for (Py_ssize_t i = 0; i < nw; i++) {
            Py_ssize_t l = anchor_index(t, wh[i]);
            if (l < t->na)
                for (int64_t j = t->first[l]; j < t->first[l + 1]; j++)
                    at[t->rule[j] + 2] += ok[t->rule[j]] != 0;
        }
        for (Py_ssize_t k = 0; k < nr; k++)
            at[k + 2] += at[k + 1];
        pos = PyMem_Malloc(sizeof(int64_t) * (size_t)(at[nr + 1] + 1));
        if (pos == NULL) {
            PyErr_NoMemory();
            goto done;
        }
        for (Py_ssize_t i = 0; i < nw; i++) { /* (at[k + 1]: the next free place of rule k, at[k] once all are in) */
            Py_ssize_t l = anchor_index(t, wh[i]);
            if (l < t->na)
                for (int64_t j = t->first[l]; j < t->first[l + 1]; j++)
                    if (ok[t->rule[j]])
                        pos[at[t->rule[j] + 1]++] = ws[i];
        }
    }
    if (span_lists(nr, stack_lists, stack_ends, &lists, &last_end, &heap) < 0 || (out = PyDict_New()) == NULL)
        goto done;
    if (by_rule) {
        for (Py_ssize_t k = 0; k < nr; k++) {
            int64_t *p = pos + at[k], *e = pos + at[k + 1];
            if (p < e)
                qsort(p, (size_t)(e - p), sizeof(int64_t), cmp_i64);
            for (; p < e; p++) {
                Py_ssize_t a = *p - before, b = *p + after;
                if (add_span(out, lists, k, a < lo ? lo : a, b > n ? n : b, last_end) < 0) {
                    Py_CLEAR(out);
                    goto done;
                }
            }
        }
        goto done;
    }
    for (Py_ssize_t i = 0; i < nw; i++) { /* in text order: spans keyed by first occurrence */
        Py_ssize_t l = anchor_index(t, wh[i]);
        if (l == t->na)
            continue;
        Py_ssize_t p = ws[i], a = p - before, b = p + after;
        a = a < lo ? lo : a;
        b = b > n ? n : b;
        for (int64_t j = t->first[l]; j < t->first[l + 1]; j++) {
            Py_ssize_t k = t->rule[j];
            if (ok[k] && add_span(out, lists, k, a, b, last_end) < 0) {
                Py_CLEAR(out);
                goto done;
            }
        }
    }
done:
    PyMem_Free(heap); /* (lists and last_end, when not on the stack) */
    PyMem_Free(at);
    PyMem_Free(pos);
    for (int i = 0; i < got; i++)
        PyBuffer_Release(&v[i]);
    return out;
}

static PyObject *
native_anchored_spans(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    return anchored(args, nargs, 0);
}

static PyObject *
native_anchored_by_rule(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    return anchored(args, nargs, 1);
}

static PyMethodDef methods[] = {
    {"features", native_features, METH_VARARGS, "Hasher.extract's features of >= 8 code points (see the module)."},
    {"prefilter_tables", native_prefilter_tables, METH_VARARGS, "The prefilter's checked tables, for `prefilter`."},
    {"window_logits", native_window_logits, METH_VARARGS, "The classifier's window logits before cues (see the module)."},
    {"window_logits_capped", native_window_logits_capped, METH_VARARGS,
     "Window logits with each bucket counted at most `cap` times per window (_native_distinct.c)."},
    {"features_windows", (PyCFunction)(void (*)(void))native_features_windows, METH_FASTCALL,
     "features and window_logits of one chunk in one pass (_native_scored.c)."},
    {"features_simd", (PyCFunction)(void (*)(void))native_features_simd, METH_FASTCALL,
     "Whether features_windows hashes with AVX2 ([on]: set it first; for the tests)."},
    {"anchor_tables", native_anchor_tables, METH_VARARGS, "The rules' anchor table, for `anchored_spans`."},
    {"anchored_by_rule", (PyCFunction)(void (*)(void))native_anchored_by_rule, METH_FASTCALL,
     "Regions.anchored_long: the anchored spans of words in any order, by rule (see the function)."},
    {"anchored_spans", (PyCFunction)(void (*)(void))native_anchored_spans, METH_FASTCALL, "Regions.anchored_spans for words in text order."},
    {"prefilter", native_prefilter, METH_VARARGS, "Prefilter.scan's rule and string flags (see the module)."},
    {"possible_tables", native_possible_tables, METH_VARARGS, "Prefilter.possible's tables (_native_possible.c)."},
    {"possible", (PyCFunction)(void (*)(void))native_possible, METH_FASTCALL,
     "Prefilter.possible: every clause has a string in the region."},
    {"possible_regions", (PyCFunction)(void (*)(void))native_possible_regions, METH_FASTCALL,
     "Prefilter._possible_regions: the regions worth searching, in one call (_native_possible.c)."},
    {"possible_anchored", (PyCFunction)(void (*)(void))native_possible_anchored, METH_FASTCALL,
     "possible_regions of anchored_spans' regions of a whole text, in one call (_native_possible.c)."},
    {"next_literal", (PyCFunction)(void (*)(void))native_next_literal, METH_FASTCALL,
     "The first start of one of some literals in a span of a one-byte-per-character str (_native_possible.c)."},
    {"leet_runs", native_leet_runs, METH_VARARGS, "leet._leet_runs: the runs undoing leetspeak changes (_native_leet.c)."},
    {"canon", native_canon, METH_VARARGS, "canon.canonicalize's mapped, collapsed and cut text (_native_canon.c)."},
    {"ascii_canon", (PyCFunction)(void (*)(void))native_ascii_canon, METH_FASTCALL,
     "canon._ascii_fast's map and gates, the encoding gates and the leet test in one pass (_native_ascii.c)."},
    {"encoding_gates", native_encoding_gates, METH_VARARGS, "encodings.encoded_runs's gates in one pass (_native_ascii.c)."},
    {"secret_tables", native_secret_tables, METH_VARARGS, "The secrets scanner's literals, for `secret_bits`."},
    {"secret_bits", (PyCFunction)(void (*)(void))native_secret_bits, METH_FASTCALL,
     "The secrets scanner's live rule bits in one pass over a text (_native_secrets.c)."},
    {"plain", native_plain, METH_O, "normalize.is_plain: ASCII without control characters but tab and line breaks."},
    {"quiet_text", (PyCFunction)(void (*)(void))native_quiet_text, METH_FASTCALL,
     "PolicyEngine's quiet of an ASCII text in one call: no marked byte, no secret literal (_native_pii.c)."},
    {"pending_start", (PyCFunction)(void (*)(void))native_pending_start, METH_FASTCALL,
     "policy/window.py pending_start of an ASCII text; -1 for another (_native_pii.c)."},
    {"pii_gates", native_pii_gates, METH_O,
     "The PII scanner's first digit, IBAN and IPv6 hints and number clusters of an ASCII text (_native_pii.c)."},
    {"sse_events", (PyCFunction)(void (*)(void))native_sse_events, METH_FASTCALL,
     "providers/sse.py: a read of whole `data:` or `event:` + `data:` events as (name, data) pairs (_native_sse.c)."},
    {"text_run", (PyCFunction)(void (*)(void))native_text_run, METH_FASTCALL,
     "providers/frames.py `_run`: a run of templated text events checked and joined in one pass (_native_sse.c)."},
    {"audit_body", (PyCFunction)(void (*)(void))native_audit_body, METH_FASTCALL,
     "audit/record.py: a record's chain body, its text and its time in microseconds, or None (_native_audit.c)."},
    {"bucket_take", (PyCFunction)(void (*)(void))native_bucket_take, METH_FASTCALL,
     "limits/memory.py MemoryBackend.take's token buckets and concurrency counts (_native_bucket.c)."},
    {"bucket_give_back", (PyCFunction)(void (*)(void))native_bucket_give_back, METH_FASTCALL,
     "limits/memory.py MemoryBackend.give_back's token buckets and concurrency counts (_native_bucket.c)."},
    {"bucket_take_headed", (PyCFunction)(void (*)(void))native_bucket_take_headed, METH_FASTCALL,
     "bucket_take, and on admission the x-ratelimit-* headers written into a dict (_native_bucket.c)."},
    {"ledger_hold", (PyCFunction)(void (*)(void))native_ledger_hold, METH_FASTCALL,
     "limits/memory.py MemoryBackend.hold on its memoised budget counters (_native_bucket.c)."},
    {"ledger_account", (PyCFunction)(void (*)(void))native_ledger_account, METH_FASTCALL,
     "limits/memory.py MemoryBackend.account on its memoised budget counters and spend rows (_native_bucket.c)."},
    {"bucket_conclude", (PyCFunction)(void (*)(void))native_bucket_conclude, METH_FASTCALL,
     "bucket_give_back and ledger_account in one call, all or nothing (_native_bucket.c)."},
    {"bucket_admit", (PyCFunction)(void (*)(void))native_bucket_admit, METH_FASTCALL,
     "bucket_take_headed and ledger_hold in one call, all or nothing (_native_bucket.c)."},
    {"estimate_chat", (PyCFunction)(void (*)(void))native_estimate_chat, METH_FASTCALL,
     "limits/estimate.py estimate_request of a chat request measure_texts measures, or None (_native_measure.c)."},
    {"measure_texts", (PyCFunction)(void (*)(void))native_measure_texts, METH_FASTCALL,
     "limits/estimate.py _measure of a chat request of plain ASCII text parts, or None (_native_measure.c)."},
    {"audit_link", (PyCFunction)(void (*)(void))native_audit_link, METH_FASTCALL,
     "audit/chain.py Chain.append: a record's stored row, its body hashed after the head, or None (_native_audit.c)."},
    {"audit_link_run", (PyCFunction)(void (*)(void))native_audit_link_run, METH_FASTCALL,
     "audit/chain.py Chain.link_run: the rows of a run of the writer's records, up to one it does not chain (_native_audit.c)."},
    {"audit_sha256_hex", native_audit_sha256_hex, METH_O,
     "audit_link's own SHA-256 of bytes as hex (libcrypto's, when loaded), or None (_native_audit.c)."},
    {"audit_record", (PyCFunction)(void (*)(void))native_audit_record, METH_FASTCALL,
     "audit/record.py: build_record's record of a context without captured content, or None (_native_audit.c)."},
    {"access_line", (PyCFunction)(void (*)(void))native_access_line, METH_FASTCALL,
     "observability/logging.py `_line`: a request's access line from its template, appended, or None (_native_audit.c)."},
    {"observe_request", (PyCFunction)(void (*)(void))native_observe_request, METH_FASTCALL,
     "observability/metrics.py Metrics.observe_request of the usual request, all applied, or None (_native_audit.c)."},
    {"settle_usage", (PyCFunction)(void (*)(void))native_settle_usage, METH_FASTCALL,
     "cost/stage.py BudgetStage.settlement of the usual request with its usage row, or None (_native_audit.c)."},
    {"text_one", (PyCFunction)(void (*)(void))native_text_one, METH_FASTCALL,
     "providers/frames.py `Translator.read`: a read of one templated text event checked and framed (_native_sse.c)."},
    {"text_join", (PyCFunction)(void (*)(void))native_text_join, METH_FASTCALL,
     "providers/streaming.py `_decode_joined`: a run of templated text events checked, their texts joined (_native_sse.c)."},
    {"text_plain", (PyCFunction)(void (*)(void))native_text_plain, METH_FASTCALL,
     "providers/literal.py `TextTemplate.text` of a chunk whose string holds no escape, or None (_native_sse.c)."},
    {"keyed_digest", (PyCFunction)(void (*)(void))native_keyed_digest, METH_FASTCALL,
     "policy/scan_cache.py: SipHash-2-4-128 of a text (its characters as held) or bytes under a key (_native_digest.c)."},
    {"slot_maker", (PyCFunction)(void (*)(void))native_slot_maker, METH_FASTCALL,
     "core/makers.py: a maker of a slotted class's instances that sets its slots without calling it (_native_make.c)."},
    {"openai_completion", (PyCFunction)(void (*)(void))native_openai_completion, METH_FASTCALL,
     "providers/openai/response.py `decode_response`: the usual completion made canonical, or None (_native_openai.c)."},
    {"request_encoder", (PyCFunction)(void (*)(void))native_request_encoder, METH_FASTCALL,
     "providers/openai/request.py `encode_request`: an encoder of the usual request's body, or None (_native_openai.c)."},
    {"head_fields", (PyCFunction)(void (*)(void))native_head_fields, METH_FASTCALL,
     "http/asgi.py `_check_head`: a request head's lower-cased headers and size, or a repeated singleton (_native_http.c)."},
    {"json_may_break", (PyCFunction)(void (*)(void))native_json_may_break, METH_FASTCALL,
     "http/limits.py `_may_break_rules`: whether a body holds \\u0000 or more brackets than a depth (_native_http.c)."},
    {"response_head", (PyCFunction)(void (*)(void))native_response_head, METH_FASTCALL,
     "http/asgi.py `_headers`: an answer's header list, or None (_native_http.c)."},
    {"circuit_core", (PyCFunction)(void (*)(void))native_circuit_core, METH_FASTCALL,
     "providers/circuit.py `CircuitBreaker`'s state machine for the router (_native_circuit.c)."},
    {"chunk_frames", (PyCFunction)(void (*)(void))native_chunk_frames, METH_FASTCALL,
     "providers/openai/stream.py `ChunkEncoder.encode_burst`: the usual events' frames joined, or None (_native_chunks.c)."},
    {"openai_opening", (PyCFunction)(void (*)(void))native_openai_opening, METH_FASTCALL,
     "providers/openai/stream.py: a usual first chunk's template, end shapes' tail and start, or None (_native_opening.c)."},
    {"openai_usage", (PyCFunction)(void (*)(void))native_openai_usage, METH_FASTCALL,
     "providers/openai/stream.py `EndShapes.events` of a usual usage chunk, or None (_native_opening.c)."},
    {"anthropic_delta_usage", (PyCFunction)(void (*)(void))native_anthropic_delta_usage, METH_FASTCALL,
     "providers/anthropic/stream_decode.py: a usual message_delta's usage counts, or None (_native_opening.c)."},
    {"anthropic_start", (PyCFunction)(void (*)(void))native_anthropic_start, METH_FASTCALL,
     "providers/anthropic/stream_decode.py: a usual message_start's id, model and usage counts, or None (_native_opening.c)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "bastion._native",
                                    "The policy scanners' inner loops in C (optional).", -1, methods,
                                    NULL, NULL, NULL, NULL};

PyMODINIT_FUNC
PyInit__native(void)
{
    return PyModule_Create(&module);
}
