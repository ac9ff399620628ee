/* bastion._native.audit_body: an audit record's chain body (audit/record.py) written in one pass.
 *
 *   audit_body(record, writer_id, seq, version) -> (body bytes, body str, ts_us) | None
 *   audit_link(...): the same body hashed after the chain's head, as chain.py's append stores it (below)
 *
 * The bytes are those of `AuditRecord._mapping(writer_id, seq)` written by orjson: compact JSON, keys in
 * sorted order, latencies rounded as `round3` does, scores as `round(score, 4)`, the time as `iso_time`.
 * Only the shapes whose orjson output this file reproduces exactly are written here; for anything else
 * (a content or admin mapping, a value of another type, a float outside the plain-decimal range, an int
 * past 64 bits, a surrogate, a time before 1970 or after 9999) it returns None and the caller takes the
 * Python path, which writes (or refuses) such a record as before. An exception only for MemoryError. */
#include "_native.h"
#if defined(__unix__) || defined(__APPLE__)
#include <dlfcn.h>
#define HAVE_DLOPEN 1
#endif
#include <structmember.h>

enum { OK = 0, SLOW = 1, FAIL = -1 };

typedef struct {
    char *buf;
    Py_ssize_t len, cap;
    int ascii;
    long long ts_us;  /* the record's time, set by put_time */
    char small[2048];
} Out;

static int
grow(Out *o, Py_ssize_t need)
{
    if (o->len + need <= o->cap)
        return OK;
    if (need > PY_SSIZE_T_MAX / 2 - o->len) {
        PyErr_NoMemory();
        return FAIL;
    }
    Py_ssize_t cap = 2 * (o->len + need);
    char *buf = o->buf == o->small ? PyMem_Malloc(cap) : PyMem_Realloc(o->buf, cap);
    if (buf == NULL) {
        PyErr_NoMemory();
        return FAIL;
    }
    if (o->buf == o->small)
        memcpy(buf, o->small, o->len);
    o->buf = buf;
    o->cap = cap;
    return OK;
}

static int
put(Out *o, const char *s, Py_ssize_t n)
{
    if (grow(o, n) != OK)
        return FAIL;
    memcpy(o->buf + o->len, s, n);
    o->len += n;
    return OK;
}

#define PUTS(o, lit) put((o), (lit), (Py_ssize_t)sizeof(lit) - 1)

/* A string as orjson writes it: `"` and `\` escaped, \b \t \n \f \r short, other controls \u00xx, the
 * rest as UTF-8. A str that is no valid UTF-8 (a lone surrogate: orjson refuses it) is SLOW. */
static int
put_str(Out *o, PyObject *s)
{
    static const char hex[] = "0123456789abcdef";
    Py_ssize_t n;
    int refused;
    const unsigned char *p = utf8_of(s, &n, &refused);
    if (p == NULL)
        return refused ? SLOW : FAIL;
    if (!PyUnicode_IS_ASCII(s))
        o->ascii = 0;
    if (n > (PY_SSIZE_T_MAX - 2) / 6) {
        PyErr_NoMemory();
        return FAIL;
    }
    if (grow(o, 6 * n + 2) != OK)  /* the longest escape is 6 bytes */
        return FAIL;
    char *w = o->buf + o->len;
    *w++ = '"';
    Py_ssize_t i = 0;
    /* Eight bytes at a time while none needs an escape (no byte below 0x20, no `"`, no `\`: the exact
     * has-less and has-zero tests of "Bit Twiddling Hacks"), copied as they are; ~1k instructions a record
     * less than the byte loop below, which takes the rest from the first word that holds one. */
    for (; i + 8 <= n; i += 8) {
        uint64_t x;
        memcpy(&x, p + i, 8);
        const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
        uint64_t q = x ^ (ones * '"'), b = x ^ (ones * '\\');
        if (((x - ones * 0x20) | (q - ones) | (b - ones)) & ~(x & q & b) & highs)
            break;
        memcpy(w, &x, 8);
        w += 8;
    }
    for (; i < n; i++) {
        unsigned char c = p[i];
        if (c >= 0x20 && c != '"' && c != '\\') {
            *w++ = (char)c;
            continue;
        }
        *w++ = '\\';
        switch (c) {
        case '"': *w++ = '"'; break;
        case '\\': *w++ = '\\'; break;
        case '\b': *w++ = 'b'; break;
        case '\t': *w++ = 't'; break;
        case '\n': *w++ = 'n'; break;
        case '\f': *w++ = 'f'; break;
        case '\r': *w++ = 'r'; break;
        default:
            *w++ = 'u', *w++ = '0', *w++ = '0', *w++ = hex[c >> 4], *w++ = hex[c & 15];
        }
    }
    *w++ = '"';
    o->len = w - o->buf;
    return OK;
}

