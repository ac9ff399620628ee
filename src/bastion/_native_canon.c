/* bastion._native.canon: the injection detector's canonical form (policy/injection/canon.py) in one pass.
 *
 *   canon(text, table, multi, layout, astral, keep) -> (canonical str, codes, origin)
 *       canon.py's general path up to the spaced-letters step, for any str: each code point mapped
 *       through `table` (uint32 per BMP code point: the canonical code point, DROP or MULTI), MULTI
 *       entries expanded from `multi` ({code point: str}), code points beyond the BMP through
 *       `astral(cp) -> str` ("" drops it; whitespace inside an expansion becomes a space, as in
 *       canon._expand), dropped ones removed, every run of spaces and newlines made its first
 *       character (a newline if the run held one), then the layout runs of layout.layout_runs cut
 *       (`layout`: one byte per code point up to 0x10FFFF; `keep` = RUN_KEEP) and whitespace collapsed
 *       again around them. `codes` (uint32) and `origin` (int64: the index in `text` of each
 *       canonical character) come back as bytearrays for numpy.frombuffer.
 *
 * The numpy code in canon.py is the reference and the fallback; tests compare the two.
 */
#include "_native.h"

#define DROP 0xFFFFFFFFu
#define MULTI 0xFFFFFFFEu
#define LAYOUT_SIZE 0x110000

typedef struct {
    uint32_t *cp;
    int64_t *origin;
    Py_ssize_t n, cap;
} Out;

