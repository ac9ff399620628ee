/* bastion._native.secret_tables and secret_bits: the secrets scanner's literal prefilter in one pass.
 *
 *   secret_tables(literals, common) -> tables
 *       literals: a sequence of (literal, bit, folded): a non-empty ASCII str without NUL, the rule bit it
 *       stands for (an int in [1, 2**64)), and whether it is looked for in text.lower() (True) or in the
 *       text as it is (False). At most 64 literals. common: characters from common to rare in text
 *       (secrets._COMMON; any other is rarer), to choose the pair of characters each literal is found by.
 *   secret_bits(tables, text) -> int
 *       The OR of the bits of the literals that occur: a superset of what the scanner's Python prefilter
 *       (secrets._present on the text and on text.lower()) gives, and the same on any text whose
 *       non-ASCII characters do not lower to ASCII (only U+0130 and U+212A do, in Unicode 15).
 *
 * Each character is first given a class of one byte: an ASCII character is its own class, a non-ASCII
 * one whose simple lower case is the ASCII letter c is 128 + c (it matches c in a folded literal only,
 * as str.lower() makes it c; U+0130 lowers to "i" and U+0307, so it can only end a match: treating it
 * as "i" anywhere finds at least what Python finds), any other is 0 (matches nothing). An ASCII text is
 * its own classes; other texts are mapped into a buffer first. Each literal is found by its rarest pair of
 * adjacent characters (by `common`; "token" by "ok", "secret" by "cr": a fourth of the candidates its
 * first two give in prose). Then one pass: at position i the literals whose pair matches the classes at
 * i and i + 1 (two table loads, 64-bit masks of literals) and whose rule is not live yet are compared in
 * place; the pass ends when every rule is live. Eight positions are first tested at once by a table of the
 * 65,536 pairs of classes (one byte load each): most blocks of text hold no pair of any literal.
 */
#include "_native.h"

#define MAX_LITERALS 64

typedef struct {
    Py_ssize_t n;
    uint64_t first[256], second[256]; /* literals whose pair's first (second) character matches a class */
    uint64_t single;                  /* literals of one character (match at the last position) */
    uint64_t bit[MAX_LITERALS];
    Py_ssize_t len[MAX_LITERALS], at[MAX_LITERALS]; /* the pair: characters at and at + 1 */
    int folded[MAX_LITERALS];
    char *chars[MAX_LITERALS];
    int any_folded;
    /* pair[load_pair({a, b})]: some literal's pair matches the classes a, b (first[a] & second[b] != 0): one load per
     * position instead of two masks of 64 bits; filled once every literal is in */
    unsigned char pair[65536];
} SecretTables;

/* The character a class stands for in a folded literal (in text.lower()). */
static unsigned char fold_of[256];

/* The non-ASCII characters whose simple lower case is ASCII (U+0130 and U+212A in Unicode 15), found once
 * over every code point (~1.1 M Py_UNICODE_TOLOWER calls), and the range they lie in: a character outside
 * it (Latin-1, CJK, emoji) is class 0 without a look-up. */
#define MAX_TO_ASCII 32
static Py_UCS4 to_ascii[MAX_TO_ASCII], to_ascii_lo = 1, to_ascii_hi = 0;
static unsigned char to_ascii_cls[MAX_TO_ASCII];
static int n_to_ascii = -1;

static int
find_to_ascii(void)
{
    int found = 0;
    for (Py_UCS4 ch = 128; ch <= 0x10FFFF; ch++) {
        Py_UCS4 low = Py_UNICODE_TOLOWER(ch);
        if (low >= 128 || low == 0)
            continue;
        if (found == MAX_TO_ASCII) {
            PyErr_SetString(PyExc_RuntimeError, "secret_tables: too many characters lower to ASCII");
            return -1;
        }
        to_ascii[found] = ch;
        to_ascii_cls[found++] = (unsigned char)(128 + low);
    }
    if (found) {
        to_ascii_lo = to_ascii[0];
        to_ascii_hi = to_ascii[found - 1];
    }
    n_to_ascii = found;
    return 0;
}

static inline unsigned char
class_of(Py_UCS4 ch, int folds)
{
    if (ch < 128)
        return (unsigned char)ch;
    if (!folds || ch < to_ascii_lo || ch > to_ascii_hi)
        return 0;
    for (int j = 0; j < n_to_ascii; j++)
        if (to_ascii[j] == ch)
            return to_ascii_cls[j];
    return 0;
}

/* The two bytes at p as one 16-bit index of `pair` (one load; the table is filled by the same function, so the
 * byte order does not matter). */
static inline uint16_t
load_pair(const unsigned char *p)
{
    uint16_t v;
    memcpy(&v, p, 2);
    return v;
}

static void
secret_tables_free(PyObject *capsule)
{
    SecretTables *t = PyCapsule_GetPointer(capsule, "bastion._native.SecretTables");
    if (t == NULL)
        return;
    for (Py_ssize_t k = 0; k < t->n; k++)
        PyMem_Free(t->chars[k]);
    PyMem_Free(t);
}

