/* Shared by the C accelerator's files (src/bastion/_native*.c). */
#ifndef BASTION_NATIVE_H
#define BASTION_NATIVE_H
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>
#include <math.h>


/* The UTF-8 bytes of str `s` (its own for an ASCII str) and their number in *n; NULL with *refused 1 (no
 * exception) for a str with no UTF-8 form (a lone surrogate: orjson refuses it), NULL with *refused 0 and an
 * exception otherwise. */
static inline const unsigned char *
utf8_of(PyObject *s, Py_ssize_t *n, int *refused)
{
    *refused = 0;
    if (PyUnicode_IS_ASCII(s)) {
        *n = PyUnicode_GET_LENGTH(s);
        return PyUnicode_1BYTE_DATA(s);
    }
    const unsigned char *p = (const unsigned char *)PyUnicode_AsUTF8AndSize(s, n);
    if (p == NULL && PyErr_ExceptionMatches(PyExc_UnicodeEncodeError)) {
        PyErr_Clear();
        *refused = 1;
    }
    return p;
}

/* Whether p[0:n], the bytes between a JSON string's quotes, hold no quote, no backslash and no control
 * character (below 0x20) and are valid UTF-8 (strict: no surrogate, no overlong form, nothing above
 * U+10FFFF): then they are a JSON string without escapes, whose text is those bytes decoded. *ascii is
 * cleared when a byte is not ASCII. */
static inline int
plain_json_text(const unsigned char *p, Py_ssize_t n, int *ascii)
{
    Py_ssize_t k = 0;
    while (k < n) {
        unsigned char c = p[k];
        if (c < 0x80) {
            if (c < 0x20 || c == '"' || c == '\\')
                return 0;
            k++;
            continue;
        }
        *ascii = 0;
        Py_ssize_t need;
        unsigned char lo = 0x80, hi = 0xBF;
        if (c >= 0xC2 && c <= 0xDF)
            need = 1;
        else if (c == 0xE0) {
            need = 2;
            lo = 0xA0;
        } else if (c >= 0xE1 && c <= 0xEC)
            need = 2;
        else if (c == 0xED) {
            need = 2;
            hi = 0x9F;
        } else if (c >= 0xEE && c <= 0xEF)
            need = 2;
        else if (c == 0xF0) {
            need = 3;
            lo = 0x90;
        } else if (c >= 0xF1 && c <= 0xF3)
            need = 3;
        else if (c == 0xF4) {
            need = 3;
            hi = 0x8F;
        } else
            return 0;
        if (n - k - 1 < need || p[k + 1] < lo || p[k + 1] > hi)
            return 0;
        for (Py_ssize_t j = 2; j <= need; j++)
            if ((p[k + j] & 0xC0) != 0x80)
                return 0;
        k += need + 1;
    }
    return 1;
}

/* The tuple (a, b) (Py_BuildValue parses its format on every call). */
static inline PyObject *
span_tuple(Py_ssize_t a, Py_ssize_t b)
{
    PyObject *pa = PyLong_FromSsize_t(a), *pb = pa == NULL ? NULL : PyLong_FromSsize_t(b);
    PyObject *out = pb == NULL ? NULL : PyTuple_Pack(2, pa, pb);
    Py_XDECREF(pa);
    Py_XDECREF(pb);
    return out;
}

/* Append the 2-tuple (start, end) to the list out; -1 with an exception. */
static inline int
append_span(PyObject *out, Py_ssize_t start, Py_ssize_t end)
{
    PyObject *span = Py_BuildValue("(nn)", start, end);
    if (span == NULL)
        return -1;
    int rc = PyList_Append(out, span);
    Py_DECREF(span);
    return rc;
}

/* A C-contiguous buffer of items of `itemsize` bytes (or of bytes); -1 with ValueError naming `name`. */
static inline int
get_buffer(PyObject *obj, Py_buffer *view, Py_ssize_t itemsize, const char *name)
{
    if (PyObject_GetBuffer(obj, view, PyBUF_C_CONTIGUOUS) < 0)
        return -1;
    if (view->len % itemsize != 0 || (view->itemsize != itemsize && view->itemsize != 1)) {
        PyErr_Format(PyExc_ValueError, "%s: expected items of %zd bytes", name, itemsize);
        PyBuffer_Release(view);
        return -1;
    }
    return 0;
}