static int
out_reserve(Out *o, Py_ssize_t more)
{
    if (o->n + more <= o->cap)
        return 0;
    Py_ssize_t cap = (o->n + more) * 2;
    uint32_t *cp = PyMem_Realloc(o->cp, (size_t)cap * sizeof(uint32_t));
    if (cp == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    o->cp = cp;
    int64_t *origin = PyMem_Realloc(o->origin, (size_t)cap * sizeof(int64_t));
    if (origin == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    o->origin = origin;
    o->cap = cap;
    return 0;
}

static inline int
is_ws(uint32_t v)
{
    return v == 32 || v == 10;
}

/* Append v (from text index i), merging it into a preceding space or newline when both are whitespace. */
static inline void
emit(Out *o, uint32_t v, int64_t i)
{
    if (is_ws(v) && o->n > 0 && is_ws(o->cp[o->n - 1])) {
        if (v == 10)
            o->cp[o->n - 1] = 10;
        return;
    }
    o->cp[o->n] = v;
    o->origin[o->n] = i;
    o->n++;
}

/* Append an expansion (MULTI entry or astral code point); 0 or -1 with an exception. */
static int
emit_str(Out *o, PyObject *s, int64_t i, int spaces)
{
    if (!PyUnicode_Check(s)) {
        PyErr_SetString(PyExc_TypeError, "canon: an expansion must be a str");
        return -1;
    }
    Py_ssize_t len = PyUnicode_GET_LENGTH(s);
    int kind = PyUnicode_KIND(s);
    const void *data = PyUnicode_DATA(s);
    if (out_reserve(o, len) < 0)
        return -1;
    for (Py_ssize_t j = 0; j < len; j++) {
        Py_UCS4 c = PyUnicode_READ(kind, data, j);
        /* an expansion of several characters: whitespace becomes a space (canon._expand); a single
         * astral replacement keeps its code point (canon._map) */
        emit(o, spaces && Py_UNICODE_ISSPACE(c) ? 32u : (uint32_t)c, i);
    }
    return 0;
}

/* layout.layout_runs on o (whitespace already collapsed): 1 per character to cut, or NULL (no cut or error). */
static unsigned char *
layout_cut(const Out *o, const unsigned char *layout, int keep, int *err)
{
    unsigned char *cut = NULL;
    Py_ssize_t p1 = -1, p2 = -1; /* the last two layout positions */
    int adj1 = 0;                /* p2 -> p1 adjacent */
    Py_ssize_t run1 = 0, run2 = 0;
    for (Py_ssize_t j = 0; j < o->n; j++) {
        uint32_t v = o->cp[j];
        if (v >= LAYOUT_SIZE || !layout[v])
            continue;
        int adj = 0;
        if (p1 >= 0) {
            Py_ssize_t gap = j - p1;
            adj = gap == 1 || (gap == 2 && is_ws(o->cp[p1 + 1]));
            run1 = adj && o->cp[p1] == v ? run1 + 1 : 0;
            run2 = p2 >= 0 && adj && adj1 && o->cp[p2] == v ? run2 + 1 : 0;
            if (run1 >= keep || run2 >= 2 * keep - 1) {
                if (cut == NULL) {
                    cut = PyMem_Calloc((size_t)o->n, 1);
                    if (cut == NULL) {
                        PyErr_NoMemory();
                        *err = 1;
                        return NULL;
                    }
                }
                cut[j] = 1;
            }
        }
        p2 = p1;
        p1 = j;
        adj1 = adj;
    }
    return cut;
}

PyObject *
native_canon(PyObject *self, PyObject *args)
{
    PyObject *text, *table_obj, *multi, *layout_obj, *astral;
    int keep;
    if (!PyArg_ParseTuple(args, "UOO!OOi", &text, &table_obj, &PyDict_Type, &multi, &layout_obj, &astral, &keep))
        return NULL;
    if (keep < 1) {
        PyErr_SetString(PyExc_ValueError, "keep: must be at least 1");
        return NULL;
    }
    Py_buffer tv, lv;
    if (get_buffer(table_obj, &tv, 4, "table") < 0)
        return NULL;
    if (get_buffer(layout_obj, &lv, 1, "layout") < 0) {
        PyBuffer_Release(&tv);
        return NULL;
    }
    PyObject *result = NULL;
    Out o = {NULL, NULL, 0, 0};
    unsigned char *cut = NULL;
    if (tv.len != 0x10000 * 4 || lv.len != LAYOUT_SIZE) {
        PyErr_SetString(PyExc_ValueError, "canon: table must hold 0x10000 uint32, layout 0x110000 bytes");
        goto done;
    }
    const uint32_t *table = (const uint32_t *)tv.buf;
    const unsigned char *layout = (const unsigned char *)lv.buf;
    Py_ssize_t n = PyUnicode_GET_LENGTH(text);
    int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    if (out_reserve(&o, n + 16) < 0)
        goto done;
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_UCS4 c = PyUnicode_READ(kind, data, i);
        if (c < 0x10000) {
            uint32_t v = table[c];
            if (v == DROP)
                continue;
            if (v != MULTI) {
                if (out_reserve(&o, 1) < 0)
                    goto done;
                emit(&o, v, i);
                continue;
            }
            PyObject *key = PyLong_FromUnsignedLong(c);
            if (key == NULL)
                goto done;
            PyObject *s = PyDict_GetItemWithError(multi, key); /* borrowed */
            Py_DECREF(key);
            if (s == NULL) {
                if (!PyErr_Occurred())
                    PyErr_Format(PyExc_KeyError, "canon: no expansion for U+%04X", (unsigned)c);
                goto done;
            }
            if (emit_str(&o, s, i, 1) < 0)
                goto done;
            continue;
        }
        PyObject *s = PyObject_CallFunction(astral, "I", (unsigned)c);
        if (s == NULL)
            goto done;
        int rc = emit_str(&o, s, i, PyUnicode_Check(s) && PyUnicode_GET_LENGTH(s) > 1);
        Py_DECREF(s);
        if (rc < 0)
            goto done;
    }
    int err = 0;
    cut = layout_cut(&o, layout, keep, &err);
    if (err)
        goto done;
    if (cut != NULL) { /* drop the cut characters and collapse the whitespace around them, in place */
        Py_ssize_t m = o.n;
        o.n = 0;
        for (Py_ssize_t j = 0; j < m; j++)
            if (!cut[j])
                emit(&o, o.cp[j], o.origin[j]);
    }
    PyObject *str = PyUnicode_FromKindAndData(PyUnicode_4BYTE_KIND, o.cp, o.n);
    PyObject *codes = PyByteArray_FromStringAndSize((const char *)o.cp, o.n * (Py_ssize_t)sizeof(uint32_t));
    PyObject *origin = PyByteArray_FromStringAndSize((const char *)o.origin, o.n * (Py_ssize_t)sizeof(int64_t));
    if (str != NULL && codes != NULL && origin != NULL)
        result = PyTuple_Pack(3, str, codes, origin);
    Py_XDECREF(str);
    Py_XDECREF(codes);
    Py_XDECREF(origin);
done:
    PyMem_Free(cut);
    PyMem_Free(o.cp);
    PyMem_Free(o.origin);
    PyBuffer_Release(&tv);
    PyBuffer_Release(&lv);
    return result;
}
