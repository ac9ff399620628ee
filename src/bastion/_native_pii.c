/* bastion._native.plain and pii_gates: the gate questions of normalize.is_plain and the PII scanner in one pass.
 *
 *   plain(text) -> bool
 *       normalize.is_plain: the text is ASCII without a control character other than tab, line feed and
 *       carriage return (every character in [\t\n\r\x20-\x7e]).
 *   pii_gates(text) -> (first digit, IBAN hint, IPv6 hint, cluster spans) | None
 *       None when the text is not ASCII. Else, of the ASCII text: the position of its first digit (-1: none);
 *       pii._IBAN_HINT.search(text).start() (two capitals and two digits; -1: none); whether
 *       pii._IPV6_HINT.search(text) finds something (two colons with at most four hex digits between); and
 *       [(m.start(), m.end()) for m in pii._CLUSTER_ASCII.finditer(text)] as a list of 2-tuples.
 *
 * A cluster (\d[\d \t().\-]{5,}\d, greedy) starts at a digit that no earlier cluster's run holds and ends at
 * the last digit of the run of cluster characters that follows it, when that is 7 characters or more: the
 * regex then resumes at that end, where the run has no digit left. Only digits and colons matter to the
 * three questions ('0'..'9' and ':' are the bytes 0x30..0x3a): sixteen bytes at a time (by SSE2, else as two
 * words), a block without such a byte is passed over in a few instructions (prose has few of them).
 */
#include "_native.h"

/* Bytes of an ASCII text read eight at a time (below 0x80 each: no test below sees a high bit of the text). */
#define ONES ((uint64_t)0x0101010101010101ULL)
#define HIGHS ((uint64_t)0x8080808080808080ULL)

/* A byte of the ASCII word w is a digit or a colon (0x30..0x3a: its xor with 0x30 is below 11): the lowest such
 * byte sets its high bit, and one that is not sets none unless a lower one does (exact as a test). */
#define DIGIT_OR_COLON(w) ((((w) ^ (ONES * 0x30)) - ONES * 0x0b) & ~((w) ^ (ONES * 0x30)) & HIGHS)
/* A byte of the ASCII word w is below 0x20 (as above) or 0x7f (the only one that a carry of +1 takes to 0x80). */
#define CONTROL(w) (((((w) - ONES * 0x20) & ~(w)) | ((w) + ONES)) & HIGHS)

enum { CONTROLS, DIGITS_OR_COLONS };

#ifdef __SSE2__
#include <emmintrin.h>

/* The bytes of the sixteen at p that `kind` marks, as a bit mask (SSE2, every x86-64: ~5 instructions). */
static inline int
block_marks(const unsigned char *p, int kind)
{
    __m128i v = _mm_loadu_si128((const __m128i *)p);
    if (kind == CONTROLS) /* ASCII bytes are below 0x80: a signed comparison is an unsigned one */
        return _mm_movemask_epi8(_mm_or_si128(_mm_cmplt_epi8(v, _mm_set1_epi8(0x20)),
                                              _mm_cmpeq_epi8(v, _mm_set1_epi8(0x7f))));
    __m128i t = _mm_sub_epi8(v, _mm_set1_epi8(0x30)); /* 0..10 for a digit or a colon, wrapped around below */
    return _mm_movemask_epi8(_mm_cmpeq_epi8(_mm_min_epu8(t, _mm_set1_epi8(0x0a)), t));
}
#else
static inline int
block_marks(const unsigned char *p, int kind)
{
    uint64_t a, b;
    memcpy(&a, p, 8);
    memcpy(&b, p + 8, 8);
    return kind == CONTROLS ? (CONTROL(a) | CONTROL(b)) != 0 : (DIGIT_OR_COLON(a) | DIGIT_OR_COLON(b)) != 0;
}
#endif

/* From i on, the start of the first sixteen bytes in which `kind` marks a byte, or of the tail (fewer than
 * sixteen bytes): one branch for sixteen bytes. */
static inline Py_ssize_t
skip_blocks(const unsigned char *c, Py_ssize_t n, Py_ssize_t i, int kind)
{
    for (; i + 16 <= n; i += 16)
        if (block_marks(c + i, kind))
            break;
    return i;
}