/* An index argument (what "n" accepts), or -1 with an exception set (check PyErr_Occurred). */
static inline Py_ssize_t
index_arg(PyObject *obj)
{
    if (PyLong_CheckExact(obj))
        return PyLong_AsSsize_t(obj);
    PyObject *i = PyNumber_Index(obj);
    if (i == NULL)
        return -1;
    Py_ssize_t v = PyLong_AsSsize_t(i);
    Py_DECREF(i);
    return v;
}

/* A new tuple of the n objects `items` (new references to each), or NULL with an exception. */
static inline PyObject *
tuple_of(Py_ssize_t n, PyObject *const *items)
{
    PyObject *t = PyTuple_New(n);
    if (t != NULL)
        for (Py_ssize_t k = 0; k < n; k++) {
            Py_INCREF(items[k]);
            PyTuple_SET_ITEM(t, k, items[k]);
        }
    return t;
}

/* The words of `c` (n code points): maximal runs of word characters (table[cp] != 0; code points past the
 * table are not), their starts and raw hashes (the polynomial hash of their code points with base `WORD_BASE`
 * modulo 2**64, computed as they are read; n / 2 + 1 each at most), the longest one's length; their number. */
#define WORD_BASE 0x100000001B3ULL
static inline Py_ssize_t
find_words(const uint32_t *c, Py_ssize_t n, const unsigned char *table, Py_ssize_t tlen, int64_t *starts,
           uint64_t *hashes, Py_ssize_t *longest)
{
#define IS_WORD(cp) ((cp) < (uint64_t)tlen && table[(cp)] != 0)
    Py_ssize_t w = 0, i = 0, most = 0, end = n;
    while (end > 0 && IS_WORD(c[end - 1])) /* a word at the very end: [end, n), found last */
        end--;
    for (;;) { /* a run of other characters, then a word (two tight loops: no state per character) */
        while (i < end && !IS_WORD(c[i]))
            i++;
        if (i >= end)
            break;
        Py_ssize_t start = i;
        uint64_t h = 0;
        do /* (no bound: c[end - 1] ends the word) */
            h = h * WORD_BASE + c[i++];
        while (IS_WORD(c[i]));
        starts[w] = start;
        hashes[w++] = h;
        if (i - start > most)
            most = i - start;
    }
    if (end < n) {
        uint64_t h = 0;
        for (i = end; i < n; i++)
            h = h * WORD_BASE + c[i];
        starts[w] = end;
        hashes[w++] = h;
        if (n - end > most)
            most = n - end;
    }
#undef IS_WORD
    *longest = most;
    return w;
}

/* The anchor table of the rules (`anchor_tables`, _native.c): sorted anchor word hashes, and per anchor the
 * rules it anchors (a range of a flat array of rule indices, ascending). */
typedef struct {
    Py_ssize_t na, nrules;
    uint64_t *hash;    /* na, ascending */
    int64_t *first;    /* na + 1 offsets into rule */
    int64_t *rule;     /* the rule indices */
    uint32_t *slot;    /* open addressing over `hash`: index + 1, 0 when empty (nslot, a power of two, > 4 na) */
    int slot_shift;    /* 64 - log2(nslot) */
    uint32_t slot_mask;
} Anchors;

/* The index of anchor hash `h` (na when it is not an anchor): one multiply and a probe or two, where a
 * binary search over the sorted hashes took ~10 compares per word. */
static inline Py_ssize_t
anchor_index(const Anchors *t, uint64_t h)
{
    for (uint32_t k = (uint32_t)((h * 0x9E3779B97F4A7C15ULL) >> t->slot_shift);; k = (k + 1) & t->slot_mask) {
        uint32_t at = t->slot[k];
        if (at == 0)
            return t->na;
        if (t->hash[at - 1] == h)
            return at - 1;
    }
}

/* The leetspeak classes of leet_runs (_native_leet.c): a code point that leetspeak maps (0 1 3 4 5 7 8 @ $), a
 * letter (a word character that is not a decimal digit or "_"), an unmapped decimal digit or "_" (stepped over),
 * anything else (ends a run). ASCII here (by range: the Unicode database calls cost more). */
enum { LEET_OTHER, LEET_MAPPED, LEET_LETTER, LEET_SKIP };

static inline int
leet_class_ascii(unsigned c)
{
    if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z')
        return LEET_LETTER;
    if (c >= '0' && c <= '9')
        return (c == '2' || c == '6' || c == '9') ? LEET_SKIP : LEET_MAPPED;
    return c == '_' ? LEET_SKIP : (c == '@' || c == '$') ? LEET_MAPPED : LEET_OTHER;
}