/* The decimal digits of u written to end before tmp[i] (20 at most); where they start. */
static int
digits_before(char *tmp, int i, unsigned long long u)
{
    do {
        tmp[--i] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    return i;
}

static int
put_i64(Out *o, long long v)
{
    char tmp[24];
    int i = digits_before(tmp, (int)sizeof(tmp), v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v);
    if (v < 0)
        tmp[--i] = '-';
    return put(o, tmp + i, (Py_ssize_t)sizeof(tmp) - i);
}

/* None, a bool, an int of 64 bits or a str: what orjson writes for them; anything else SLOW. */
static int
put_scalar(Out *o, PyObject *v)
{
    if (v == Py_None)
        return PUTS(o, "null");
    if (v == Py_True)
        return PUTS(o, "true");
    if (v == Py_False)
        return PUTS(o, "false");
    if (PyUnicode_CheckExact(v))
        return put_str(o, v);
    if (PyLong_CheckExact(v)) {
        int overflow;
        long long x = PyLong_AsLongLongAndOverflow(v, &overflow);
        if (overflow)  /* orjson writes up to 2**64 - 1; the Python path does that (or refuses) */
            return SLOW;
        if (x == -1 && PyErr_Occurred())
            return FAIL;
        return put_i64(o, x);
    }
    return SLOW;
}

/* round3(v) written as orjson writes a float. round3 is (v*1000 + 1.5*2**52 - 1.5*2**52) / 1000 below
 * |v*1000| < 1e15: the integer k = that numerator over 1000. A decimal of at most 15 significant digits is
 * the only one of its length that parses to its double (DBL_DIG), so the shortest round trip (Python's
 * repr and orjson) of k/1000 is k/1000's decimal: the integer part, a point, the thousandths without
 * trailing zeros but one digit. Values of 0.001 and up (or 0) never take an exponent. Larger values,
 * infinities and NaN go round(v, 3), the Python path: SLOW. */
static int
put_ms_d(Out *o, double v)
{
    double scaled = v * 1000.0;
    if (!(scaled > -1e15 && scaled < 1e15))
        return SLOW;
    double nearest = 6755399441055744.0;
    long long k = (long long)((scaled + nearest) - nearest);
    unsigned long long u = k < 0 ? 0ULL - (unsigned long long)k : (unsigned long long)k;
    char tmp[32];
    int i = (int)sizeof(tmp);
    unsigned frac = (unsigned)(u % 1000);
    if (frac == 0)
        tmp[--i] = '0';
    else {
        int digits[3] = {(int)(frac / 100), (int)(frac / 10 % 10), (int)(frac % 10)};
        int last = digits[2] ? 2 : digits[1] ? 1 : 0;
        for (int d = last; d >= 0; d--)
            tmp[--i] = (char)('0' + digits[d]);
    }
    tmp[--i] = '.';
    i = digits_before(tmp, i, u / 1000);
    if (k < 0)
        tmp[--i] = '-';
    return put(o, tmp + i, (Py_ssize_t)sizeof(tmp) - i);
}

static int
put_ms(Out *o, PyObject *v)
{
    return PyFloat_CheckExact(v) ? put_ms_d(o, PyFloat_AS_DOUBLE(v)) : SLOW;
}

/* round(score, 4) written as orjson writes a float: Python's round, then its repr, which is orjson's
 * text for a float without an exponent (from 1e-4 below 1e16); any other float SLOW. */
static int
put_score(Out *o, PyObject *v)
{
    static PyObject *four = NULL, *round_name = NULL;
    if (!PyFloat_CheckExact(v))
        return SLOW;
    if (four == NULL && (four = PyLong_FromLong(4)) == NULL)
        return FAIL;
    if (round_name == NULL && (round_name = PyUnicode_InternFromString("__round__")) == NULL)
        return FAIL;
    PyObject *r = PyObject_CallMethodOneArg(v, round_name, four);
    if (r == NULL)
        return FAIL;
    if (!PyFloat_CheckExact(r)) {
        Py_DECREF(r);
        return SLOW;
    }
    char *text = PyOS_double_to_string(PyFloat_AS_DOUBLE(r), 'r', 0, Py_DTSF_ADD_DOT_0, NULL);
    Py_DECREF(r);
    if (text == NULL)
        return FAIL;
    int rc = strpbrk(text, "eni") != NULL ? SLOW : put(o, text, (Py_ssize_t)strlen(text));
    PyMem_Free(text);
    return rc;
}

/* `"YYYY-MM-DDTHH:MM:SS.<frac>Z"` (with its quotes) for `secs` seconds since 1970 (0 to year 9999) and a
 * fraction of `width` digits, the proleptic Gregorian calendar of datetime. */
static int
put_stamp(Out *o, long long secs, int frac, int width)
{
    long long days = secs / 86400;
    int sod = (int)(secs % 86400);
    /* days since 1970-01-01 to year, month, day (H. Hinnant's civil_from_days) */
    long long z = days + 719468, era = z / 146097;
    long long doe = z - era * 146097;
    long long yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    long long doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    long long mp = (5 * doy + 2) / 153;
    int day = (int)(doy - (153 * mp + 2) / 5 + 1), month = (int)(mp < 10 ? mp + 3 : mp - 9);
    int year = (int)(yoe + era * 400 + (month <= 2));
    char t[32];  /* "YYYY-MM-DDTHH:MM:SS.ffffffZ": 30 */
    int fields[7][2] = {{year, 4}, {month, 2}, {day, 2}, {sod / 3600, 2}, {sod / 60 % 60, 2}, {sod % 60, 2},
                        {frac, width}};
    const char seps[] = "\"--T::.";
    int at = 0;
    for (int f = 0; f < 7; f++) {
        t[at++] = seps[f];
        int val = fields[f][0], w = fields[f][1];
        for (int d = w - 1; d >= 0; d--, val /= 10)
            t[at + d] = (char)('0' + val % 10);
        at += w;
    }
    t[at++] = 'Z';
    t[at++] = '"';
    return put(o, t, at);
}

/* iso_time(to_us(t)): `round(t * 1e6)` (half to even, as float.__round__ computes it) and that
 * microsecond as YYYY-MM-DDTHH:MM:SS.ffffffZ, the proleptic Gregorian calendar of datetime; from 1970
 * through 9999 (four-digit years), else SLOW. */
static int
put_time(Out *o, PyObject *v)
{
    if (!PyFloat_CheckExact(v))
        return SLOW;
    double x = PyFloat_AS_DOUBLE(v) * 1e6;
    double r = round(x);
    if (fabs(x - r) == 0.5)
        r = 2.0 * round(x / 2.0);
    if (!(r >= 0.0 && r < 253402300800e6))
        return SLOW;
    long long us = (long long)r;
    o->ts_us = us;
    return put_stamp(o, us / 1000000, (int)(us % 1000000), 6);
}

/* the record's attributes, in the order the body writes them */
enum { A_ATTEMPTS, A_AUTHENTICATED, A_CAPTURE, A_CLIENT_ADDR, A_CLIENT_DISCONNECTED, A_CONTENT, A_COST,
       A_ERROR_CODE, A_FINDINGS, A_FINISH_REASON, A_INGRESS, A_KEY_ID, A_LATENCY, A_MODEL, A_OPERATION,
       A_POLICY, A_REQUEST_ID, A_STATUS, A_STREAM, A_TEAM, A_TIME, A_TTFT, A_UPSTREAM, A_USAGE, A_ADMIN, N_ATTR,
       I_SEQ = N_ATTR, I_VERSION, I_WRITER, N_ITEMS };  /* then the arguments written */
static const char *attr_names[N_ATTR] = {
    "attempts", "authenticated", "capture", "client_addr", "client_disconnected", "content", "cost_micros",
    "error_code", "findings", "finish_reason", "ingress", "key_id", "latency_ms", "model", "operation", "policy",
    "request_id", "status", "stream", "team", "time", "ttft_ms", "upstream_ms", "usage", "admin"};
static PyObject *attr_strs[N_ATTR];

/* Where a slotted class keeps each of some attributes: read there, the record's 25 attributes cost ~0.3k
 * instructions instead of ~4.4k through PyObject_GetAttr. Kept for one type (a strong reference: its address
 * cannot be reused) at one version tag (any change to the class clears it). */
typedef struct {
    PyTypeObject *type;  /* a strong reference: its address cannot be reused */
    unsigned int version;
    int n;
    const char *const *names;
    PyObject **strs;
    Py_ssize_t *offsets;
} SlotCache;

/* 1 when every name is a plain object slot of `tp` (the cache then holds tp's offsets), 0 if not, -1 error */
static int
slot_cache(SlotCache *c, PyTypeObject *tp)
{
    if (tp == c->type && tp->tp_version_tag == c->version && c->version != 0)
        return 1;
    if (c->strs[c->n - 1] == NULL)
        for (int i = 0; i < c->n; i++)
            if (c->strs[i] == NULL && (c->strs[i] = PyUnicode_InternFromString(c->names[i])) == NULL)
                return -1;
    Py_CLEAR(c->type);
    for (int i = 0; i < c->n; i++) {
        PyObject *d = PyObject_GetAttr((PyObject *)tp, c->strs[i]);
        if (d == NULL) {
            if (!PyErr_ExceptionMatches(PyExc_AttributeError))
                return -1;
            PyErr_Clear();
            return 0;
        }
        int plain = Py_IS_TYPE(d, &PyMemberDescr_Type) && ((PyMemberDescrObject *)d)->d_member->type == T_OBJECT_EX
                    && PyType_IsSubtype(tp, PyDescr_TYPE(d));
        if (plain)
            c->offsets[i] = ((PyMemberDescrObject *)d)->d_member->offset;
        Py_DECREF(d);
        if (!plain)
            return 0;
    }
    if (tp->tp_version_tag == 0)  /* no tag to tell a changed class by: not cached */
        return 0;
    c->version = tp->tp_version_tag;
    c->type = (PyTypeObject *)Py_NewRef(tp);
    return 1;
}

static Py_ssize_t slot_offsets[N_ATTR];
static SlotCache record_cache = {NULL, 0, N_ATTR, attr_names, attr_strs, slot_offsets};  /* AuditRecord's */

#define TRY(call) do { int rc_ = (call); if (rc_ != OK) return rc_; } while (0)

typedef int (*Put)(Out *, PyObject *);

/* One member of an object: its key with what precedes it (`{"key":` or `,"key":`), the index of its
 * value among the items given, and how the value is written. */
typedef struct {
    const char *key;
    Py_ssize_t len;
    int at;
    Put put;
} Member;
#define MEMBER(key, at, put) {key, (Py_ssize_t)sizeof(key) - 1, at, put}
#define COUNT(a) ((int)(sizeof(a) / sizeof((a)[0])))

static int
put_members(Out *o, PyObject *const *items, const Member *m, int n)
{
    for (int i = 0; i < n; i++) {
        TRY(put(o, m[i].key, m[i].len));
        TRY(m[i].put(o, items[m[i].at]));
    }
    return PUTS(o, "}");
}

static const Member attempt_members[] = {  /* of (provider, model, outcome, status, latency_ms) */
    MEMBER("{\"latency_ms\":", 4, put_ms), MEMBER(",\"model\":", 1, put_scalar),
    MEMBER(",\"outcome\":", 2, put_scalar), MEMBER(",\"provider\":", 0, put_scalar),
    MEMBER(",\"status\":", 3, put_scalar)};
static const Member finding_members[] = {  /* of (scanner, type, action, score, direction) */
    MEMBER("{\"action\":", 2, put_scalar), MEMBER(",\"direction\":", 4, put_scalar),
    MEMBER(",\"scanner\":", 0, put_scalar), MEMBER(",\"score\":", 3, put_score), MEMBER(",\"type\":", 1, put_scalar)};
static const Member usage_members[] = {  /* of (input, output, cached input, cache write, reasoning) tokens */
    MEMBER("{\"cache_write_tokens\":", 3, put_scalar), MEMBER(",\"cached_input_tokens\":", 2, put_scalar),
    MEMBER(",\"input_tokens\":", 0, put_scalar), MEMBER(",\"output_tokens\":", 1, put_scalar),
    MEMBER(",\"reasoning_tokens\":", 4, put_scalar)};

/* A tuple of 5-tuples, each an object of `members`; anything else (a list, a row of another length) SLOW. */
static int
put_rows(Out *o, PyObject *rows, const Member *members)
{
    if (!PyTuple_CheckExact(rows))
        return SLOW;
    TRY(PUTS(o, "["));
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(rows); i++) {
        PyObject *row = PyTuple_GET_ITEM(rows, i);
        if (!PyTuple_CheckExact(row) || PyTuple_GET_SIZE(row) != 5)
            return SLOW;
        if (i > 0)
            TRY(PUTS(o, ","));
        TRY(put_members(o, &PyTuple_GET_ITEM(row, 0), members, 5));
    }
    return PUTS(o, "]");
}

static int
put_attempts(Out *o, PyObject *v)
{
    return put_rows(o, v, attempt_members);
}

/* `[...] if findings else []`: an empty tuple, or any other falsy value, is [] */
static int
put_findings(Out *o, PyObject *v)
{
    int any = PyObject_IsTrue(v);
    if (any < 0)
        return FAIL;
    return any ? put_rows(o, v, finding_members) : PUTS(o, "[]");
}

static int
put_usage(Out *o, PyObject *v)
{
    if (v == Py_None)
        return PUTS(o, "null");
    if (!PyTuple_CheckExact(v) || PyTuple_GET_SIZE(v) != 5)
        return SLOW;
    return put_members(o, &PyTuple_GET_ITEM(v, 0), usage_members, 5);
}

static int
put_opt_ms(Out *o, PyObject *v)
{
    return v == Py_None ? PUTS(o, "null") : put_ms(o, v);
}

/* content: a mapping with keys not ours (orjson sorts them), written by the Python path */
static int
put_null(Out *o, PyObject *v)
{
    return v == Py_None ? PUTS(o, "null") : SLOW;
}

/* the body's members, sorted; admin (absent when None) is the Python path's */
static const Member body_members[] = {
    MEMBER("{\"attempts\":", A_ATTEMPTS, put_attempts), MEMBER(",\"authenticated\":", A_AUTHENTICATED, put_scalar),
    MEMBER(",\"capture\":", A_CAPTURE, put_scalar), MEMBER(",\"client_addr\":", A_CLIENT_ADDR, put_scalar),
    MEMBER(",\"client_disconnected\":", A_CLIENT_DISCONNECTED, put_scalar),
    MEMBER(",\"content\":", A_CONTENT, put_null), MEMBER(",\"cost_micros\":", A_COST, put_scalar),
    MEMBER(",\"error_code\":", A_ERROR_CODE, put_scalar), MEMBER(",\"findings\":", A_FINDINGS, put_findings),
    MEMBER(",\"finish_reason\":", A_FINISH_REASON, put_scalar), MEMBER(",\"ingress\":", A_INGRESS, put_scalar),
    MEMBER(",\"key_id\":", A_KEY_ID, put_scalar), MEMBER(",\"latency_ms\":", A_LATENCY, put_ms),
    MEMBER(",\"model\":", A_MODEL, put_scalar), MEMBER(",\"operation\":", A_OPERATION, put_scalar),
    MEMBER(",\"policy\":", A_POLICY, put_scalar), MEMBER(",\"request_id\":", A_REQUEST_ID, put_scalar),
    MEMBER(",\"seq\":", I_SEQ, put_scalar), MEMBER(",\"status\":", A_STATUS, put_scalar),
    MEMBER(",\"stream\":", A_STREAM, put_scalar), MEMBER(",\"team\":", A_TEAM, put_scalar),
    MEMBER(",\"time\":", A_TIME, put_time), MEMBER(",\"ttft_ms\":", A_TTFT, put_opt_ms),
    MEMBER(",\"upstream_ms\":", A_UPSTREAM, put_ms), MEMBER(",\"usage\":", A_USAGE, put_usage),
    MEMBER(",\"v\":", I_VERSION, put_scalar), MEMBER(",\"writer_id\":", I_WRITER, put_scalar)};

/* The body of `record` for (writer_id, seq, version) written into `o` after what it holds: OK, SLOW (the Python
 * path's record) or FAIL. `items` receives the record's attributes as new references, `*n` of them (the caller
 * releases them), then the three arguments (borrowed). */
static int
write_body(Out *o, PyObject *record, PyObject *writer_id, PyObject *seq, PyObject *version, PyObject **items,
           int *n)
{
    int cached = slot_cache(&record_cache, Py_TYPE(record));  /* interns attr_strs in any case */
    if (cached < 0)
        return FAIL;
    if (cached) {
        for (; *n < N_ATTR; (*n)++) {
            PyObject *v = *(PyObject **)((char *)record + slot_offsets[*n]);
            if (v == NULL)  /* unset: the Python path raises its AttributeError */
                break;
            items[*n] = Py_NewRef(v);
        }
    } else
        for (; *n < N_ATTR; (*n)++)
            if ((items[*n] = PyObject_GetAttr(record, attr_strs[*n])) == NULL)
                break;
    if (*n < N_ATTR)
        return PyErr_Occurred() ? FAIL : SLOW;
    if (items[A_ADMIN] != Py_None)
        return SLOW;
    items[I_SEQ] = seq, items[I_VERSION] = version, items[I_WRITER] = writer_id;
    return put_members(o, items, body_members, COUNT(body_members));
}

