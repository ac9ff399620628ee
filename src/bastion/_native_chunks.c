/* bastion._native.chunk_frames: providers/openai/stream.py `ChunkEncoder.encode_burst`'s usual events in one pass.
 *
 *   chunk_frames(burst, start, kinds, text, text_end, prefix, tail, head, finishes) -> bytes | None
 *       burst: a list of events, read from `start` on; kinds: the classes (TextDelta, StreamEnd, UsageEvent).
 *       When every event from `start` is of exactly one of those classes, of choice 0 (`index` the int 0;
 *       a UsageEvent has none), each text a str orjson can write (no lone surrogate), each finish reason a
 *       key of `finishes` (dict: reason -> bytes), each usage count an int in -2**63 .. 2**63 - 1 (their
 *       sum too): the frames `ChunkEncoder.encode` gives for those events, joined:
 *         a text: text + the text as orjson writes it + text_end (nothing for an empty text);
 *         an end: prefix + finishes[reason] + tail;
 *         a usage: head + `],"usage":` + `orjson.dumps(encode_usage(usage))` + `}\n\n`; nothing when head is None.
 *       None for any other burst (the caller encodes it event by event). An exception only for MemoryError
 *       (or arguments of the wrong types).
 */
#include "_native.h"

/* The frames as they are written: in `small` while they fit, else on the heap. */
typedef struct {
    char *buf;
    Py_ssize_t len, cap;
    char small[1024];
} Frames;