static inline int
is_digit(unsigned x)
{
    return x - '0' < 10;
}

static inline int
is_cluster(unsigned x)
{
    return is_digit(x) || x == ' ' || x == '\t' || x == '(' || x == ')' || x == '.' || x == '-';
}

static inline int
is_hex(unsigned x)
{
    return is_digit(x) || (x | 0x20) - 'a' < 6;
}

static inline int
is_upper(unsigned x)
{
    return x - 'A' < 26;
}

/* 1 when text is an ASCII str (its bytes and length then in *c, *n), 0 for another str, -1 with TypeError. */
static int
ascii_text(PyObject *text, const char *fn, const unsigned char **c, Py_ssize_t *n)
{
    if (!PyUnicode_Check(text)) {
        PyErr_Format(PyExc_TypeError, "%s: text must be str, not %.100s", fn, Py_TYPE(text)->tp_name);
        return -1;
    }
    if (!PyUnicode_IS_ASCII(text))
        return 0;
    *c = PyUnicode_1BYTE_DATA(text);
    *n = PyUnicode_GET_LENGTH(text);
    return 1;
}

PyObject *
native_plain(PyObject *self, PyObject *text)
{
    const unsigned char *c;
    Py_ssize_t n, i = 0;
    int ascii = ascii_text(text, "plain", &c, &n);
    if (ascii <= 0)
        return ascii < 0 ? NULL : Py_NewRef(Py_False);
    while ((i = skip_blocks(c, n, i, CONTROLS)) < n)
        for (Py_ssize_t stop = i + 16 < n ? i + 16 : n; i < stop; i++)
            if ((c[i] < 0x20 && c[i] != '\t' && c[i] != '\n' && c[i] != '\r') || c[i] == 0x7f)
                Py_RETURN_FALSE;
    Py_RETURN_TRUE;
}

/* quiet_text(marks, tables, text) -> bool: True when `text` is an ASCII str none of whose bytes `marks` (256 bytes,
 * nonzero for a byte that may matter) marks and, unless `tables` is None, secret_bits(tables, text) is 0. With the
 * control characters that normalize.is_plain refuses marked, it is policy/engine.py `quiet` of such a text in one
 * call (PolicyEngine._quiet_test). */
PyObject *
native_quiet_text(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3) {
        PyErr_Format(PyExc_TypeError, "quiet_text: expected 3 arguments, got %zd", nargs);
        return NULL;
    }
    Py_buffer view;
    if (PyObject_GetBuffer(args[0], &view, PyBUF_SIMPLE) < 0)
        return NULL;
    if (view.len != 256) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_ValueError, "quiet_text: marks must be 256 bytes");
        return NULL;
    }
    const unsigned char *marks = view.buf, *c;
    Py_ssize_t n;
    int ascii = ascii_text(args[2], "quiet_text", &c, &n);
    if (ascii <= 0) {
        PyBuffer_Release(&view);
        return ascii < 0 ? NULL : Py_NewRef(Py_False);
    }
    unsigned any = 0;
    for (Py_ssize_t i = 0; i < n; i++)
        any |= marks[c[i]];
    PyBuffer_Release(&view);
    if (any)
        Py_RETURN_FALSE;
    if (args[1] == Py_None)
        Py_RETURN_TRUE;
    PyObject *pair[2] = {args[1], args[2]};
    PyObject *bits = native_secret_bits(self, pair, 2);
    if (bits == NULL)
        return NULL;
    int live = PyObject_IsTrue(bits);
    Py_DECREF(bits);
    if (live < 0)
        return NULL;
    return Py_NewRef(live ? Py_False : Py_True);
}

/* Whitespace as str.isspace (and the patterns' \s) takes it, among ASCII bytes: \t \n \v \f \r, 0x1c-0x1f, space. */
static inline int
ascii_space(unsigned char x)
{
    return (x >= 0x09 && x <= 0x0d) || (x >= 0x1c && x <= 0x20);
}

/* pending_start(text, pos) -> int: policy/window.py `_pending_start` of an ASCII str (pos >= 0), -1 for another
 * str. The same four anchored matches, on bytes: the last token ([^\s"]*, back from the end, not before pos), the
 * longest suffix of groups and joiners ([^a-z"\n\r]*, likewise), then joiners ([^\S\n\r]*) and a group
 * ([^a-z\s"]*) forward. */