/* The text of the body written at o->buf + from (o->ascii tells whether it is ASCII). */
static PyObject *
body_text(Out *o, Py_ssize_t from)
{
    if (!o->ascii)
        return PyUnicode_DecodeUTF8(o->buf + from, o->len - from, "strict");
    PyObject *text = PyUnicode_New(o->len - from, 127);
    if (text != NULL)
        memcpy(PyUnicode_1BYTE_DATA(text), o->buf + from, o->len - from);
    return text;
}

/* Frees what write_body left: the buffer when it grew, the n attributes it read. */
static void
out_release(Out *o, PyObject **items, int n)
{
    if (o->buf != o->small)
        PyMem_Free(o->buf);
    for (int i = 0; i < n; i++)
        Py_DECREF(items[i]);
}

#define OUT_INIT(o) ((o).buf = (o).small, (o).len = 0, (o).cap = (Py_ssize_t)sizeof((o).small), (o).ascii = 1, \
                     (o).ts_us = 0)

PyObject *
native_audit_body(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 4) {
        PyErr_SetString(PyExc_TypeError, "audit_body(record, writer_id, seq, version) takes 4 arguments");
        return NULL;
    }
    if (!PyUnicode_CheckExact(args[1]) || !PyLong_CheckExact(args[2]) || !PyLong_CheckExact(args[3])) {
        PyErr_SetString(PyExc_TypeError, "audit_body: writer_id must be a str, seq and version ints");
        return NULL;
    }
    PyObject *items[N_ITEMS];
    int n = 0;
    Out o;
    OUT_INIT(o);
    int rc = write_body(&o, args[0], args[1], args[2], args[3], items, &n);
    PyObject *result = NULL;
    if (rc == SLOW)
        result = Py_NewRef(Py_None);
    else if (rc == OK) {
        PyObject *raw = PyBytes_FromStringAndSize(o.buf, o.len);
        PyObject *text = raw != NULL ? body_text(&o, 0) : NULL;
        PyObject *ts = text != NULL ? PyLong_FromLongLong(o.ts_us) : NULL;
        if (ts != NULL)
            result = PyTuple_Pack(3, raw, text, ts);
        Py_XDECREF(raw);
        Py_XDECREF(text);
        Py_XDECREF(ts);
    }
    out_release(&o, items, n);
    return result;
}

/* Whether the collector can skip `v` for good: an int, float, str, bool or None, or a tuple it no longer tracks
 * (one made here of such values and untracked, as the collector itself untracks such tuples at its first pass). */
static int
atomic(PyObject *v)
{
    return v == Py_None || PyUnicode_CheckExact(v) || PyLong_CheckExact(v) || PyFloat_CheckExact(v) || PyBool_Check(v)
           || (PyTuple_CheckExact(v) && !PyObject_GC_IsTracked(v));
}

/* Untrack a tuple made here whose items are all atomic: it can be in no reference cycle, so the cyclic collector
 * need not visit it (CPython does the same at a tuple's first collection). */
static void
untrack_plain(PyObject *t)
{
    if (!PyTuple_CheckExact(t) || !PyObject_GC_IsTracked(t))
        return;
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(t); i++) {
        PyObject *v = PyTuple_GET_ITEM(t, i);
        if (PyTuple_CheckExact(v))
            untrack_plain(v);
        if (!atomic(v))
            return;
    }
    PyObject_GC_UnTrack(t);
}

/* ---- SHA-256 without hashlib's objects ----
 *
 * OpenSSL's own SHA256_Init/Update/Final (its assembly block function, as hashlib's EVP object runs it) looked
 * up in the libcrypto this process has loaded already (hashlib's): no EVP context made, initialised, copied
 * for hexdigest and freed, no bytes object of the input, ~3.3k instructions a record less (callgrind). Used
 * only after a self-test (the FIPS 180-2 digests of "abc" and of a two-block message); when no such library is
 * loaded (another platform, another build) audit_link calls the hashlib constructor it is given instead. */
typedef int (*ShaInit)(void *);
typedef int (*ShaUpdate)(void *, const void *, size_t);
typedef int (*ShaFinal)(unsigned char *, void *);
static ShaInit sha_init;
static ShaUpdate sha_update;
static ShaFinal sha_final;
static int sha_state;  /* 0 not looked up yet, 1 found and tested, -1 not available */
typedef union { unsigned char bytes[256]; uint64_t align; } ShaCtx;  /* SHA256_CTX is 112 bytes */

/* the lowercase hex SHA-256 of n bytes at p into hex[64]; 0, or -1 when the library reports a failure */
static int
sha_hex(const void *p, size_t n, char *hex)
{
    static const char digits[] = "0123456789abcdef";
    ShaCtx ctx;
    unsigned char md[32];
    if (sha_init(&ctx) != 1 || sha_update(&ctx, p, n) != 1 || sha_final(md, &ctx) != 1)
        return -1;
    for (int i = 0; i < 32; i++)
        hex[2 * i] = digits[md[i] >> 4], hex[2 * i + 1] = digits[md[i] & 15];
    return 0;
}

static int
sha_ready(void)
{
    if (sha_state != 0)
        return sha_state > 0;
    sha_state = -1;
#ifdef HAVE_DLOPEN
    static const char *const libs[] = {"libcrypto.so.3", "libcrypto.so.1.1", "libcrypto.so"};
    for (size_t i = 0; i < sizeof(libs) / sizeof(libs[0]) && sha_init == NULL; i++) {
        void *lib = dlopen(libs[i], RTLD_NOW | RTLD_NOLOAD);  /* only one already loaded: never a new library */
        if (lib == NULL)
            continue;
        ShaInit init = (ShaInit)dlsym(lib, "SHA256_Init");
        ShaUpdate update = (ShaUpdate)dlsym(lib, "SHA256_Update");
        ShaFinal final = (ShaFinal)dlsym(lib, "SHA256_Final");
        if (init != NULL && update != NULL && final != NULL)
            sha_init = init, sha_update = update, sha_final = final;
        /* the handle is kept open: the library stays loaded while its functions are used */
    }
#endif
    if (sha_init == NULL)
        return 0;
    static const char two[] = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    char got[64];
    if (sha_hex("abc", 3, got) != 0
        || memcmp(got, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", 64) != 0
        || sha_hex(two, sizeof(two) - 1, got) != 0
        || memcmp(got, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1", 64) != 0) {
        sha_init = NULL;
        return 0;
    }
    sha_state = 1;
    return 1;
}

/* audit_sha256_hex(data: bytes) -> str | None: the SHA-256 audit_link computes itself, None when it has none */
PyObject *
native_audit_sha256_hex(PyObject *self, PyObject *data)
{
    if (!PyBytes_Check(data)) {
        PyErr_SetString(PyExc_TypeError, "audit_sha256_hex: data must be bytes");
        return NULL;
    }
    if (!sha_ready())
        Py_RETURN_NONE;
    PyObject *hex = PyUnicode_New(64, 127);
    if (hex == NULL)
        return NULL;
    if (sha_hex(PyBytes_AS_STRING(data), (size_t)PyBytes_GET_SIZE(data), (char *)PyUnicode_1BYTE_DATA(hex)) != 0) {
        Py_DECREF(hex);
        PyErr_SetString(PyExc_ValueError, "audit_sha256_hex: SHA-256 failed");
        return NULL;
    }
    return hex;
}

/* ---- audit_link: Chain.append's stored record in one call ----
 *
 *   audit_link(stored_type, record, writer_id, seq, version, head, sha256) -> stored_type instance | None
 *
 * What chain.py's append makes of a record audit_body writes: the body written after the ASCII `head` in one
 * buffer, `sha256(head + body).hexdigest()` (sha256 is hashlib's, called here), and the stored record
 * `tuple.__new__(stored_type, (writer_id, seq, ts_us, record.request_id, head, hash, body text))`. None where
 * audit_body returns None, and for a head that is not an ASCII str (the Python path raises for it). The hash is
 * computed here (sha_hex above, no Python object) when `sha256` is None and the library was found: audit_link
 * with None returns None when it was not (chain.py asks audit_sha256_hex first and passes hashlib's then). */
/* The row of one record (the checks of the arguments made): a new reference, None (the Python path's record, or
 * no SHA-256 of its own when sha256 is None) or NULL with an error set. */
static PyObject *
link_one(PyTypeObject *st, PyObject *record, PyObject *writer_id, PyObject *seq, PyObject *version, PyObject *head,
         PyObject *sha256)
{
    if (!PyUnicode_CheckExact(head) || !PyUnicode_IS_ASCII(head))
        Py_RETURN_NONE;
    static PyObject *hexdigest = NULL;
    if (hexdigest == NULL && (hexdigest = PyUnicode_InternFromString("hexdigest")) == NULL)
        return NULL;
    PyObject *items[N_ITEMS];
    int n = 0;
    Out o;
    OUT_INIT(o);
    Py_ssize_t head_len = PyUnicode_GET_LENGTH(head);
    int rc = put(&o, (const char *)PyUnicode_1BYTE_DATA(head), head_len);
    if (rc == OK)
        rc = write_body(&o, record, writer_id, seq, version, items, &n);
    PyObject *result = NULL;
    if (rc == SLOW)
        result = Py_NewRef(Py_None);
    else if (rc == OK && sha256 == Py_None && !sha_ready())
        result = Py_NewRef(Py_None);
    else if (rc == OK) {
        PyObject *raw = NULL, *digest = NULL, *hash = NULL;
        if (sha256 == Py_None) {  /* sha_ready() */
            if ((hash = PyUnicode_New(64, 127)) != NULL
                && sha_hex(o.buf, (size_t)o.len, (char *)PyUnicode_1BYTE_DATA(hash)) != 0) {
                Py_CLEAR(hash);
                PyErr_SetString(PyExc_ValueError, "audit_link: SHA-256 failed");
            }
        } else {
            raw = PyBytes_FromStringAndSize(o.buf, o.len);
            digest = raw != NULL ? PyObject_CallOneArg(sha256, raw) : NULL;
            hash = digest != NULL ? PyObject_CallMethodNoArgs(digest, hexdigest) : NULL;
        }
        PyObject *text = hash != NULL ? body_text(&o, head_len) : NULL;
        PyObject *ts = text != NULL ? PyLong_FromLongLong(o.ts_us) : NULL;
        if (ts != NULL) {
            result = st->tp_alloc(st, 7);
            if (result != NULL) {
                PyObject *const fields[7] = {writer_id, seq, ts, items[A_REQUEST_ID], head, hash, text};
                int plain = st->tp_dictoffset == 0 && st->tp_weaklistoffset == 0;
                for (int i = 0; i < 7; i++) {
                    PyTuple_SET_ITEM(result, i, Py_NewRef(fields[i]));
                    plain = plain && atomic(fields[i]);
                }
                if (plain)  /* as the record's (audit_record): a row of strs and ints is in no cycle */
                    PyObject_GC_UnTrack(result);
            }
        }
        Py_XDECREF(raw);
        Py_XDECREF(digest);
        Py_XDECREF(hash);
        Py_XDECREF(text);
        Py_XDECREF(ts);
    }
    out_release(&o, items, n);
    return result;
}

static int
link_args_ok(PyObject *stored_type, PyObject *writer_id, PyObject *seq, PyObject *version, const char *name)
{
    if (!PyType_Check(stored_type) || !PyType_IsSubtype((PyTypeObject *)stored_type, &PyTuple_Type)
        || !PyUnicode_CheckExact(writer_id) || !PyLong_CheckExact(seq) || !PyLong_CheckExact(version)) {
        PyErr_Format(PyExc_TypeError, "%s: stored_type must be a tuple type, writer_id a str, seq and version ints",
                     name);
        return 0;
    }
    return 1;
}

PyObject *
native_audit_link(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 7) {
        PyErr_SetString(PyExc_TypeError,
                        "audit_link(stored_type, record, writer_id, seq, version, head, sha256) takes 7 arguments");
        return NULL;
    }
    if (!link_args_ok(args[0], args[2], args[3], args[4], "audit_link"))
        return NULL;
    return link_one((PyTypeObject *)args[0], args[1], args[2], args[3], args[4], args[5], args[6]);
}

/* ---- audit_link_run: the writer's records chained in one call ----
 *
 *   audit_link_run(stored_type, items, start, stop, writer_id, seq, version, head, sha256) -> list
 *
 * Chain.append of items[k][0] for k from start, each record's row made as audit_link makes it with seq + 1,
 * seq + 2, ... and each next row hashed after the row before's hash: the rows, up to (not including) the
 * first item it does not chain: one audit_link hands back (None), one that raises an Exception (cleared: the
 * caller chains that record again through Chain.append, which raises it again or takes the Python path; any
 * other, such as KeyboardInterrupt, is raised here and no row is returned), an
 * item that is no tuple, or the end (stop or the list's end). The writer's loop over a batch, ~1.5k instructions
 * a record of Python frames less (callgrind). */
PyObject *
native_audit_link_run(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 9) {
        PyErr_SetString(PyExc_TypeError, "audit_link_run(stored_type, items, start, stop, writer_id, seq, version, "
                                         "head, sha256) takes 9 arguments");
        return NULL;
    }
    PyObject *items = args[1], *writer_id = args[4], *version = args[6];
    if (!link_args_ok(args[0], writer_id, args[5], version, "audit_link_run"))
        return NULL;
    if (!PyList_CheckExact(items) || !PyLong_CheckExact(args[2]) || !PyLong_CheckExact(args[3])) {
        PyErr_SetString(PyExc_TypeError, "audit_link_run: items must be a list, start and stop ints");
        return NULL;
    }
    Py_ssize_t start = PyLong_AsSsize_t(args[2]), stop = PyLong_AsSsize_t(args[3]);
    if ((start == -1 || stop == -1) && PyErr_Occurred())
        return NULL;
    PyObject *rows = PyList_New(0);
    if (rows == NULL)
        return NULL;
    int overflow;
    long long seq = PyLong_AsLongLongAndOverflow(args[5], &overflow);
    if (overflow || seq < 0 || seq > LLONG_MAX - 1 - PyList_GET_SIZE(items))  /* the Python path numbers it */
        return rows;
    PyObject *head = Py_NewRef(args[7]);
    for (Py_ssize_t k = start < 0 ? 0 : start; k < stop && k < PyList_GET_SIZE(items); k++) {
        PyObject *item = PyList_GET_ITEM(items, k);
        if (!PyTuple_CheckExact(item) || PyTuple_GET_SIZE(item) < 1)
            break;
        Py_INCREF(item);  /* held: writing a record may run Python code (a float subclass's __round__) */
        PyObject *at = PyLong_FromLongLong(seq + 1 + PyList_GET_SIZE(rows));
        PyObject *row = at != NULL ? link_one((PyTypeObject *)args[0], PyTuple_GET_ITEM(item, 0), writer_id, at,
                                              version, head, args[8]) : NULL;
        Py_DECREF(item);
        Py_XDECREF(at);
        if (row == NULL) {
            if (!PyErr_ExceptionMatches(PyExc_Exception)) {  /* KeyboardInterrupt and the like: raised, the */
                Py_DECREF(head);                             /* chain not advanced (Chain.link_run) */
                Py_DECREF(rows);
                return NULL;
            }
            PyErr_Clear();
            break;
        }
        if (row == Py_None || PyList_Append(rows, row) < 0) {
            Py_DECREF(row);
            if (PyErr_Occurred()) {
                Py_DECREF(head);
                Py_DECREF(rows);
                return NULL;
            }
            break;
        }
        Py_SETREF(head, Py_NewRef(PyTuple_GET_ITEM(row, 5)));
        Py_DECREF(row);
    }
    Py_DECREF(head);
    return rows;
}