/* Room for `more` bytes: 0; -1 with MemoryError. */
static int
room(Frames *f, Py_ssize_t more)
{
    if (more <= f->cap - f->len)
        return 0;
    if (more > PY_SSIZE_T_MAX / 4 - f->len) {
        PyErr_NoMemory();
        return -1;
    }
    Py_ssize_t cap = 2 * (f->len + more);
    char *buf = PyMem_Malloc((size_t)cap);
    if (buf == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    memcpy(buf, f->buf, (size_t)f->len);
    if (f->buf != f->small)
        PyMem_Free(f->buf);
    f->buf = buf;
    f->cap = cap;
    return 0;
}

static int
add(Frames *f, const char *p, Py_ssize_t n)
{
    if (room(f, n) < 0)
        return -1;
    memcpy(f->buf + f->len, p, (size_t)n);
    f->len += n;
    return 0;
}

static int
add_bytes(Frames *f, PyObject *b)
{
    return add(f, PyBytes_AS_STRING(b), PyBytes_GET_SIZE(b));
}

/* str `s` as orjson writes it (quotes included): `"` and `\` escaped, \b \t \n \f \r as such, the other
 * controls as \u00xx, the rest as UTF-8. 0; 1 for a str with no UTF-8 form (a lone surrogate, which
 * orjson refuses); -1 with an exception. */
static int
add_json_str(Frames *f, PyObject *s)
{
    static const char hex[] = "0123456789abcdef";
    Py_ssize_t n;
    int refused;
    const unsigned char *p = utf8_of(s, &n, &refused);
    if (p == NULL)
        return refused ? 1 : -1;
    if (n > PY_SSIZE_T_MAX / 8 || room(f, 6 * n + 2) < 0) {  /* an escape is 6 bytes at most */
        if (!PyErr_Occurred())
            PyErr_NoMemory();
        return -1;
    }
    char *w = f->buf + f->len;
    *w++ = '"';
    for (Py_ssize_t k = 0; k < n; k++) {
        unsigned char c = p[k];
        if (c >= 0x20 && c != '"' && c != '\\') {
            *w++ = (char)c;
            continue;
        }
        char e = c == '"' ? '"' : c == '\\' ? '\\' : c == '\b' ? 'b' : c == '\t' ? 't' : c == '\n' ? 'n'
                 : c == '\f' ? 'f' : c == '\r' ? 'r' : 0;
        *w++ = '\\';
        if (e != 0) {
            *w++ = e;
        } else {
            memcpy(w, "u00", 3);
            w[3] = hex[c >> 4];
            w[4] = hex[c & 15];
            w += 5;
        }
    }
    *w++ = '"';
    f->len = w - f->buf;
    return 0;
}

/* The decimal form of v (as orjson writes an int). */
static int
add_int(Frames *f, long long v)
{
    char tmp[24];
    int i = (int)sizeof tmp;
    unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
    do {
        tmp[--i] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        tmp[--i] = '-';
    return add(f, tmp + i, (Py_ssize_t)sizeof tmp - i);
}

/* An exact int of 64 bits in *v: 1; 0 for anything else (slot unset, another type, more bits). */
static int
int64_of(PyObject *x, long long *v)
{
    if (x == NULL || !PyLong_CheckExact(x))
        return 0;
    int overflow = 0;
    *v = PyLong_AsLongLongAndOverflow(x, &overflow);
    return !overflow;  /* (an exact int raises nothing here) */
}

#define ADD(f, lit) add((f), (lit), (Py_ssize_t)sizeof(lit) - 1)

/* The usage frame's bytes after the head: 0; 1 for a usage this does not write; -1 with an exception. */
static int
add_usage(Frames *f, PyObject *usage)
{
    static Slots counts, more;
    static const char *const count_names[] = {"input_tokens", "output_tokens", "cached_input_tokens"};
    static const char *const more_names[] = {"reasoning_tokens"};
    int rc;
    if (usage == NULL)
        return 1;
    if ((rc = native_slots_of(&counts, Py_TYPE(usage), count_names, 3)) <= 0
            || (rc = native_slots_of(&more, Py_TYPE(usage), more_names, 1)) <= 0)
        return rc < 0 ? -1 : 1;
    long long in, out, total, cached, reasoning;
    if (!int64_of(SLOT_AT(usage, counts.off[0]), &in) || !int64_of(SLOT_AT(usage, counts.off[1]), &out)
            || !int64_of(SLOT_AT(usage, counts.off[2]), &cached) || !int64_of(SLOT_AT(usage, more.off[0]), &reasoning)
            || __builtin_add_overflow(in, out, &total))
        return 1;
    if (ADD(f, "],\"usage\":{\"prompt_tokens\":") < 0 || add_int(f, in) < 0
            || ADD(f, ",\"completion_tokens\":") < 0 || add_int(f, out) < 0
            || ADD(f, ",\"total_tokens\":") < 0 || add_int(f, total) < 0
            || ADD(f, ",\"prompt_tokens_details\":{\"cached_tokens\":") < 0 || add_int(f, cached) < 0
            || ADD(f, "},\"completion_tokens_details\":{\"reasoning_tokens\":") < 0 || add_int(f, reasoning) < 0
            || ADD(f, "}}}\n\n") < 0)
        return -1;
    return 0;
}

/* Whether slot value i is the int 0. */
static int
is_zero(PyObject *i)
{
    return i != NULL && PyLong_CheckExact(i) && Py_SIZE(i) == 0;
}

/* One event's frame added: 0; 1 for an event this does not take; -1 with an exception. */
static int
add_event(Frames *f, PyObject *ev, PyObject *const *args)
{
    static Slots text_slots, end_slots, usage_slots;
    static const char *const text_names[] = {"text", "index"};
    static const char *const end_names[] = {"finish_reason", "index"};
    static const char *const usage_names[] = {"usage"};
    PyObject *kinds = args[2], *head = args[7];
    PyTypeObject *type = Py_TYPE(ev);
    int rc;
    if (type == (PyTypeObject *)PyTuple_GET_ITEM(kinds, 0)) {  /* TextDelta */
        if ((rc = native_slots_of(&text_slots, type, text_names, 2)) <= 0)
            return rc < 0 ? -1 : 1;
        PyObject *s = SLOT_AT(ev, text_slots.off[0]);
        if (!is_zero(SLOT_AT(ev, text_slots.off[1])) || s == NULL || !PyUnicode_CheckExact(s))
            return 1;
        if (PyUnicode_GET_LENGTH(s) == 0)
            return 0;  /* an empty text has no frame */
        if (add_bytes(f, args[3]) < 0 || (rc = add_json_str(f, s)) < 0)
            return -1;
        return rc != 0 ? 1 : add_bytes(f, args[4]);
    }
    if (type == (PyTypeObject *)PyTuple_GET_ITEM(kinds, 1)) {  /* StreamEnd */
        if ((rc = native_slots_of(&end_slots, type, end_names, 2)) <= 0)
            return rc < 0 ? -1 : 1;
        PyObject *reason = SLOT_AT(ev, end_slots.off[0]);
        if (!is_zero(SLOT_AT(ev, end_slots.off[1])) || reason == NULL
                || (reason != Py_None && !PyUnicode_CheckExact(reason)))
            return 1;
        /* an exact str (or None): the lookup runs no Python code */
        PyObject *finish = PyDict_GetItemWithError(args[8], reason);  /* (borrowed) */
        if (finish == NULL)
            return PyErr_Occurred() ? -1 : 1;
        if (!PyBytes_CheckExact(finish))
            return 1;
        return add_bytes(f, args[5]) < 0 || add_bytes(f, finish) < 0 || add_bytes(f, args[6]) < 0 ? -1 : 0;
    }
    if (type == (PyTypeObject *)PyTuple_GET_ITEM(kinds, 2)) {  /* UsageEvent */
        if (head == Py_None)
            return 0;
        if ((rc = native_slots_of(&usage_slots, type, usage_names, 1)) <= 0)
            return rc < 0 ? -1 : 1;
        Py_ssize_t before = f->len;
        if (add_bytes(f, head) < 0)
            return -1;
        rc = add_usage(f, SLOT_AT(ev, usage_slots.off[0]));
        if (rc == 1)
            f->len = before;
        return rc;
    }
    return 1;
}

PyObject *
native_chunk_frames(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 9 || !PyList_CheckExact(args[0]) || !PyLong_CheckExact(args[1]) || !PyTuple_CheckExact(args[2])
            || PyTuple_GET_SIZE(args[2]) != 3 || !PyType_Check(PyTuple_GET_ITEM(args[2], 0))
            || !PyType_Check(PyTuple_GET_ITEM(args[2], 1)) || !PyType_Check(PyTuple_GET_ITEM(args[2], 2))
            || !PyBytes_CheckExact(args[3]) || !PyBytes_CheckExact(args[4])
            || !PyBytes_CheckExact(args[5]) || !PyBytes_CheckExact(args[6])
            || (args[7] != Py_None && !PyBytes_CheckExact(args[7])) || !PyDict_CheckExact(args[8])) {
        PyErr_SetString(PyExc_TypeError, "chunk_frames(burst: list, start: int, kinds: tuple of 3 types, text: bytes, "
                        "text_end: bytes, prefix: bytes, tail: bytes, head: bytes | None, finishes: dict)");
        return NULL;
    }
    PyObject *burst = args[0];
    Py_ssize_t start = PyLong_AsSsize_t(args[1]);
    if (start == -1 && PyErr_Occurred())
        return NULL;
    Frames f;
    f.buf = f.small;
    f.len = 0;
    f.cap = (Py_ssize_t)sizeof f.small;
    PyObject *out = NULL;
    int rc = 0;
    /* (nothing here runs Python code: slot reads of exact classes, lookups of exact str keys) */
    for (Py_ssize_t k = start < 0 ? 0 : start; k < PyList_GET_SIZE(burst) && rc == 0; k++)
        rc = add_event(&f, PyList_GET_ITEM(burst, k), args);
    if (rc == 0)
        out = PyBytes_FromStringAndSize(f.buf, f.len);
    else if (rc == 1)
        out = Py_NewRef(Py_None);
    if (f.buf != f.small)
        PyMem_Free(f.buf);
    return out;
}