PyObject *
native_pending_start(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_Format(PyExc_TypeError, "pending_start: expected 2 arguments, got %zd", nargs);
        return NULL;
    }
    const unsigned char *c;
    Py_ssize_t n;
    int ascii = ascii_text(args[0], "pending_start", &c, &n);
    if (ascii < 0)
        return NULL;
    Py_ssize_t pos = PyLong_AsSsize_t(args[1]);
    if (pos == -1 && PyErr_Occurred())
        return NULL;
    if (!ascii)
        return PyLong_FromSsize_t(-1);
    if (pos < 0) {
        PyErr_SetString(PyExc_ValueError, "pending_start: pos must be >= 0");
        return NULL;
    }
    if (pos >= n)
        return PyLong_FromSsize_t(n);
    Py_ssize_t start = n, run = n;
    while (start > pos && !ascii_space(c[start - 1]) && c[start - 1] != '"')
        start--;
    while (run > pos && !(c[run - 1] >= 'a' && c[run - 1] <= 'z') && c[run - 1] != '"' && c[run - 1] != '\n'
           && c[run - 1] != '\r')
        run--;
    if (run < start) {
        Py_ssize_t first = run;
        while (first < n && ascii_space(c[first]) && c[first] != '\n' && c[first] != '\r')
            first++;
        if (first < start) {
            Py_ssize_t end = first;
            while (end < n && !(c[end] >= 'a' && c[end] <= 'z') && !ascii_space(c[end]) && c[end] != '"')
                end++;
            if (end < n)
                return PyLong_FromSsize_t(first);
        }
    }
    return PyLong_FromSsize_t(start);
}

PyObject *
native_pii_gates(PyObject *self, PyObject *text)
{
    const unsigned char *c;
    Py_ssize_t n, i = 0, first = -1, hint = -1, run_end = 0;
    int ascii = ascii_text(text, "pii_gates", &c, &n);
    if (ascii <= 0)
        return ascii < 0 ? NULL : Py_NewRef(Py_None);
    int ipv6 = 0;
    PyObject *spans = PyList_New(0);
    if (spans == NULL)
        return NULL;
    while ((i = skip_blocks(c, n, i, DIGITS_OR_COLONS)) < n) {
        for (Py_ssize_t stop = i + 16 < n ? i + 16 : n; i < stop; i++) {
            unsigned x = c[i];
            if (x == ':') {
                if (!ipv6) {
                    Py_ssize_t j = i + 1;
                    while (j < n && j - i <= 4 && is_hex(c[j]))
                        j++;
                    ipv6 = j < n && c[j] == ':';
                }
                continue;
            }
            if (!is_digit(x))
                continue;
            if (first < 0)
                first = i;
            if (hint < 0 && i >= 2 && i + 1 < n && is_digit(c[i + 1]) && is_upper(c[i - 2]) && is_upper(c[i - 1]))
                hint = i - 2;
            if (i < run_end)
                continue; /* inside the run of an earlier cluster start */
            Py_ssize_t j = i + 1, last = i;
            while (j < n && is_cluster(c[j])) {
                if (is_digit(c[j]))
                    last = j;
                j++;
            }
            run_end = j;
            if (last - i >= 6 && append_span(spans, i, last + 1) < 0) {
                Py_DECREF(spans);
                return NULL;
            }
        }
    }
    PyObject *out = PyTuple_New(4), *a = PyLong_FromSsize_t(first), *b = PyLong_FromSsize_t(hint);
    if (out == NULL || a == NULL || b == NULL) {
        Py_XDECREF(out);
        Py_XDECREF(a);
        Py_XDECREF(b);
        Py_DECREF(spans);
        return NULL;
    }
    PyTuple_SET_ITEM(out, 0, a);
    PyTuple_SET_ITEM(out, 1, b);
    PyTuple_SET_ITEM(out, 2, Py_NewRef(ipv6 ? Py_True : Py_False));
    PyTuple_SET_ITEM(out, 3, spans);
    return out;
}
