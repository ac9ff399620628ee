/* bastion._native.secret_tables and secret_bits: the secrets scanner's literal prefilter in one pass.
 *
 *   secret_tables(literals) -> tables
 *       literals: a sequence of (literal, bit, folded): a non-empty ASCII str without NUL, the rule bit it
 *       stands for (an int in [1, 2**64)), and whether it is looked for in text.lower() (True) or in the
 *       text as it is (False). At most 64 literals.
 *   secret_bits(tables, text) -> int
 *       The OR of the bits of the literals that occur: a superset of what the scanner's Python prefilter
 *       (secrets._present on the text and on text.lower()) gives, and the same on any text whose
 *       non-ASCII characters do not lower to ASCII (only U+0130 and U+212A do, in Unicode 15).
 *
 * Each character is first given a class of one byte: an ASCII character is its own class, a non-ASCII
 * one whose simple lower case is the ASCII letter c is 128 + c (it matches c in a folded literal only,
 * as str.lower() makes it c; U+0130 lowers to "i" and U+0307, so it can only end a match: treating it
 * as "i" anywhere finds at least what Python finds), any other is 0 (matches nothing). An ASCII text is
 * its own classes; other texts are mapped into a buffer first. Then one pass: at position i the literals
 * whose first two characters match the classes at i and i + 1 (two table loads, 64-bit masks of
 * literals) and whose rule is not live yet are compared in place; the pass ends when every rule is live.
 */
#include "_native.h"

#define MAX_LITERALS 64

typedef struct {
    Py_ssize_t n;
    uint64_t first[256], second[256]; /* literals whose first (second) character matches a class */
    uint64_t single;                  /* literals of one character (match at the last position) */
    uint64_t bit[MAX_LITERALS];
    Py_ssize_t len[MAX_LITERALS];
    int folded[MAX_LITERALS];
    char *chars[MAX_LITERALS];
    int any_folded;
} SecretTables;

/* The character a class stands for in a folded literal (in text.lower()). */
static unsigned char fold_of[256];

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

/* Read one (literal, bit, folded) entry into literal k of t; -1 with an exception. */
static int
add_literal(SecretTables *t, Py_ssize_t k, PyObject *entry)
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
    for (int cls = 0; cls < 256; cls++) {
        if (matches(folded, (unsigned char)cls, s[0]))
            t->first[cls] |= (uint64_t)1 << k;
        if (len == 1 || matches(folded, (unsigned char)cls, s[1]))
            t->second[cls] |= (uint64_t)1 << k;
    }
    if (len == 1)
        t->single |= (uint64_t)1 << k;
    return 0;
}

PyObject *
native_secret_tables(PyObject *self, PyObject *args)
{
    PyObject *literals;
    if (!PyArg_ParseTuple(args, "O", &literals))
        return NULL;
    if (fold_of['A'] == 0)
        for (int c = 0; c < 256; c++)
            fold_of[c] = c >= 'A' && c <= 'Z' ? (unsigned char)(c + 32) : c < 128 ? (unsigned char)c
                                                                               : (unsigned char)(c - 128);
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
        if (add_literal(t, k, PySequence_Fast_GET_ITEM(seq, k)) < 0) {
            Py_DECREF(seq);
            Py_DECREF(capsule);
            return NULL;
        }
    Py_DECREF(seq);
    return capsule;
}

/* The classes of a text that is not ASCII, into cls (n bytes). */
static void
classes(PyObject *text, Py_ssize_t n, int folds, unsigned char *cls)
{
    int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_UCS4 ch = PyUnicode_READ(kind, data, i);
        if (ch < 128)
            cls[i] = (unsigned char)ch;
        else if (!folds)
            cls[i] = 0;
        else {
            Py_UCS4 low = Py_UNICODE_TOLOWER(ch);
            cls[i] = low < 128 && low != 0 ? (unsigned char)(128 + low) : 0;
        }
    }
}

/* Literal k occurs at position i of the classes c (n of them); its first two characters already match. */
static inline int
occurs_at(const SecretTables *t, Py_ssize_t k, const unsigned char *c, Py_ssize_t n, Py_ssize_t i)
{
    Py_ssize_t len = t->len[k];
    if (len > n - i)
        return 0;
    const unsigned char *s = (const unsigned char *)t->chars[k];
    if (t->folded[k]) {
        for (Py_ssize_t j = 2; j < len; j++)
            if (fold_of[c[i + j]] != s[j])
                return 0;
    } else if (len > 2 && memcmp(c + i + 2, s + 2, (size_t)(len - 2)) != 0)
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
native_secret_bits(PyObject *self, PyObject *args)
{
    PyObject *capsule, *text;
    if (!PyArg_ParseTuple(args, "OU", &capsule, &text))
        return NULL;
    const SecretTables *t = PyCapsule_GetPointer(capsule, "bastion._native.SecretTables");
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
    for (Py_ssize_t i = 0; i + 1 < n && pending; i++) {
        uint64_t m = first[c[i]] & second[c[i + 1]] & pending;
        if (m)
            pending = try_candidates(t, m, c, n, i, pending, &live);
    }
    if (n > 0 && pending)
        try_candidates(t, first[c[n - 1]] & t->single & pending, c, n, n - 1, pending, &live);
    PyMem_Free(buf);
    return PyLong_FromUnsignedLongLong(live);
}