/* Within a run, per (last class << 2 | class): the new last class (a SKIP leaves it; bits 0-1) and LEET_MET when a
 * mapped character and a letter are next to each other (only SKIPs between them); 0 for a class of LEET_OTHER. */
enum { LEET_MET = 4 };
static const unsigned char LEET_STEP[16] = {
    [LEET_OTHER << 2 | LEET_MAPPED] = LEET_MAPPED, [LEET_OTHER << 2 | LEET_LETTER] = LEET_LETTER,
    [LEET_OTHER << 2 | LEET_SKIP] = LEET_OTHER,    [LEET_MAPPED << 2 | LEET_MAPPED] = LEET_MAPPED,
    [LEET_MAPPED << 2 | LEET_LETTER] = LEET_LETTER | LEET_MET, [LEET_MAPPED << 2 | LEET_SKIP] = LEET_MAPPED,
    [LEET_LETTER << 2 | LEET_MAPPED] = LEET_MAPPED | LEET_MET, [LEET_LETTER << 2 | LEET_LETTER] = LEET_LETTER,
    [LEET_LETTER << 2 | LEET_SKIP] = LEET_LETTER,
};

PyObject *native_canon(PyObject *self, PyObject *args);
PyObject *native_ascii_canon(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
PyObject *native_encoding_gates(PyObject *self, PyObject *args);
PyObject *native_secret_tables(PyObject *self, PyObject *args);
PyObject *native_secret_bits(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
PyObject *native_plain(PyObject *self, PyObject *text);
PyObject *native_quiet_text(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
PyObject *native_pending_start(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
PyObject *native_pii_gates(PyObject *self, PyObject *text);
PyObject *native_sse_events(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
PyObject *native_text_run(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
PyObject *native_audit_body(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
PyObject *native_audit_link(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
PyObject *native_audit_sha256_hex(PyObject *self, PyObject *data);
PyObject *native_audit_link_run(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
PyObject *native_audit_record(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
PyObject *native_access_line(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
PyObject *native_observe_request(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
PyObject *native_settle_usage(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
PyObject *native_text_one(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
PyObject *native_text_join(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
PyObject *native_text_plain(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
PyObject *native_bucket_take(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
PyObject *native_bucket_give_back(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
PyObject *native_bucket_take_headed(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
PyObject *native_measure_texts(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
PyObject *native_ledger_hold(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
PyObject *native_ledger_account(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
PyObject *native_bucket_conclude(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
PyObject *native_bucket_admit(PyObject *self, PyObject *const *args, Py_ssize_t nargs);

/* Plain object slots of a class found once (_native_measure.c): `type` a strong reference, or NULL. */
#define SLOTS_MAX 3
typedef struct {
    PyTypeObject *type;
    Py_ssize_t off[SLOTS_MAX];
} Slots;
int native_slots_of(Slots *c, PyTypeObject *type, const char *const *names, int n);
PyObject *native_estimate_chat(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
/* Slot `off` of o: borrowed, NULL when unset. */
#define SLOT_AT(o, off) (*(PyObject **)((char *)(o) + (off)))
PyObject *native_keyed_digest(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
PyObject *native_slot_maker(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
PyObject *native_circuit_core(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
PyObject *native_openai_completion(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
PyObject *native_request_encoder(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
PyObject *native_head_fields(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
PyObject *native_json_may_break(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
PyObject *native_response_head(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
PyObject *native_chunk_frames(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
PyObject *native_openai_opening(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
PyObject *native_openai_usage(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
PyObject *native_anthropic_delta_usage(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
PyObject *native_anthropic_start(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
PyObject *native_leet_runs(PyObject *self, PyObject *args);
PyObject *native_possible_tables(PyObject *self, PyObject *args);
PyObject *native_possible(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
PyObject *native_possible_regions(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
PyObject *native_possible_anchored(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
PyObject *native_next_literal(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
PyObject *native_window_logits_capped(PyObject *self, PyObject *args);
PyObject *native_features_windows(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
PyObject *native_features_simd(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
PyObject *prefilter_below(PyObject *capsule, const int64_t *tg, Py_ssize_t nt, int bits);
int window_buffers(PyObject *objs[5], Py_buffer v[5], int *got, Py_ssize_t n, Py_ssize_t window, const char *fn,
                   int buckets);

#endif