/* ---- audit_record: build_record's AuditRecord from a finished RequestContext, in one call ----
 *
 *   audit_record(record_type, ctx, now, scrub, clean) -> AuditRecord | None
 *
 * The record `build_record(ctx)` makes without captured content (audit/record.py): the same field values,
 * the objects of the context copied, the tuples and the latencies made as the Python code makes them
 * (`now` is time.perf_counter(), read by the caller). A client text (request id, address, model alias) is
 * kept as it is when it is the gateway's own request id or in `clean` (the scrubber's set of texts known
 * clean: scrub_secrets returns those unchanged), else passed through `scrub`. None (the caller takes the
 * Python path, which builds or raises as before) for anything else: a class other than the ones cached, a
 * field unset, a text longer than 128 characters, a presented key id without a principal, a latency that
 * is not a float, a container that is not a list. */

#define SLOT(obj, cache, i) (*(PyObject **)((char *)(obj) + (cache).offsets[i]))

enum { C_WALL_TIME, C_REQUEST_ID, C_PRINCIPAL, C_PRESENTED_KEY_ID, C_CLIENT_ADDR, C_INGRESS, C_OPERATION, C_MODEL,
       C_ATTEMPTS, C_STATUS, C_ERROR_CODE, C_STARTED, C_FIRST_TOKEN_AT, C_UPSTREAM_MS, C_USAGE, C_COST_MICROS,
       C_STREAM, C_FINISH_REASON, C_CLIENT_DISCONNECTED, C_POLICY_NAME, C_FINDINGS, N_CTX };
/* the names, interned names and offsets of one class's attributes read here, and their SlotCache `name##_cache` */
#define SLOT_CACHE(name, n, ...)                                  \
    static const char *const name##_names[n] = {__VA_ARGS__};     \
    static PyObject *name##_strs[n];                              \
    static Py_ssize_t name##_offsets[n];                          \
    static SlotCache name##_cache = {NULL, 0, n, name##_names, name##_strs, name##_offsets};

SLOT_CACHE(ctx, N_CTX,  /* RequestContext */
    "wall_time", "request_id", "principal", "presented_key_id", "client_addr", "ingress", "operation", "model",
    "attempts", "status", "error_code", "started", "first_token_at", "upstream_ms", "usage", "cost_micros",
    "stream", "finish_reason", "client_disconnected", "policy_name", "findings")
SLOT_CACHE(principal, 2, "key_id", "team")
SLOT_CACHE(attempt, 5, "provider", "model", "outcome", "status", "latency_ms")
SLOT_CACHE(usage, 5, "input_tokens", "output_tokens", "cached_input_tokens", "cache_write_tokens",
           "reasoning_tokens")
SLOT_CACHE(finding, 5, "scanner", "type", "action", "score", "direction")

/* obj's cached slot i (borrowed), or NULL with *slow set (another class, the slot unset) or an error set */
static PyObject *
slot_of(PyObject *obj, SlotCache *c, int i, int *slow)
{
    int rc = slot_cache(c, Py_TYPE(obj));
    if (rc <= 0) {
        *slow = rc == 0;
        return NULL;
    }
    PyObject *v = SLOT(obj, *c, i);
    if (v == NULL)
        *slow = 1;
    return v;
}

/* the context's slots read here into c (borrowed): 1; 0 for another class or a slot unset (the Python path
 * raises its AttributeError), -1 for an error */
static int
ctx_slots(PyObject *ctx, PyObject **c)
{
    int rc = slot_cache(&ctx_cache, Py_TYPE(ctx));
    if (rc <= 0)
        return rc;
    for (int i = 0; i < N_CTX; i++)
        if ((c[i] = SLOT(ctx, ctx_cache, i)) == NULL)
            return 0;
    return 1;
}

/* a principal's key id and team (borrowed): 0, or -1 with *slow set or an error set */
static int
principal_ids(PyObject *p, PyObject **key_id, PyObject **team, int *slow)
{
    return (*key_id = slot_of(p, &principal_cache, 0, slow)) != NULL
           && (*team = slot_of(p, &principal_cache, 1, slow)) != NULL ? 0 : -1;
}

/* a tuple of obj's five cached slots; NULL with *slow set when a slot is unset or obj is of another class */
static PyObject *
five(PyObject *obj, SlotCache *c, int *slow)
{
    int rc = slot_cache(c, Py_TYPE(obj));
    if (rc <= 0) {
        *slow = rc == 0;
        return NULL;
    }
    PyObject *t = PyTuple_New(5);
    if (t == NULL)
        return NULL;
    for (int i = 0; i < 5; i++) {
        PyObject *v = SLOT(obj, *c, i);
        if (v == NULL) {
            Py_DECREF(t);
            *slow = 1;
            return NULL;
        }
        PyTuple_SET_ITEM(t, i, Py_NewRef(v));
    }
    return t;
}

/* tuple(five(item) for item in list); an empty list gives the empty tuple, as tuple([]) does */
static PyObject *
five_each(PyObject *list, SlotCache *c, int *slow)
{
    if (!PyList_CheckExact(list)) {
        *slow = 1;
        return NULL;
    }
    Py_ssize_t n = PyList_GET_SIZE(list);
    PyObject *t = PyTuple_New(n);
    if (t == NULL)
        return NULL;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *row = five(PyList_GET_ITEM(list, i), c, slow);
        if (row == NULL) {
            Py_DECREF(t);
            return NULL;
        }
        PyTuple_SET_ITEM(t, i, row);
    }
    return t;
}