/* Whether class `cls` matches character `want` of a literal. */
static inline int
matches(int folded, unsigned char cls, unsigned char want)
{
    return folded ? fold_of[cls] == want : cls == want;
}

/* How rare a character of a literal is: its place in `common` (its length when not there); a folded
 * literal's letter matches both cases, so as rare as the more common of the two. */
static Py_ssize_t
rarity(PyObject *common, unsigned char ch, int folded)
{
    Py_ssize_t n = PyUnicode_GET_LENGTH(common), best = n;
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_UCS4 x = PyUnicode_READ_CHAR(common, i);
        if (x == ch || (folded && x < 128 && fold_of[x] == fold_of[ch])) {
            best = i;
            break;
        }
    }
    return best;
}

/* Read one (literal, bit, folded) entry into literal k of t; -1 with an exception. */
static int
add_literal(SecretTables *t, Py_ssize_t k, PyObject *entry, PyObject *common)
{
    PyObject *lit, *bit_obj;
    int folded;
    if (!PyTuple_Check(entry) || !PyArg_ParseTuple(entry, "UOp", &lit, &bit_obj, &folded)) {
        if (!PyErr_Occurred() || PyErr_ExceptionMatches(PyExc_TypeError)) {
            PyErr_Clear();
            PyErr_SetString(PyExc_TypeError, "secret_tables: each literal must be a (str, int, bool) tuple");
        }
        return -1;
    }
    Py_ssize_t len = PyUnicode_GET_LENGTH(lit);
    if (len == 0 || !PyUnicode_IS_ASCII(lit) || memchr(PyUnicode_1BYTE_DATA(lit), 0, (size_t)len) != NULL) {
        PyErr_SetString(PyExc_ValueError, "secret_tables: a literal must be non-empty ASCII without NUL");
        return -1;
    }
    if (!PyLong_Check(bit_obj)) {
        PyErr_SetString(PyExc_TypeError, "secret_tables: a bit must be an int");
        return -1;
    }
    unsigned long long bit = PyLong_AsUnsignedLongLong(bit_obj);
    if (bit == (unsigned long long)-1 && PyErr_Occurred()) {
        PyErr_Clear();
        bit = 0;
    }
    if (bit == 0) {
        PyErr_SetString(PyExc_ValueError, "secret_tables: a bit must be an int in [1, 2**64)");
        return -1;
    }
    t->chars[k] = PyMem_Malloc((size_t)len);
    if (t->chars[k] == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    memcpy(t->chars[k], PyUnicode_1BYTE_DATA(lit), (size_t)len);
    t->n = k + 1;
    t->len[k] = len;
    t->bit[k] = bit;
    t->folded[k] = folded;
    t->any_folded |= folded;
    const unsigned char *s = (const unsigned char *)t->chars[k];
    Py_ssize_t at = 0, score = -1;
    for (Py_ssize_t d = 0; d + 1 < len; d++) {
        Py_ssize_t r = rarity(common, s[d], folded) + rarity(common, s[d + 1], folded);
        if (r > score) {
            score = r;
            at = d;
        }
    }
    t->at[k] = at;
    for (int cls = 0; cls < 256; cls++) {
        if (matches(folded, (unsigned char)cls, s[at]))
            t->first[cls] |= (uint64_t)1 << k;
        if (len == 1 || matches(folded, (unsigned char)cls, s[at + 1]))
            t->second[cls] |= (uint64_t)1 << k;
    }
    if (len == 1)
        t->single |= (uint64_t)1 << k;
    return 0;
}

PyObject *
native_secret_tables(PyObject *self, PyObject *args)
{
    PyObject *literals, *common;
    if (!PyArg_ParseTuple(args, "OU", &literals, &common))
        return NULL;
    if (fold_of['A'] == 0)
        for (int c = 0; c < 256; c++)
            fold_of[c] = c >= 'A' && c <= 'Z' ? (unsigned char)(c + 32) : c < 128 ? (unsigned char)c
                                                                               : (unsigned char)(c - 128);
    if (n_to_ascii < 0 && find_to_ascii() < 0)
        return NULL;
    PyObject *seq = PySequence_Fast(literals, "secret_tables: literals must be a sequence");
    if (seq == NULL)
        return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    if (n > MAX_LITERALS) {
        Py_DECREF(seq);
        return PyErr_Format(PyExc_ValueError, "secret_tables: at most %d literals, got %zd", MAX_LITERALS, n);
    }
    SecretTables *t = PyMem_Calloc(1, sizeof(SecretTables));
    if (t == NULL) {
        Py_DECREF(seq);
        return PyErr_NoMemory();
    }
    PyObject *capsule = PyCapsule_New(t, "bastion._native.SecretTables", secret_tables_free);
    if (capsule == NULL) {
        PyMem_Free(t);
        Py_DECREF(seq);
        return NULL;
    }
    for (Py_ssize_t k = 0; k < n; k++)
        if (add_literal(t, k, PySequence_Fast_GET_ITEM(seq, k), common) < 0) {
            Py_DECREF(seq);
            Py_DECREF(capsule);
            return NULL;
        }
    Py_DECREF(seq);
    for (int a = 0; a < 256; a++)
        if (t->first[a])
            for (int b = 0; b < 256; b++)
                t->pair[load_pair((const unsigned char[2]){(unsigned char)a, (unsigned char)b})] =
                    (t->first[a] & t->second[b]) != 0;
    return capsule;
}

/* The classes of a text that is not ASCII, into cls (n bytes). */
static void
classes(PyObject *text, Py_ssize_t n, int folds, unsigned char *cls)
{
    const void *data = PyUnicode_DATA(text);
    switch (PyUnicode_KIND(text)) {
    case PyUnicode_1BYTE_KIND:
        for (Py_ssize_t i = 0; i < n; i++)
            cls[i] = class_of(((const Py_UCS1 *)data)[i], folds);
        break;
    case PyUnicode_2BYTE_KIND:
        for (Py_ssize_t i = 0; i < n; i++)
            cls[i] = class_of(((const Py_UCS2 *)data)[i], folds);
        break;
    default:
        for (Py_ssize_t i = 0; i < n; i++)
            cls[i] = class_of(((const Py_UCS4 *)data)[i], folds);
    }
}

/* Literal k occurs with its pair at position i of the classes c (n of them). */
static inline int
occurs_at(const SecretTables *t, Py_ssize_t k, const unsigned char *c, Py_ssize_t n, Py_ssize_t i)
{
    Py_ssize_t len = t->len[k], start = i - t->at[k];
    if (start < 0 || len > n - start)
        return 0;
    const unsigned char *s = (const unsigned char *)t->chars[k];
    if (!t->folded[k])
        return memcmp(c + start, s, (size_t)len) == 0;
    for (Py_ssize_t j = 0; j < len; j++)
        if (fold_of[c[start + j]] != s[j])
            return 0;
    return 1;
}

/* The literals still to look for once `live` holds: those whose bit is not all live yet. */
static inline uint64_t
still_pending(const SecretTables *t, uint64_t pending, uint64_t live)
{
    for (Py_ssize_t k = 0; k < t->n; k++)
        if ((t->bit[k] & ~live) == 0)
            pending &= ~((uint64_t)1 << k);
    return pending;
}

/* Compare the candidates m at position i; add the bits of those that occur to *live. */
static inline uint64_t
try_candidates(const SecretTables *t, uint64_t m, const unsigned char *c, Py_ssize_t n, Py_ssize_t i,
               uint64_t pending, uint64_t *live)
{
    while (m) {
        int k = __builtin_ctzll(m);
        m &= m - 1;
        if (occurs_at(t, k, c, n, i)) {
            *live |= t->bit[k];
            pending = still_pending(t, pending, *live);
            m &= pending;
        }
    }
    return pending;
}

PyObject *
native_secret_bits(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_Format(PyExc_TypeError, "secret_bits: expected 2 arguments, got %zd", nargs);
        return NULL;
    }
    PyObject *text = args[1];
    if (!PyUnicode_Check(text)) {
        PyErr_Format(PyExc_TypeError, "secret_bits: text must be str, not %.100s", Py_TYPE(text)->tp_name);
        return NULL;
    }
    const SecretTables *t = PyCapsule_GetPointer(args[0], "bastion._native.SecretTables");
    if (t == NULL)
        return NULL;
    Py_ssize_t n = PyUnicode_GET_LENGTH(text);
    unsigned char *buf = NULL;
    const unsigned char *c;
    if (PyUnicode_IS_ASCII(text))
        c = PyUnicode_1BYTE_DATA(text);
    else {
        buf = PyMem_Malloc(n > 0 ? (size_t)n : 1);
        if (buf == NULL)
            return PyErr_NoMemory();
        classes(text, n, t->any_folded, buf);
        c = buf;
    }
    uint64_t pending = t->n == MAX_LITERALS ? ~(uint64_t)0 : ((uint64_t)1 << t->n) - 1, live = 0;
    const uint64_t *first = t->first, *second = t->second;
    Py_ssize_t i = 0;
    /* eight positions at a time (one branch): most blocks of text hold no candidate */
    const unsigned char *pair = t->pair;
#define PAIR(j) pair[load_pair(c + (j))]
    for (; i + 8 < n && pending; i += 8) {
        unsigned any = PAIR(i) | PAIR(i + 1) | PAIR(i + 2) | PAIR(i + 3) | PAIR(i + 4) | PAIR(i + 5) | PAIR(i + 6)
                       | PAIR(i + 7);
        if (any)
            for (Py_ssize_t j = i; j < i + 8; j++) {
                uint64_t m = first[c[j]] & second[c[j + 1]] & pending;
                if (m)
                    pending = try_candidates(t, m, c, n, j, pending, &live);
            }
    }
#undef PAIR
    for (; i + 1 < n && pending; i++) {
        uint64_t m = first[c[i]] & second[c[i + 1]] & pending;
        if (m)
            pending = try_candidates(t, m, c, n, i, pending, &live);
    }
    if (n > 0 && pending)
        try_candidates(t, first[c[n - 1]] & t->single & pending, c, n, n - 1, pending, &live);
    PyMem_Free(buf);
    return PyLong_FromUnsignedLongLong(live);
}