/* "req_" and 1 to 64 of [0-9a-f]: scrub.py's _OWN_REQUEST_ID */
static int
own_request_id(PyObject *s)
{
    Py_ssize_t n = PyUnicode_GET_LENGTH(s);
    if (!PyUnicode_IS_ASCII(s) || n < 5 || n > 68)
        return 0;
    const unsigned char *p = PyUnicode_1BYTE_DATA(s);
    if (memcmp(p, "req_", 4) != 0)
        return 0;
    for (Py_ssize_t i = 4; i < n; i++)
        if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f')))
            return 0;
    return 1;
}

/* scrub(text) for a str: the text itself where scrub.py's scrub and scrub_secrets return it without their passes
 * (the gateway's own request id, looked for when `own_id`; or a text in `clean`), else the call */
static PyObject *
scrub_known(PyObject *text, PyObject *scrub, PyObject *clean, int own_id)
{
    if (own_id && own_request_id(text))
        return Py_NewRef(text);
    int known = PySet_Contains(clean, text);
    if (known < 0)
        return NULL;
    if (known)
        return Py_NewRef(text);
    return PyObject_CallOneArg(scrub, text);
}

/* scrub_secrets(text[:128]) for a str of 128 characters at most (else *slow); None stays None */
static PyObject *
client_text(PyObject *text, PyObject *scrub, PyObject *clean, int request_id, int *slow)
{
    if (text == Py_None) {  /* a request id of None: the Python path raises its TypeError */
        if (!request_id)
            return Py_NewRef(Py_None);
        *slow = 1;
        return NULL;
    }
    if (!PyUnicode_CheckExact(text) || PyUnicode_GET_LENGTH(text) > 128) {
        *slow = 1;
        return NULL;
    }
    return scrub_known(text, scrub, clean, request_id);
}

/* (a - b) * 1000.0 for two floats (elapsed_ms and the ttft): else *slow */
static PyObject *
ms_since(PyObject *a, PyObject *b, int *slow)
{
    if (!PyFloat_CheckExact(a) || !PyFloat_CheckExact(b)) {
        *slow = 1;
        return NULL;
    }
    return PyFloat_FromDouble((PyFloat_AS_DOUBLE(a) - PyFloat_AS_DOUBLE(b)) * 1000.0);
}

PyObject *
native_audit_record(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 5 || !PyType_Check(args[0]) || !PyFloat_CheckExact(args[2]) || !PyAnySet_CheckExact(args[4])) {
        PyErr_SetString(PyExc_TypeError, "audit_record(record_type, ctx, now: float, scrub, clean: set)");
        return NULL;
    }
    PyTypeObject *rt = (PyTypeObject *)args[0];
    PyObject *ctx = args[1], *now = args[2], *scrub = args[3], *clean = args[4];
    PyObject *c[N_CTX];
    int rc = slot_cache(&record_cache, rt);
    if (rc > 0)
        rc = ctx_slots(ctx, c);
    if (rc < 0)
        return NULL;
    if (rc == 0)
        Py_RETURN_NONE;
    PyObject *v[N_ATTR];  /* the record's attributes (new references), in the order of attr_names */
    for (int i = 0; i < N_ATTR; i++)
        v[i] = NULL;
    int slow = 0;
    PyObject *result = NULL;
    PyObject *p = c[C_PRINCIPAL];
    if (p == Py_None) {
        if (c[C_PRESENTED_KEY_ID] != Py_None) {  /* _public_id: the Python path's */
            slow = 1;
            goto done;
        }
        v[A_KEY_ID] = Py_NewRef(Py_None), v[A_TEAM] = Py_NewRef(Py_None);
    } else {
        PyObject *key_id, *team;
        if (principal_ids(p, &key_id, &team, &slow) < 0)
            goto done;
        v[A_KEY_ID] = Py_NewRef(key_id), v[A_TEAM] = Py_NewRef(team);
    }
    v[A_AUTHENTICATED] = Py_NewRef(p != Py_None ? Py_True : Py_False);
    if ((v[A_REQUEST_ID] = client_text(c[C_REQUEST_ID], scrub, clean, 1, &slow)) == NULL
        || (v[A_CLIENT_ADDR] = client_text(c[C_CLIENT_ADDR], scrub, clean, 0, &slow)) == NULL
        || (v[A_MODEL] = client_text(c[C_MODEL], scrub, clean, 0, &slow)) == NULL
        || (v[A_ATTEMPTS] = five_each(c[C_ATTEMPTS], &attempt_cache, &slow)) == NULL
        || (v[A_LATENCY] = ms_since(now, c[C_STARTED], &slow)) == NULL)
        goto done;
    if (c[C_FIRST_TOKEN_AT] == Py_None)
        v[A_TTFT] = Py_NewRef(Py_None);
    else if ((v[A_TTFT] = ms_since(c[C_FIRST_TOKEN_AT], c[C_STARTED], &slow)) == NULL)
        goto done;
    if (c[C_USAGE] == Py_None)
        v[A_USAGE] = Py_NewRef(Py_None);
    else if ((v[A_USAGE] = five(c[C_USAGE], &usage_cache, &slow)) == NULL)
        goto done;
    if ((v[A_FINDINGS] = five_each(c[C_FINDINGS], &finding_cache, &slow)) == NULL)
        goto done;
    v[A_TIME] = Py_NewRef(c[C_WALL_TIME]);
    v[A_INGRESS] = Py_NewRef(c[C_INGRESS]);
    v[A_OPERATION] = Py_NewRef(c[C_OPERATION]);
    v[A_STATUS] = Py_NewRef(c[C_STATUS]);
    v[A_ERROR_CODE] = Py_NewRef(c[C_ERROR_CODE]);
    v[A_UPSTREAM] = Py_NewRef(c[C_UPSTREAM_MS]);
    v[A_COST] = Py_NewRef(c[C_COST_MICROS]);
    v[A_STREAM] = Py_NewRef(c[C_STREAM]);
    v[A_FINISH_REASON] = Py_NewRef(c[C_FINISH_REASON]);
    v[A_CLIENT_DISCONNECTED] = Py_NewRef(c[C_CLIENT_DISCONNECTED]);
    v[A_POLICY] = Py_NewRef(c[C_POLICY_NAME]);
    v[A_CONTENT] = Py_NewRef(Py_None);
    v[A_ADMIN] = Py_NewRef(Py_None);
    static PyObject *none_str = NULL;
    if (none_str == NULL && (none_str = PyUnicode_InternFromString("none")) == NULL)
        goto done;
    v[A_CAPTURE] = Py_NewRef(none_str);
    result = rt->tp_alloc(rt, 0);
    if (result == NULL)
        goto done;
    /* A record of plain values only (the usual one) cannot be in a reference cycle: untracked, the collector
     * does not visit it (and its tuples) at every pass while it waits in the writer's buffer. Only for the
     * exact classes whose slots are all there is (no __dict__, no __weakref__: tp_dictoffset 0). */
    int plain = rt->tp_dictoffset == 0 && rt->tp_weaklistoffset == 0;
    for (int i = 0; i < N_ATTR; i++) {  /* the slots take the references */
        if (plain) {
            untrack_plain(v[i]);
            plain = atomic(v[i]);
        }
        *(PyObject **)((char *)result + slot_offsets[i]) = v[i];
        v[i] = NULL;
    }
    if (plain)
        PyObject_GC_UnTrack(result);
done:
    for (int i = 0; i < N_ATTR; i++)
        Py_XDECREF(v[i]);
    if (result == NULL && slow && !PyErr_Occurred())
        Py_RETURN_NONE;
    return result;
}

/* ---- access_line: observability/logging.py `_line` of a finished request, appended to a list ----
 *
 *   access_line(pending, templates, ctx, wall_now, perf_now, scrub, clean) -> True | None
 *
 * Appends to the list `pending` the bytes `_line(ctx)` makes when its template is known: the key `_line` builds (the same 15 values, a
 * client text passed through `scrub` unless it is the gateway's own request id or in `clean`, the scrubber's
 * set of texts it returns unchanged) looked up in `templates`, and its eight `%s` filled with what orjson
 * writes for the varying values (`_ts(wall_now)`, the scrubbed request id, round3 of the latency from
 * `perf_now`, of the upstream time and of the time to first token, the two token counts, the cost), once all
 * of it is written. None (nothing appended; the caller takes `_line`) for a
 * key not in `templates` and for anything this does not reproduce exactly: another class, an unset slot, a
 * value of another type (tokens and cost other than int or None), a time before 1970 or after 9999, a
 * latency out of put_ms's range, a lone surrogate. */

/* scrub(text) for a str (the shortcut scrub.py's takes: own request id or a known-clean text), None for
 * None; anything else *slow */
static PyObject *
scrubbed(PyObject *text, PyObject *scrub, PyObject *clean, int *slow)
{
    if (text == Py_None)
        return Py_NewRef(Py_None);
    if (!PyUnicode_CheckExact(text)) {
        *slow = 1;
        return NULL;
    }
    PyObject *out = scrub_known(text, scrub, clean, 1);
    if (out != NULL && !PyUnicode_CheckExact(out)) {
        Py_DECREF(out);
        *slow = 1;
        return NULL;
    }
    return out;
}

/* `_ts(created)` with its quotes, for 0 <= created < year 10000: the second truncated, the milliseconds
 * `int((created - whole) * 1000)` */
static int
put_wall_ms(Out *o, double created)
{
    if (!(created >= 0.0 && created < 253402300800.0))
        return SLOW;
    long long whole = (long long)created;
    int ms = (int)((created - (double)whole) * 1000.0);
    if (ms < 0 || ms >= 1000)
        return SLOW;
    return put_stamp(o, whole, ms, 3);
}

/* an int of 64 bits or None (the token counts and the cost: no other type, so no comma, as `_line` assumes) */
static int
put_count(Out *o, PyObject *v)
{
    if (v != Py_None && !PyLong_CheckExact(v))
        return SLOW;
    return put_scalar(o, v);
}

/* the same object, or two exact str of the same characters (a model alias or a finish reason parsed anew for
 * each request): values the template writes the same (an equal value of another type may not be) */
static int
same_value(PyObject *a, PyObject *b)
{
    if (a == b)
        return 1;
    if (!PyUnicode_CheckExact(a) || !PyUnicode_CheckExact(b))
        return 0;
    Py_ssize_t n = PyUnicode_GET_LENGTH(a);
    int kind = PyUnicode_KIND(a);
    return n == PyUnicode_GET_LENGTH(b) && kind == PyUnicode_KIND(b)
           && memcmp(PyUnicode_DATA(a), PyUnicode_DATA(b), (size_t)n * kind) == 0;
}

enum { K_KEY_ID, K_TEAM, K_PRESENTED, K_ADDR, K_INGRESS, K_OPERATION, K_MODEL, K_PROVIDER, K_ATTEMPTS, K_STATUS,
       K_ERROR_CODE, K_STREAM, K_FINISH_REASON, K_FINDINGS, K_DISCONNECTED, N_KEY };

PyObject *
native_access_line(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 7 || !PyList_CheckExact(args[0]) || !PyDict_CheckExact(args[1]) || !PyFloat_CheckExact(args[3])
        || !PyFloat_CheckExact(args[4]) || !PyAnySet_CheckExact(args[6])) {
        PyErr_SetString(PyExc_TypeError,
                        "access_line(pending: list, templates: dict, ctx, wall_now: float, perf_now: float, "
                        "scrub, clean: set)");
        return NULL;
    }
    PyObject *pending = args[0], *templates = args[1], *ctx = args[2], *scrub = args[5], *clean = args[6];
    PyObject *c[N_CTX];
    int rc = ctx_slots(ctx, c);
    if (rc < 0)
        return NULL;
    if (rc == 0)
        Py_RETURN_NONE;
    int slow = 0;
    PyObject *key = NULL, *rid = NULL, *result = NULL;
    Out o;
    o.buf = o.small, o.len = 0, o.cap = (Py_ssize_t)sizeof(o.small), o.ascii = 1, o.ts_us = 0;
    PyObject *k[N_KEY];  /* the key's values (new references) */
    for (int i = 0; i < N_KEY; i++)
        k[i] = NULL;
    PyObject *p = c[C_PRINCIPAL], *attempts = c[C_ATTEMPTS], *findings = c[C_FINDINGS];
    if (!PyList_CheckExact(attempts) || !PyList_CheckExact(findings)) {
        slow = 1;
        goto done;
    }
    if (p == Py_None) {
        k[K_KEY_ID] = Py_NewRef(Py_None), k[K_TEAM] = Py_NewRef(Py_None);
        PyObject *presented = c[C_PRESENTED_KEY_ID];
        int truthy = presented == Py_None ? 0 : PyObject_IsTrue(presented);
        if (truthy < 0)
            goto done;
        if (!truthy)
            k[K_PRESENTED] = Py_NewRef(Py_None);
        else if ((k[K_PRESENTED] = scrubbed(presented, scrub, clean, &slow)) == NULL)
            goto done;
    } else {
        PyObject *key_id, *team;
        if (principal_ids(p, &key_id, &team, &slow) < 0)
            goto done;
        k[K_KEY_ID] = Py_NewRef(key_id), k[K_TEAM] = Py_NewRef(team), k[K_PRESENTED] = Py_NewRef(Py_None);
    }
    if ((k[K_ADDR] = scrubbed(c[C_CLIENT_ADDR], scrub, clean, &slow)) == NULL
        || (k[K_MODEL] = scrubbed(c[C_MODEL], scrub, clean, &slow)) == NULL)
        goto done;
    Py_ssize_t n_attempts = PyList_GET_SIZE(attempts);
    if (n_attempts == 0)
        k[K_PROVIDER] = Py_NewRef(Py_None);
    else {
        PyObject *provider = slot_of(PyList_GET_ITEM(attempts, n_attempts - 1), &attempt_cache, 0, &slow);
        if (provider == NULL)
            goto done;
        k[K_PROVIDER] = Py_NewRef(provider);
    }
    if ((k[K_ATTEMPTS] = PyLong_FromSsize_t(n_attempts)) == NULL
        || (k[K_FINDINGS] = PyLong_FromSsize_t(PyList_GET_SIZE(findings))) == NULL)
        goto done;
    static const int copied[][2] = {{K_INGRESS, C_INGRESS}, {K_OPERATION, C_OPERATION}, {K_STATUS, C_STATUS},
                                    {K_ERROR_CODE, C_ERROR_CODE}, {K_STREAM, C_STREAM},
                                    {K_FINISH_REASON, C_FINISH_REASON}, {K_DISCONNECTED, C_CLIENT_DISCONNECTED}};
    for (size_t i = 0; i < sizeof(copied) / sizeof(copied[0]); i++)  /* the key's values taken as they are */
        k[copied[i][0]] = Py_NewRef(c[copied[i][1]]);
    /* The last template found, kept with its key's values and dict: the same objects again (the usual next
     * request) take it without building, hashing and comparing the key. A template is made from its key's
     * values alone (`_template`), so it is the one the dict holds for them, or would make again. */
    static PyObject *last_dict = NULL, *last_template = NULL, *last_key[N_KEY];
    int same = last_template != NULL && last_dict == templates;
    for (int i = 0; i < N_KEY && same; i++)
        same = same_value(k[i], last_key[i]);
    PyObject *template;
    if (same)
        template = Py_NewRef(last_template);
    else {
        if ((key = PyTuple_New(N_KEY)) == NULL)
            goto done;
        for (int i = 0; i < N_KEY; i++)  /* the tuple takes new references */
            PyTuple_SET_ITEM(key, i, Py_NewRef(k[i]));
        template = PyDict_GetItemWithError(templates, key);  /* borrowed */
        if (template == NULL || !PyBytes_CheckExact(template)) {
            slow = template != NULL || !PyErr_Occurred();
            goto done;
        }
        Py_INCREF(template);  /* (scrub, called below, runs Python code: the dict may change meanwhile) */
        Py_XSETREF(last_template, Py_NewRef(template));
        Py_XSETREF(last_dict, Py_NewRef(templates));
        for (int i = 0; i < N_KEY; i++)
            Py_XSETREF(last_key[i], Py_NewRef(k[i]));
    }
    /* the varying values, each as orjson writes it, one after another in `o`; where each starts */
    Py_ssize_t starts[9];
    int vrc = OK;
    PyObject *usage = c[C_USAGE], *tokens[2] = {Py_None, Py_None};
    if (usage != Py_None && ((tokens[0] = slot_of(usage, &usage_cache, 0, &slow)) == NULL
                             || (tokens[1] = slot_of(usage, &usage_cache, 1, &slow)) == NULL))
        vrc = slow ? SLOW : FAIL;
    PyObject *started = c[C_STARTED], *first = c[C_FIRST_TOKEN_AT];
    if (vrc == OK && (!PyFloat_CheckExact(started) || (first != Py_None && !PyFloat_CheckExact(first))))
        vrc = SLOW;
    if (vrc == OK && (rid = scrubbed(c[C_REQUEST_ID], scrub, clean, &slow)) == NULL)
        vrc = slow ? SLOW : FAIL;
    for (int i = 0; i < 8 && vrc == OK; i++) {
        starts[i] = o.len;
        switch (i) {
        case 0: vrc = put_wall_ms(&o, PyFloat_AS_DOUBLE(args[3])); break;
        case 1: vrc = rid == Py_None ? SLOW : put_str(&o, rid); break;
        case 2: vrc = put_ms_d(&o, (PyFloat_AS_DOUBLE(args[4]) - PyFloat_AS_DOUBLE(started)) * 1000.0); break;
        case 3: vrc = put_ms(&o, c[C_UPSTREAM_MS]); break;
        case 4:
            vrc = first == Py_None ? PUTS(&o, "null")
                                   : put_ms_d(&o, (PyFloat_AS_DOUBLE(first) - PyFloat_AS_DOUBLE(started)) * 1000.0);
            break;
        case 5: vrc = put_count(&o, tokens[0]); break;
        case 6: vrc = put_count(&o, tokens[1]); break;
        default: vrc = put_count(&o, c[C_COST_MICROS]); break;
        }
    }
    starts[8] = o.len;
    /* the template's text with each `%s` the next value and `%%` one `%` (what `template % values` makes) */
    const char *t = PyBytes_AS_STRING(template);
    Py_ssize_t tn = PyBytes_GET_SIZE(template), size = 0;
    int filled = 0;
    for (Py_ssize_t i = 0; i < tn && vrc == OK; i++) {
        const char *run = memchr(t + i, '%', tn - i);
        if (run == NULL) {
            size += tn - i;
            break;
        }
        size += run - (t + i);
        i = run - t;  /* at the `%` */
        if (i + 1 < tn && t[i + 1] == '%')
            size++;
        else if (i + 1 < tn && t[i + 1] == 's' && filled < 8)
            size += starts[filled + 1] - starts[filled], filled++;
        else
            vrc = SLOW;
        i++;
    }
    if (vrc == OK && filled != 8)
        vrc = SLOW;
    PyObject *line = NULL;
    if (vrc == OK) {
        if ((line = PyBytes_FromStringAndSize(NULL, size)) == NULL)
            vrc = FAIL;
        else {
            char *w = PyBytes_AS_STRING(line);
            filled = 0;
            for (Py_ssize_t i = 0; i < tn; i++) {
                const char *run = memchr(t + i, '%', tn - i);
                Py_ssize_t end = run == NULL ? tn : run - t;
                memcpy(w, t + i, end - i);
                w += end - i;
                if (run == NULL)
                    break;
                i = end + 1;  /* at the character after `%` */
                if (t[i] == '%')
                    *w++ = '%';
                else {
                    memcpy(w, o.buf + starts[filled], starts[filled + 1] - starts[filled]);
                    w += starts[filled + 1] - starts[filled];
                    filled++;
                }
            }
            if (PyList_Append(pending, line) < 0)
                vrc = FAIL;
        }
        Py_XDECREF(line);
    }
    Py_DECREF(template);
    if (vrc == OK)
        result = Py_NewRef(Py_True);
    else
        slow = vrc == SLOW;
done:
    for (int i = 0; i < N_KEY; i++)
        Py_XDECREF(k[i]);
    Py_XDECREF(key);
    Py_XDECREF(rid);
    if (o.buf != o.small)
        PyMem_Free(o.buf);
    if (result == NULL && slow && !PyErr_Occurred())
        Py_RETURN_NONE;
    return result;
}

/* ---- observe_request: observability/metrics.py `Metrics.observe_request` of the usual finished request ----
 *
 *   observe_request(shapes, fast, ctx, now) -> True | None
 *
 * `shapes` is Metrics._shapes, `fast` Metrics._fast: (requests.values, request_duration.buckets,
 * upstream_duration.buckets, overhead.buckets, attempts.values, tokens.values, cost.values, ttft.values,
 * ttft.buckets), `now` time.perf_counter(). For a request of a known shape (its histogram series resolved)
 * with at most one attempt, no finding, no error code and no disconnect, whose counters and series all exist
 * already: the same float operations on the same values in the same order as the Python code (so the counts
 * and sums are equal to the bit), applied all together. None, with nothing changed, for anything else (the
 * caller runs the Python code, which creates series, counts overflow, retries and the rest). */

SLOT_CACHE(shape, 7, "requests", "pair", "input", "output", "duration", "upstream", "overhead")
enum { S_REQUESTS, S_PAIR, S_INPUT, S_OUTPUT, S_DURATION, S_UPSTREAM, S_OVERHEAD };
enum { F_REQUESTS, F_DURATION_B, F_UPSTREAM_B, F_OVERHEAD_B, F_ATTEMPTS, F_TOKENS, F_COST, F_TTFT, F_TTFT_B, N_FAST };
#define MAX_BUCKETS 64

/* the counter value of `key` in `values` (borrowed), or NULL: absent (or an error) or not a float */
static PyObject *
counter_value(PyObject *values, PyObject *key, int *slow)
{
    PyObject *v = PyDict_GetItemWithError(values, key);
    if (v == NULL || !PyFloat_CheckExact(v)) {
        *slow = v != NULL || !PyErr_Occurred();
        return NULL;
    }
    return v;
}

/* One histogram observation to make: the series, the bucket index and the new count and sum. */
typedef struct {
    PyObject *series;
    Py_ssize_t index;
    double count, sum;
} Observation;

/* bisect_left(buckets, x) and the new values of series (a list of len(buckets) + 2 floats); 0 or *slow */
static int
observe_plan(Observation *ob, PyObject *series, PyObject *buckets, double x, int *slow)
{
    if (series == Py_None || !PyList_CheckExact(series) || !PyTuple_CheckExact(buckets)) {
        *slow = 1;
        return -1;
    }
    Py_ssize_t n = PyTuple_GET_SIZE(buckets);
    if (n > MAX_BUCKETS || PyList_GET_SIZE(series) != n + 2) {
        *slow = 1;
        return -1;
    }
    Py_ssize_t i = 0;
    for (; i < n; i++) {
        PyObject *b = PyTuple_GET_ITEM(buckets, i);
        if (!PyFloat_CheckExact(b)) {
            *slow = 1;
            return -1;
        }
        if (!(PyFloat_AS_DOUBLE(b) < x))
            break;
    }
    for (Py_ssize_t j = i + 1; j < n; j++)  /* (sorted floats, as bisect needs: checked, not assumed) */
        if (!PyFloat_CheckExact(PyTuple_GET_ITEM(buckets, j))
            || PyFloat_AS_DOUBLE(PyTuple_GET_ITEM(buckets, j)) < PyFloat_AS_DOUBLE(PyTuple_GET_ITEM(buckets, j - 1))) {
            *slow = 1;
            return -1;
        }
    PyObject *count = PyList_GET_ITEM(series, i), *sum = PyList_GET_ITEM(series, n + 1);
    if (!PyFloat_CheckExact(count) || !PyFloat_CheckExact(sum)) {
        *slow = 1;
        return -1;
    }
    ob->series = series;
    ob->index = i;
    ob->count = PyFloat_AS_DOUBLE(count) + 1.0;
    ob->sum = PyFloat_AS_DOUBLE(sum) + x;
    return 0;
}

/* an exact int below 2**53 in magnitude as a double (what float + int and int / int compute with), or *slow */
static int
small_int(PyObject *v, double *out, int *slow)
{
    if (!PyLong_CheckExact(v)) {
        *slow = 1;
        return -1;
    }
    int overflow;
    long long x = PyLong_AsLongLongAndOverflow(v, &overflow);
    if (x == -1 && PyErr_Occurred())
        return -1;
    if (overflow || x > (1LL << 53) || x < -(1LL << 53)) {
        *slow = 1;
        return -1;
    }
    *out = (double)x;
    return 0;
}

PyObject *
native_observe_request(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 4 || !PyDict_CheckExact(args[0]) || !PyTuple_CheckExact(args[1]) || PyTuple_GET_SIZE(args[1]) != N_FAST
        || !PyFloat_CheckExact(args[3])) {
        PyErr_SetString(PyExc_TypeError, "observe_request(shapes: dict, fast: tuple of 9, ctx, now: float)");
        return NULL;
    }
    PyObject *shapes = args[0], *ctx = args[2];
    PyObject *f[N_FAST];
    for (int i = 0; i < N_FAST; i++) {
        f[i] = PyTuple_GET_ITEM(args[1], i);
        if ((i == F_REQUESTS || i == F_ATTEMPTS || i == F_TOKENS || i == F_COST || i == F_TTFT) && !PyDict_CheckExact(f[i]))
            Py_RETURN_NONE;
    }
    PyObject *c[N_CTX];
    int rc = ctx_slots(ctx, c);
    if (rc < 0)
        return NULL;
    if (rc == 0)
        Py_RETURN_NONE;
    PyObject *attempts = c[C_ATTEMPTS], *findings = c[C_FINDINGS];
    if (!PyList_CheckExact(attempts) || PyList_GET_SIZE(attempts) > 1 || !PyList_CheckExact(findings)
        || PyList_GET_SIZE(findings) != 0 || c[C_ERROR_CODE] != Py_None || c[C_CLIENT_DISCONNECTED] != Py_False
        || !PyFloat_CheckExact(c[C_STARTED]) || (c[C_STREAM] != Py_True && c[C_STREAM] != Py_False))
        Py_RETURN_NONE;
    static PyObject *none_str = NULL;
    if (none_str == NULL && (none_str = PyUnicode_InternFromString("none")) == NULL)
        return NULL;
    int slow = 0;
    PyObject *attempt = NULL, *provider = none_str, *outcome = NULL;
    if (PyList_GET_SIZE(attempts) == 1) {
        attempt = PyList_GET_ITEM(attempts, 0);
        if ((provider = slot_of(attempt, &attempt_cache, 0, &slow)) == NULL
            || (outcome = slot_of(attempt, &attempt_cache, 2, &slow)) == NULL)
            return slow ? Py_NewRef(Py_None) : NULL;
        if (!PyFloat_CheckExact(c[C_UPSTREAM_MS]))
            Py_RETURN_NONE;
    }
    PyObject *result = NULL, *key = NULL, *shape = NULL, *akey = NULL;
    PyObject *made[16];  /* the new floats, then where each goes */
    int n_made = 0;
    PyObject *key_items[5] = {c[C_INGRESS], c[C_OPERATION], c[C_MODEL], provider, c[C_STATUS]};
    /* The last shape found, kept with its key's values and dict: the same values again (the usual next request)
     * take it without a look-up. A shape's label values, and the series they resolve to (a family never drops
     * one), follow from its key's values alone: the one in the dict, or the one made anew after it was emptied,
     * updates the same counts. */
    static PyObject *last_shapes = NULL, *last_shape = NULL, *last_items[5];
    int same = last_shape != NULL && last_shapes == shapes;
    for (int i = 0; i < 5 && same; i++)
        same = same_value(key_items[i], last_items[i]);
    if (same)
        shape = Py_NewRef(last_shape);
    else {
        if ((key = PyTuple_New(5)) == NULL)
            goto done;
        for (int i = 0; i < 5; i++)
            PyTuple_SET_ITEM(key, i, Py_NewRef(key_items[i]));
        shape = PyDict_GetItemWithError(shapes, key);
        if (shape == NULL) {
            slow = !PyErr_Occurred();
            goto done;
        }
        Py_INCREF(shape);
    }
    int src = slot_cache(&shape_cache, Py_TYPE(shape));
    if (src <= 0) {
        slow = src == 0;
        goto done;
    }
    PyObject *s[7];
    for (int i = 0; i < 7; i++)
        if ((s[i] = SLOT(shape, shape_cache, i)) == NULL) {
            slow = 1;
            goto done;
        }
    if (!same) {  /* (a shape of the cached class only) */
        Py_XSETREF(last_shape, Py_NewRef(shape));
        Py_XSETREF(last_shapes, Py_NewRef(shapes));
        for (int i = 0; i < 5; i++)
            Py_XSETREF(last_items[i], Py_NewRef(key_items[i]));
    }
    /* what the Python code computes, in its order */
    double total = (PyFloat_AS_DOUBLE(args[3]) - PyFloat_AS_DOUBLE(c[C_STARTED])) * 1000.0 / 1000.0;
    PyObject *requests = counter_value(f[F_REQUESTS], s[S_REQUESTS], &slow);
    if (requests == NULL)
        goto done;
    Observation obs[4];
    int n_obs = 0;
    if (observe_plan(&obs[n_obs++], s[S_DURATION], f[F_DURATION_B], total, &slow) < 0)
        goto done;
    double overhead = total;
    PyObject *attempted = NULL;
    if (attempt != NULL) {
        double upstream = PyFloat_AS_DOUBLE(c[C_UPSTREAM_MS]) / 1000.0;
        if (observe_plan(&obs[n_obs++], s[S_UPSTREAM], f[F_UPSTREAM_B], upstream, &slow) < 0)
            goto done;
        overhead = total > upstream ? total - upstream : 0.0;
        if ((akey = PyTuple_Pack(2, provider, outcome)) == NULL || (attempted = counter_value(f[F_ATTEMPTS], akey, &slow)) == NULL)
            goto done;
    }
    if (observe_plan(&obs[n_obs++], s[S_OVERHEAD], f[F_OVERHEAD_B], overhead, &slow) < 0)
        goto done;
    PyObject *first = c[C_FIRST_TOKEN_AT];
    if (first != Py_None && c[C_STREAM] == Py_True) {
        if (!PyFloat_CheckExact(first)) {
            slow = 1;
            goto done;
        }
        PyObject *series = PyDict_GetItemWithError(f[F_TTFT], s[S_PAIR]);
        if (series == NULL) {
            slow = !PyErr_Occurred();
            goto done;
        }
        if (observe_plan(&obs[n_obs++], series, f[F_TTFT_B], PyFloat_AS_DOUBLE(first) - PyFloat_AS_DOUBLE(c[C_STARTED]),
                         &slow) < 0)
            goto done;
    }
    PyObject *usage = c[C_USAGE], *tokens_in = NULL, *tokens_out = NULL;
    double in = 0.0, out = 0.0;
    if (usage != Py_None) {
        PyObject *ui, *uo;
        if ((ui = slot_of(usage, &usage_cache, 0, &slow)) == NULL || (uo = slot_of(usage, &usage_cache, 1, &slow)) == NULL
            || small_int(ui, &in, &slow) < 0 || small_int(uo, &out, &slow) < 0
            || (tokens_in = counter_value(f[F_TOKENS], s[S_INPUT], &slow)) == NULL
            || (tokens_out = counter_value(f[F_TOKENS], s[S_OUTPUT], &slow)) == NULL)
            goto done;
    }
    double cost = 0.0;
    PyObject *cost_value = NULL;
    if (small_int(c[C_COST_MICROS], &cost, &slow) < 0)
        goto done;
    if (cost != 0.0 && (cost_value = counter_value(f[F_COST], s[S_PAIR], &slow)) == NULL)
        goto done;
    for (int i = 0; i < n_obs; i++)  /* four different series (as the histograms make them): no update chains */
        for (int j = 0; j < i; j++)
            if (obs[i].series == obs[j].series) {
                slow = 1;
                goto done;
            }
    /* the new values, all made before any is stored (nothing changes unless everything can) */
    double news[16];
    PyObject *into[16], *at[16];  /* a dict and its key, or a list (at NULL) */
    Py_ssize_t index[16];
    int n = 0;
#define NEW_COUNTER(dict, k, value) (news[n] = (value), into[n] = (dict), at[n] = (k), index[n] = 0, n++)
    NEW_COUNTER(f[F_REQUESTS], s[S_REQUESTS], PyFloat_AS_DOUBLE(requests) + 1.0);
    for (int i = 0; i < n_obs; i++) {
        news[n] = obs[i].count, into[n] = obs[i].series, at[n] = NULL, index[n] = obs[i].index, n++;
        news[n] = obs[i].sum, into[n] = obs[i].series, at[n] = NULL, index[n] = PyList_GET_SIZE(obs[i].series) - 1, n++;
    }
    if (attempted != NULL)
        NEW_COUNTER(f[F_ATTEMPTS], akey, PyFloat_AS_DOUBLE(attempted) + 1.0);
    if (tokens_in != NULL) {
        NEW_COUNTER(f[F_TOKENS], s[S_INPUT], PyFloat_AS_DOUBLE(tokens_in) + in);
        NEW_COUNTER(f[F_TOKENS], s[S_OUTPUT], PyFloat_AS_DOUBLE(tokens_out) + out);
    }
    if (cost_value != NULL)
        NEW_COUNTER(f[F_COST], s[S_PAIR], PyFloat_AS_DOUBLE(cost_value) + cost / 1000000.0);
#undef NEW_COUNTER
    for (; n_made < n; n_made++)
        if ((made[n_made] = PyFloat_FromDouble(news[n_made])) == NULL)
            goto done;
    for (int i = 0; i < n; i++) {
        if (at[i] == NULL) {
            PyObject *value = made[i];
            made[i] = NULL;
            if (PyList_SetItem(into[i], index[i], value) < 0)  /* (takes the reference; an index in range) */
                goto done;
        } else if (PyDict_SetItem(into[i], at[i], made[i]) < 0)  /* (an existing key: no allocation) */
            goto done;
    }
    result = Py_NewRef(Py_True);
done:
    for (int i = 0; i < n_made; i++)
        Py_XDECREF(made[i]);
    Py_XDECREF(key);
    Py_XDECREF(shape);
    Py_XDECREF(akey);
    if (result == NULL && slow && !PyErr_Occurred())
        Py_RETURN_NONE;
    return result;
}

/* ---- cost/stage.py BudgetStage.settlement's usual case, with UsageRecorder.record --------------------------- */

SLOT_CACHE(reservation, 2, "labels", "done")
SLOT_CACHE(labels, 1, "day")
SLOT_CACHE(price, 2, "input", "output")

/* an exact int's value in *v: 1; 0 when v is of another type or out of range (no exception) */
static int
exact_ll(PyObject *v, long long *out)
{
    if (!PyLong_CheckExact(v))
        return 0;
    int overflow = 0;
    *out = PyLong_AsLongLongAndOverflow(v, &overflow);
    if (*out == -1 && PyErr_Occurred()) {
        PyErr_Clear();
        return 0;
    }
    return overflow == 0;
}

/* obj's slot i of c written (a new reference taken), the old value released: for a plain object slot of a class
 * whose attributes are set the generic way (checked by the caller) */
static void
slot_put(PyObject *obj, SlotCache *c, int i, PyObject *value)
{
    PyObject **at = (PyObject **)((char *)obj + c->offsets[i]);
    PyObject *old = *at;
    *at = value;
    Py_XDECREF(old);
}

/* settle_usage(res, ctx, priced, pending, max_pending, pico_per_micro): BudgetStage.settlement of the usual
 * request (its usage known, no cached, cache-write or reasoning tokens, the last attempt served by a model
 * already in `priced`, a principal) with the recorder's UsageRecorder.record (its pending rows and their
 * bound): the request's actual micro-USD, having marked the reservation done, set ctx.cost_micros and added
 * the usage row, as the Python code does; None, nothing changed, for any other case (a type not the usual
 * one, a number out of 64 bits, a new row past the bound), which the Python code then settles. */
PyObject *
native_settle_usage(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 6 || !PyDict_CheckExact(args[2]) || !PyDict_CheckExact(args[3])) {
        PyErr_SetString(PyExc_TypeError, "settle_usage(res, ctx, priced: dict, pending: dict, max_pending, "
                                         "pico_per_micro)");
        return NULL;
    }
    PyObject *res = args[0], *ctx = args[1], *priced = args[2], *pending = args[3];
    long long max_pending, pico;
    if (!exact_ll(args[4], &max_pending) || !exact_ll(args[5], &pico) || pico <= 0)
        Py_RETURN_NONE;
    /* the two objects written: their attributes set the generic way (no __setattr__ of their own) */
    if (Py_TYPE(res)->tp_setattro != PyObject_GenericSetAttr || Py_TYPE(ctx)->tp_setattro != PyObject_GenericSetAttr)
        Py_RETURN_NONE;
    int slow = 0;
    PyObject *c[N_CTX];
    int rc = ctx_slots(ctx, c);
    if (rc <= 0)
        return rc < 0 ? NULL : Py_NewRef(Py_None);
    PyObject *usage = c[C_USAGE], *attempts = c[C_ATTEMPTS], *p = c[C_PRINCIPAL], *model = c[C_MODEL];
    if (usage == Py_None || p == Py_None || !PyList_CheckExact(attempts) || PyList_GET_SIZE(attempts) == 0
        || (model != Py_None && !PyUnicode_CheckExact(model)))
        Py_RETURN_NONE;
    PyObject *u[5];
    for (int i = 0; i < 5; i++)
        if ((u[i] = slot_of(usage, &usage_cache, i, &slow)) == NULL)
            return slow ? Py_NewRef(Py_None) : NULL;
    long long in, out, cached, write, reasoning;
    if (!exact_ll(u[0], &in) || !exact_ll(u[1], &out) || !exact_ll(u[2], &cached) || !exact_ll(u[3], &write)
        || !exact_ll(u[4], &reasoning) || cached > 0 || write > 0 || reasoning > 0)
        Py_RETURN_NONE;
    PyObject *last = PyList_GET_ITEM(attempts, PyList_GET_SIZE(attempts) - 1), *served, *outcome;
    if ((served = slot_of(last, &attempt_cache, 1, &slow)) == NULL
        || (outcome = slot_of(last, &attempt_cache, 2, &slow)) == NULL)
        return slow ? Py_NewRef(Py_None) : NULL;
    if (!PyUnicode_CheckExact(outcome) || !PyUnicode_CheckExact(served)
        || PyUnicode_CompareWithASCIIString(outcome, "ok") != 0)
        Py_RETURN_NONE;
    PyObject *price = PyDict_GetItemWithError(priced, served);
    if (price == NULL)
        return PyErr_Occurred() ? NULL : Py_NewRef(Py_None);
    PyObject *pin, *pout, *key_id, *team, *labels, *day;
    if ((pin = slot_of(price, &price_cache, 0, &slow)) == NULL || (pout = slot_of(price, &price_cache, 1, &slow)) == NULL
        || principal_ids(p, &key_id, &team, &slow) < 0 || (labels = slot_of(res, &reservation_cache, 0, &slow)) == NULL
        || slot_of(res, &reservation_cache, 1, &slow) == NULL || (day = slot_of(labels, &labels_cache, 0, &slow)) == NULL)
        return slow ? Py_NewRef(Py_None) : NULL;
    long long price_in, price_out;
    if (!exact_ll(pin, &price_in) || !exact_ll(pout, &price_out) || !PyUnicode_CheckExact(key_id)
        || (team != Py_None && !PyUnicode_CheckExact(team)) || !PyUnicode_CheckExact(day))
        Py_RETURN_NONE;
    /* -(-(in+ * price.input + out+ * price.output) // pico): the sum's ceiling division */
    long long a, b, sum;
    if (__builtin_mul_overflow(in > 0 ? in : 0, price_in, &a) || __builtin_mul_overflow(out > 0 ? out : 0, price_out, &b)
        || __builtin_add_overflow(a, b, &sum))
        Py_RETURN_NONE;
    long long actual = sum / pico + (sum % pico > 0 ? 1 : 0);
    static PyObject *empty = NULL, *one = NULL;
    if ((empty == NULL && (empty = PyUnicode_InternFromString("")) == NULL)
        || (one == NULL && (one = PyLong_FromLong(1)) == NULL))
        return NULL;
    /* the row's key: (day, key id, team or "", model or "") (`x or ""` for a str: "" itself when empty) */
    PyObject *t = team == Py_None || PyUnicode_GET_LENGTH(team) == 0 ? empty : team;
    PyObject *m = model == Py_None || PyUnicode_GET_LENGTH(model) == 0 ? empty : model;
    PyObject *key = PyTuple_Pack(4, day, key_id, t, m);
    if (key == NULL)
        return NULL;
    PyObject *made[4] = {NULL, NULL, NULL, NULL}, *cost = NULL, *result = NULL, *row = NULL;
    PyObject *now_row = PyDict_GetItemWithError(pending, key);
    if (now_row == NULL && PyErr_Occurred())
        goto done;
    if ((cost = PyLong_FromLongLong(actual)) == NULL)
        goto done;
    if (now_row == NULL) {
        if ((long long)PyDict_GET_SIZE(pending) >= max_pending) {  /* dropped and counted: the Python code's */
            result = Py_NewRef(Py_None);
            goto done;
        }
        if ((row = PyList_New(4)) == NULL)
            goto done;
        PyObject *items[4] = {one, u[0], u[1], cost};
        for (int i = 0; i < 4; i++)
            PyList_SET_ITEM(row, i, Py_NewRef(items[i]));
        if (PyDict_SetItem(pending, key, row) < 0)
            goto done;
    } else {
        if (!PyList_CheckExact(now_row) || PyList_GET_SIZE(now_row) != 4) {
            result = Py_NewRef(Py_None);
            goto done;
        }
        PyObject *adds[4] = {one, u[0], u[1], cost};
        for (int i = 0; i < 4; i++) {
            if (!PyLong_CheckExact(PyList_GET_ITEM(now_row, i))) {
                result = Py_NewRef(Py_None);
                goto done;
            }
        }
        for (int i = 0; i < 4; i++)
            if ((made[i] = PyNumber_Add(PyList_GET_ITEM(now_row, i), adds[i])) == NULL)
                goto done;
        for (int i = 0; i < 4; i++) {  /* (nothing fails from here) */
            PyList_SetItem(now_row, i, made[i]);
            made[i] = NULL;
        }
    }
    slot_put(res, &reservation_cache, 1, Py_NewRef(Py_True));
    slot_put(ctx, &ctx_cache, C_COST_MICROS, Py_NewRef(cost));
    result = Py_NewRef(cost);
done:
    for (int i = 0; i < 4; i++)
        Py_XDECREF(made[i]);
    Py_XDECREF(row);
    Py_XDECREF(cost);
    Py_DECREF(key);
    return result;
}
