/* The memory backend's token buckets (limits/memory.py `take` and `give_back`) in C: the same
 * arithmetic on the same objects, so either can run on the counters the other left.
 *
 * A plan row is (scope index, kind, key, limit, float(limit)) with kind "requests", "tokens" or
 * "parallel"; `buckets` maps a key to the list [level, stamp, float limit], `counts` a scope id to
 * its requests in flight. Anything outside what the C arithmetic reproduces bit for bit (a limit,
 * token count or counter beyond 2**53 or negative where Python's int and float would part ways, a
 * stamp or clock that is not a float, a plan of more than MAX_ROWS rows) returns None before
 * anything changed: the caller runs the Python code instead. Python compares a float with an int
 * exactly and converts an int to float with correct rounding; for integers of at most 2**53 in
 * magnitude the conversion is exact, so the C double arithmetic below gives the same floats. */
#include "_native.h"

#define MAX_ROWS 32
#define EXACT (1LL << 53)
#define PERIOD 60.0

/* Row r's fields; 0, or -1 when the row is not what the C path handles (no exception set). */
static int
row_fields(PyObject *row, char *kind, PyObject **key, long long *limit, double *flimit, PyObject **flimit_obj)
{
    if (!PyTuple_CheckExact(row) || PyTuple_GET_SIZE(row) != 5)
        return -1;
    PyObject *k = PyTuple_GET_ITEM(row, 1), *lim = PyTuple_GET_ITEM(row, 3), *fl = PyTuple_GET_ITEM(row, 4);
    if (!PyUnicode_Check(k) || PyUnicode_GET_LENGTH(k) < 1 || !PyLong_CheckExact(lim) || !PyFloat_CheckExact(fl))
        return -1;
    *kind = (char)PyUnicode_READ_CHAR(k, 0);
    if (*kind != 'r' && *kind != 't' && *kind != 'p')
        return -1;
    int overflow = 0;
    long long v = PyLong_AsLongLongAndOverflow(lim, &overflow);
    if (overflow || v < 0 || v > EXACT)
        return -1;
    *key = PyTuple_GET_ITEM(row, 2);
    *limit = v;
    *flimit = PyFloat_AS_DOUBLE(fl);
    *flimit_obj = fl;
    return 0;
}

/* An int argument within +-2**53; 0, or -1 when it is not. */
static int
exact_int(PyObject *o, long long *out)
{
    if (!PyLong_CheckExact(o))
        return -1;
    int overflow = 0;
    long long v = PyLong_AsLongLongAndOverflow(o, &overflow);
    if (overflow || v > EXACT || v < -EXACT)
        return -1;
    *out = v;
    return 0;
}

/* A bucket list [level, stamp, limit] of floats at level and stamp; 0, or -1 when it is not. */
static int
bucket_fields(PyObject *b, double *level, double *stamp)
{
    if (!PyList_CheckExact(b) || PyList_GET_SIZE(b) != 3)
        return -1;
    PyObject *l = PyList_GET_ITEM(b, 0), *s = PyList_GET_ITEM(b, 1);
    if (!PyFloat_CheckExact(l) || !PyFloat_CheckExact(s))
        return -1;
    *level = PyFloat_AS_DOUBLE(l);
    *stamp = PyFloat_AS_DOUBLE(s);
    return 0;
}

/* A count in `counts` (0 when absent); 0, -1 when not a small int, -2 with an exception. */
static int
count_of(PyObject *counts, PyObject *key, long long *n)
{
    PyObject *v = PyDict_GetItemWithError(counts, key);
    if (v == NULL) {
        if (PyErr_Occurred())
            return -2;
        *n = 0;
        return 0;
    }
    return exact_int(v, n);
}

/* Set item i of list b to a new float d; -1 with an exception. */
static int
set_float(PyObject *b, Py_ssize_t i, double d)
{
    PyObject *f = PyFloat_FromDouble(d);
    if (f == NULL)
        return -1;
    PyObject *old = PyList_GET_ITEM(b, i);
    PyList_SET_ITEM(b, i, f);
    Py_DECREF(old);
    return 0;
}

static int
set_obj(PyObject *b, Py_ssize_t i, PyObject *o)
{
    PyObject *old = PyList_GET_ITEM(b, i);
    Py_INCREF(o);
    PyList_SET_ITEM(b, i, o);
    Py_DECREF(old);
    return 0;
}

/* buckets[key] = [level, t, flimit]; -1 with an exception. */
static int
new_bucket(PyObject *buckets, PyObject *key, double level, PyObject *t, PyObject *flimit)
{
    PyObject *b = PyList_New(3);
    if (b == NULL)
        return -1;
    PyObject *f = PyFloat_FromDouble(level);
    if (f == NULL) {
        Py_DECREF(b);
        return -1;
    }
    PyList_SET_ITEM(b, 0, f);
    Py_INCREF(t);
    PyList_SET_ITEM(b, 1, t);
    Py_INCREF(flimit);
    PyList_SET_ITEM(b, 2, flimit);
    int rc = PyDict_SetItem(buckets, key, b);
    Py_DECREF(b);
    return rc;
}

static int
set_count(PyObject *counts, PyObject *key, long long n)
{
    PyObject *v = PyLong_FromLongLong(n);
    if (v == NULL)
        return -1;
    int rc = PyDict_SetItem(counts, key, v);
    Py_DECREF(v);
    return rc;
}

/* The arguments (buckets: dict, counts: dict, rows: tuple, an int, t: float) of both functions, the
 * int and t read: 1; 0 when they are not what the C path handles (the caller returns None); -1 with
 * TypeError naming `usage`. */
static int
bucket_args(PyObject *const *args, Py_ssize_t nargs, const char *usage, long long *amount, double *t)
{
    if (nargs != 5 || !PyDict_CheckExact(args[0]) || !PyDict_CheckExact(args[1]) || !PyTuple_CheckExact(args[2])) {
        PyErr_Format(PyExc_TypeError, "%s: dict, dict, tuple, int, float expected", usage);
        return -1;
    }
    if (exact_int(args[3], amount) < 0 || !PyFloat_CheckExact(args[4]) || PyTuple_GET_SIZE(args[2]) > MAX_ROWS)
        return 0;
    *t = PyFloat_AS_DOUBLE(args[4]);
    return isfinite(*t) ? 1 : 0;
}

/* What the check phase of a take found, for the commit phase. */
typedef struct {
    Py_ssize_t n;
    char kinds[MAX_ROWS];
    PyObject *keys[MAX_ROWS], *fobjs[MAX_ROWS], *bs[MAX_ROWS];
    double levels[MAX_ROWS];
    long long req_limit, tok_limit, req_rem, tok_rem;
    double req_left, tok_left;
} Take;

/* The check phase of a take (nothing changed): 1 when every row admits (`tk` filled); 0 with *out a new
 * reference to what the caller returns (None: not handled; (row, level or None): refused); -1 with an
 * exception. */
static int
take_check(PyObject *buckets, PyObject *counts, PyObject *rows, long long tokens, double t, Take *tk,
           PyObject **out)
{
    Py_ssize_t n = tk->n = PyTuple_GET_SIZE(rows);
    tk->req_limit = tk->tok_limit = tk->req_rem = tk->tok_rem = 0;
    tk->req_left = tk->tok_left = 0.0;
    for (Py_ssize_t j = 0; j < n; j++) {
        long long limit;
        double flimit;
        if (row_fields(PyTuple_GET_ITEM(rows, j), &tk->kinds[j], &tk->keys[j], &limit, &flimit, &tk->fobjs[j]) < 0) {
            *out = Py_NewRef(Py_None);
            return 0;
        }
        tk->bs[j] = NULL;
        if (tk->kinds[j] == 'p') {
            long long cur;
            int rc = count_of(counts, tk->keys[j], &cur);
            if (rc == -2)
                return -1;
            if (rc < 0) {
                *out = Py_NewRef(Py_None);
                return 0;
            }
            if (cur >= limit) {
                *out = Py_BuildValue("(nO)", j, Py_None);
                return *out == NULL ? -1 : 0;
            }
            continue;
        }
        long long need;
        if (tk->kinds[j] == 't') {
            if (tokens > limit) {
                *out = Py_BuildValue("(nO)", j, Py_None);
                return *out == NULL ? -1 : 0;
            }
            need = tokens;
        } else {
            need = 1;
        }
        PyObject *b = PyDict_GetItemWithError(buckets, tk->keys[j]);
        double cur;
        if (b == NULL) {
            if (PyErr_Occurred())
                return -1;
            cur = flimit;
        } else {
            double stamp;
            if (bucket_fields(b, &cur, &stamp) < 0) {
                *out = Py_NewRef(Py_None);
                return 0;
            }
            double elapsed = t - stamp;
            if (elapsed > 0)
                cur += elapsed * (double)limit / PERIOD;
            if (cur > (double)limit)
                cur = flimit;
        }
        if (cur < (double)need) {
            *out = Py_BuildValue("(nd)", j, cur);
            return *out == NULL ? -1 : 0;
        }
        cur -= (double)need;
        tk->bs[j] = b;
        tk->levels[j] = cur;
        long long rem = (long long)cur; /* cur >= 0: floor */
        if (tk->kinds[j] == 't') {
            if (!tk->tok_limit || rem < tk->tok_rem)
                tk->tok_limit = limit, tk->tok_rem = rem, tk->tok_left = cur;
        } else if (!tk->req_limit || rem < tk->req_rem) {
            tk->req_limit = limit, tk->req_rem = rem, tk->req_left = cur;
        }
    }
    return 1;
}

/* The commit phase: every row of a checked take taken. 0, or -1 with an exception. */
static int
take_commit(PyObject *buckets, PyObject *counts, PyObject *t_obj, Take *tk)
{
    /* Buckets are borrowed from `buckets`, which nothing since the check changed. */
    for (Py_ssize_t j = 0; j < tk->n; j++) {
        if (tk->kinds[j] == 'p')
            continue;
        if (tk->bs[j] == NULL) {
            if (new_bucket(buckets, tk->keys[j], tk->levels[j], t_obj, tk->fobjs[j]) < 0)
                return -1;
        } else {
            if (set_float(tk->bs[j], 0, tk->levels[j]) < 0)
                return -1;
            set_obj(tk->bs[j], 1, t_obj);
            set_obj(tk->bs[j], 2, tk->fobjs[j]);
        }
    }
    for (Py_ssize_t j = 0; j < tk->n; j++) {
        if (tk->kinds[j] != 'p')
            continue;
        long long cur;
        if (count_of(counts, tk->keys[j], &cur) < 0) {
            if (!PyErr_Occurred())
                PyErr_SetString(PyExc_ValueError, "bucket_take: a count changed");
            return -1;
        }
        if (set_count(counts, tk->keys[j], cur + 1) < 0)
            return -1;
    }
    return 0;
}

/* bucket_take(buckets, counts, rows, tokens, t): MemoryBackend.take's counters. Admitted:
 * (req_limit, req_remaining, req_left, tok_limit, tok_remaining, tok_left), the limits 0 when none
 * applied; refused: (position of the refusing row in rows, the bucket's level or None); None: not
 * handled here, nothing changed. */
PyObject *
native_bucket_take(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    long long tokens;
    double t;
    int ok = bucket_args(args, nargs, "bucket_take(buckets, counts, rows, tokens, t)", &tokens, &t);
    if (ok <= 0)
        return ok < 0 ? NULL : Py_NewRef(Py_None);
    Take tk;
    PyObject *out = NULL;
    int rc = take_check(args[0], args[1], args[2], tokens, t, &tk, &out);
    if (rc <= 0)
        return rc < 0 ? NULL : out;
    if (take_commit(args[0], args[1], args[4], &tk) < 0)
        return NULL;
    return Py_BuildValue("(LLdLLd)", tk.req_limit, tk.req_rem, tk.req_left, tk.tok_limit, tk.tok_rem, tk.tok_left);
}

/* The decimal digits of v >= 0 written at buf (room for 20): their count. */
static int
put_digits(char *buf, long long v)
{
    char tmp[24];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v > 0);
    for (int i = 0; i < n; i++)
        buf[i] = tmp[n - 1 - i];
    return n;
}

/* An ASCII str of the n bytes at s; NULL with an exception. */
static PyObject *
ascii_text(const char *s, Py_ssize_t n)
{
    PyObject *u = PyUnicode_New(n, 127);
    if (u != NULL)
        memcpy(PyUnicode_DATA(u), s, (size_t)n);
    return u;
}

/* A non-negative integer as a str (what str(int) writes); NULL with an exception. */
static PyObject *
int_text(long long v)
{
    char buf[24];
    return ascii_text(buf, put_digits(buf, v));
}

/* limits/bucket.py format_reset(seconds) for a finite seconds in [0, 1e9]: the text, or NULL with an
 * exception. The Python code's `f"{ms / 1000:.3f}".rstrip("0")` for an int ms of at most 60,000 not a
 * multiple of 1000 is ms's seconds, a point and its three digits of thousandths without trailing zeros:
 * the double ms / 1000 is within 2**-47 of that decimal, which "%.3f" (correctly rounded) gives back. */
static PyObject *
reset_text(double seconds)
{
    char buf[96];
    int len = 0;
    if (seconds <= 0)
        return ascii_text("0s", 2);
    long long ms = (long long)ceil(seconds * 1000);
    if (seconds < 1) {
        if (ms <= 1)
            return ascii_text("1ms", 3);
        len = put_digits(buf, ms);
        memcpy(buf + len, "ms", 2);
        return ascii_text(buf, len + 2);
    }
    long long minutes = ms / 60000, hours;
    ms %= 60000;
    hours = minutes / 60;
    minutes %= 60;
    if (hours) {
        len += put_digits(buf + len, hours);
        buf[len++] = 'h';
    }
    if (hours || minutes) {
        len += put_digits(buf + len, minutes);
        buf[len++] = 'm';
    }
    len += put_digits(buf + len, ms / 1000);
    if (ms % 1000) {
        long long frac = ms % 1000;
        buf[len++] = '.';
        buf[len++] = (char)('0' + frac / 100);
        buf[len++] = (char)('0' + frac / 10 % 10);
        buf[len++] = (char)('0' + frac % 10);
        while (buf[len - 1] == '0')
            len--;
    }
    buf[len++] = 's';
    return ascii_text(buf, len);
}

/* The text of a limit (a new reference; NULL with an exception): that of the last limit of its kind (0
 * requests, 1 tokens) kept for the process, since a key's requests show the same limit one after another. */
static PyObject *
limit_text(int kind, long long limit)
{
    static long long last[2];
    static PyObject *text[2];
    if (text[kind] == NULL || last[kind] != limit) {
        PyObject *t = int_text(limit);
        if (t == NULL)
            return NULL;
        Py_XSETREF(text[kind], t);
        last[kind] = limit;
    }
    return Py_NewRef(text[kind]);
}

/* The three header texts of one kind (0 requests, 1 tokens: limit, remaining, reset) into v[0..2]; 0, or -1
 * with an exception (v cleared). `left` is the level whose floor `rem` is; the reset is full_after's arithmetic. */
static int
header_texts(int kind, long long limit, long long rem, double left, PyObject **v)
{
    double seconds = left < (double)limit ? ((double)limit - left) * PERIOD / (double)limit : 0.0;
    v[0] = limit_text(kind, limit);
    v[1] = int_text(rem);
    v[2] = reset_text(seconds);
    if (v[0] == NULL || v[1] == NULL || v[2] == NULL) {
        Py_CLEAR(v[0]);
        Py_CLEAR(v[1]);
        Py_CLEAR(v[2]);
        return -1;
    }
    return 0;
}

static const char *const HEADER_NAMES[6] = {
    "x-ratelimit-limit-requests", "x-ratelimit-remaining-requests", "x-ratelimit-reset-requests",
    "x-ratelimit-limit-tokens", "x-ratelimit-remaining-tokens", "x-ratelimit-reset-tokens"};

/* A checked take committed and its x-ratelimit-* headers written into `headers` (the texts made before any
 * counter changes); 0, or -1 with an exception. */
static int
headed_commit(PyObject *buckets, PyObject *counts, PyObject *t_obj, PyObject *headers, Take *tk)
{
    PyObject *v[6] = {NULL, NULL, NULL, NULL, NULL, NULL};
    if ((tk->req_limit && header_texts(0, tk->req_limit, tk->req_rem, tk->req_left, v) < 0)
            || (tk->tok_limit && header_texts(1, tk->tok_limit, tk->tok_rem, tk->tok_left, v + 3) < 0)) {
        for (int i = 0; i < 6; i++)
            Py_XDECREF(v[i]);
        return -1;
    }
    static PyObject *names[6]; /* interned once, kept for the process */
    int failed = 0;
    for (int i = 0; i < 6 && !failed; i++)
        if (names[i] == NULL && (names[i] = PyUnicode_InternFromString(HEADER_NAMES[i])) == NULL)
            failed = 1;
    if (!failed && take_commit(buckets, counts, t_obj, tk) < 0)
        failed = 1;
    for (int i = 0; i < 6; i++) {
        if (v[i] == NULL)
            continue;
        if (!failed && PyDict_SetItem(headers, names[i], v[i]) < 0)
            failed = 1;
        Py_DECREF(v[i]);
    }
    return failed ? -1 : 0;
}

/* bucket_take_headed(buckets, counts, rows, tokens, t, headers): bucket_take, and on admission the
 * x-ratelimit-* headers of the most restrictive requests and tokens rows written into the dict
 * `headers` as limits/stage.py RateLimitStage._headers writes them; True. Refused: as bucket_take;
 * None: not handled here, nothing changed (the headers' texts are made before any counter changes). */
PyObject *
native_bucket_take_headed(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    long long tokens;
    double t;
    if (nargs != 6 || !PyDict_CheckExact(args[5])) {
        PyErr_SetString(PyExc_TypeError, "bucket_take_headed(buckets, counts, rows, tokens, t, headers): "
                                         "dict, dict, tuple, int, float, dict expected");
        return NULL;
    }
    int ok = bucket_args(args, 5, "bucket_take_headed(buckets, counts, rows, tokens, t, headers)", &tokens, &t);
    if (ok <= 0)
        return ok < 0 ? NULL : Py_NewRef(Py_None);
    Take tk;
    PyObject *out = NULL;
    int rc = take_check(args[0], args[1], args[2], tokens, t, &tk, &out);
    if (rc <= 0)
        return rc < 0 ? NULL : out;
    if (headed_commit(args[0], args[1], args[4], args[5], &tk) < 0)
        return NULL;
    Py_RETURN_TRUE;
}

/* The rows of a give-back read and checked (nothing changed): 1; 0 when not what the C path handles; -1 with
 * an exception. */
typedef struct {
    Py_ssize_t n;
    char kinds[MAX_ROWS];
    PyObject *keys[MAX_ROWS], *fobjs[MAX_ROWS];
    long long limits[MAX_ROWS];
    double flimits[MAX_ROWS];
} GiveBack;

static int
give_back_check(PyObject *buckets, PyObject *counts, PyObject *rows, long long delta, GiveBack *g)
{
    Py_ssize_t n = g->n = PyTuple_GET_SIZE(rows);
    /* Check every row first: None must leave everything as it was. */
    for (Py_ssize_t j = 0; j < n; j++) {
        if (row_fields(PyTuple_GET_ITEM(rows, j), &g->kinds[j], &g->keys[j], &g->limits[j], &g->flimits[j],
                       &g->fobjs[j]) < 0 || g->kinds[j] == 'r')
            return 0;
        if (g->kinds[j] == 'p') {
            long long cur;
            int rc = count_of(counts, g->keys[j], &cur);
            if (rc == -2)
                return -1;
            if (rc < 0 || cur < -EXACT + 1)
                return 0;
        } else if (delta) {
            PyObject *b = PyDict_GetItemWithError(buckets, g->keys[j]);
            double level, stamp;
            if (b == NULL && PyErr_Occurred())
                return -1;
            if (b != NULL && bucket_fields(b, &level, &stamp) < 0)
                return 0;
        }
    }
    return 1;
}

/* The checked rows of a give-back applied; 0, or -1 with an exception. */
static int
give_back_commit(PyObject *buckets, PyObject *counts, long long delta, double t, PyObject *t_obj, const GiveBack *g)
{
    for (Py_ssize_t j = 0; j < g->n; j++) {
        if (g->kinds[j] == 't') {
            if (!delta)
                continue;
            double limit = (double)g->limits[j], cur;
            PyObject *b = PyDict_GetItemWithError(buckets, g->keys[j]);
            if (b == NULL) {
                if (PyErr_Occurred())
                    return -1;
                cur = g->flimits[j] - (double)delta;
            } else {
                double level, stamp;
                if (bucket_fields(b, &level, &stamp) < 0) { /* (a row earlier in this call wrote floats) */
                    PyErr_SetString(PyExc_ValueError, "bucket_give_back: a bucket changed");
                    return -1;
                }
                double elapsed = t - stamp;
                if (elapsed > 0)
                    level += elapsed * limit / PERIOD;
                cur = (level > limit ? g->flimits[j] : level) - (double)delta;
            }
            if (cur > limit)
                cur = g->flimits[j];
            if (b == NULL) {
                if (new_bucket(buckets, g->keys[j], cur, t_obj, g->fobjs[j]) < 0)
                    return -1;
            } else {
                if (set_float(b, 0, cur) < 0)
                    return -1;
                set_obj(b, 1, t_obj);
            }
        } else {
            long long cur;
            int rc = count_of(counts, g->keys[j], &cur);
            if (rc < 0) {
                if (rc != -2)
                    PyErr_SetString(PyExc_ValueError, "bucket_give_back: a count changed");
                return -1;
            }
            if (cur - 1 > 0) {
                if (set_count(counts, g->keys[j], cur - 1) < 0)
                    return -1;
            } else if (PyDict_DelItem(counts, g->keys[j]) < 0) {
                if (!PyErr_ExceptionMatches(PyExc_KeyError))
                    return -1;
                PyErr_Clear(); /* counts.pop(key, None) */
            }
        }
    }
    return 0;
}

/* bucket_give_back(buckets, counts, rows, token_delta, t): MemoryBackend.give_back's counters
 * (rows: the plan's tokens and parallel rows). True, or None: not handled here, nothing changed. */
PyObject *
native_bucket_give_back(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    long long delta;
    double t;
    int ok = bucket_args(args, nargs, "bucket_give_back(buckets, counts, rows, token_delta, t)", &delta, &t);
    if (ok <= 0)
        return ok < 0 ? NULL : Py_NewRef(Py_None);
    GiveBack g;
    ok = give_back_check(args[0], args[1], args[2], delta, &g);
    if (ok <= 0)
        return ok < 0 ? NULL : Py_NewRef(Py_None);
    if (give_back_commit(args[0], args[1], delta, t, args[4], &g) < 0)
        return NULL;
    Py_RETURN_TRUE;
}

/* ---- budget accounts (limits/memory.py `hold` and `account` on memoised counters) ----------------------
 * A counter is the tuple (period, account, limit) of a _Period (slots base, label, reserved) and an
 * _Account (slots periods, spent); a spend row is (account, periods whose base moves with it). Every int
 * read must be an exact int that fits a long long and every sum must not overflow, and no object may
 * appear twice where it is written: otherwise None, nothing changed, and the Python code runs. The new
 * ints are all made before the first slot is written: a step is all or nothing. */

#define LEDGER_MAX 16

static const char *const PERIOD_NAMES[] = {"base", "label", "reserved"};
static const char *const ACCOUNT_NAMES[] = {"periods", "spent"};
static Slots period_slots, account_slots;

/* An exact int fitting a long long: 0; -1 when it is not (no exception). */
static int
ll_of(PyObject *o, long long *out)
{
    if (o == NULL || !PyLong_CheckExact(o))
        return -1;
    int overflow = 0;
    long long v = PyLong_AsLongLongAndOverflow(o, &overflow);
    if (overflow)
        return -1;
    *out = v;
    return 0;
}

/* The n ints of vs made into outs: 0, or -1 with an exception (none kept). Made before any slot is
 * written, so that a failed allocation leaves every counter as it was. */
static int
make_ints(const long long *vs, Py_ssize_t n, PyObject **outs)
{
    for (Py_ssize_t i = 0; i < n; i++) {
        if ((outs[i] = PyLong_FromLongLong(vs[i])) == NULL) {
            while (i-- > 0)
                Py_DECREF(outs[i]);
            return -1;
        }
    }
    return 0;
}

/* Slot `off` of each of the n objects os set to ints[i] (references taken over). */
static void
put_ints(PyObject *const *os, Py_ssize_t n, Py_ssize_t off, PyObject **ints)
{
    for (Py_ssize_t i = 0; i < n; i++)
        Py_XSETREF(SLOT_AT(os[i], off), ints[i]);
}

/* The classes of the last two arguments checked and their slots found: 1; 0 not handled; -1 exception. */
static int
ledger_classes(PyObject *period_cls, PyObject *account_cls)
{
    if (!PyType_Check(period_cls) || !PyType_Check(account_cls)) {
        PyErr_SetString(PyExc_TypeError, "ledger: the period and account classes expected");
        return -1;
    }
    int rc = native_slots_of(&period_slots, (PyTypeObject *)period_cls, PERIOD_NAMES, 3);
    if (rc > 0)
        rc = native_slots_of(&account_slots, (PyTypeObject *)account_cls, ACCOUNT_NAMES, 2);
    return rc;
}

/* Counter i of `counters` read: its period and account (borrowed) and their ints; 0, or -1 when not handled. */
static int
counter_of(PyObject *counters, Py_ssize_t i, PyObject *period_cls, PyObject *account_cls, PyObject **p,
           PyObject **a, long long *spent, long long *base, long long *reserved, long long *limit)
{
    PyObject *c = PyList_GET_ITEM(counters, i);
    if (!PyTuple_CheckExact(c) || PyTuple_GET_SIZE(c) != 3)
        return -1;
    *p = PyTuple_GET_ITEM(c, 0);
    *a = PyTuple_GET_ITEM(c, 1);
    if ((PyObject *)Py_TYPE(*p) != period_cls || (PyObject *)Py_TYPE(*a) != account_cls)
        return -1;
    if (ll_of(SLOT_AT(*a, account_slots.off[1]), spent) < 0 || ll_of(SLOT_AT(*p, period_slots.off[0]), base) < 0
            || ll_of(SLOT_AT(*p, period_slots.off[2]), reserved) < 0)
        return -1;
    return limit == NULL ? 0 : ll_of(PyTuple_GET_ITEM(c, 2), limit);
}

/* Whether x is among the first n of seen. */
static int
seen_before(PyObject *const *seen, Py_ssize_t n, PyObject *x)
{
    for (Py_ssize_t i = 0; i < n; i++)
        if (seen[i] == x)
            return 1;
    return 0;
}

/* What a hold writes: the new reserved ints made, and the periods whose slots take them; or the counter refusing. */
typedef struct {
    Py_ssize_t n, refused;
    PyObject *ps[LEDGER_MAX], *ints[LEDGER_MAX];
} Hold;

/* A hold on its counters read and checked, and its new ints made (nothing written). `args`: counters (a list),
 * amount, period_cls, account_cls. 1: it holds (ints made); 2: counter h->refused refuses (nothing held); 0: not
 * handled (nothing held); -1 with an exception (nothing held). */
static int
hold_prepare(PyObject *const *args, Hold *h)
{
    int rc = ledger_classes(args[2], args[3]);
    if (rc <= 0)
        return rc;
    PyObject *counters = args[0];
    Py_ssize_t n = PyList_GET_SIZE(counters);
    long long amount, news[LEDGER_MAX] = {0};
    if (n > LEDGER_MAX || ll_of(args[1], &amount) < 0)
        return 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *p, *a;
        long long spent, base, reserved, limit, total;
        if (counter_of(counters, i, args[2], args[3], &p, &a, &spent, &base, &reserved, &limit) < 0
                || seen_before(h->ps, i, p)
                || __builtin_sub_overflow(spent, base, &total) || __builtin_add_overflow(total, reserved, &total)
                || __builtin_add_overflow(total, amount, &total) || __builtin_add_overflow(reserved, amount, &news[i]))
            return 0;
        if (total > limit) {
            h->refused = i;
            return 2;
        }
        h->ps[i] = p;
    }
    if (make_ints(news, n, h->ints) < 0)
        return -1;
    h->n = n;
    return 1;
}

/* ledger_hold(counters, amount, period_cls, account_cls): MemoryBackend.hold on its counters (a list).
 * True: `amount` reserved on every counter; an int i: counter i refuses (spent + reserved + amount above
 * its limit; nothing changed); None: not handled, nothing changed. */
PyObject *
native_ledger_hold(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 4 || !PyList_CheckExact(args[0])) {
        PyErr_SetString(PyExc_TypeError, "ledger_hold(counters, amount, period_cls, account_cls): a list first");
        return NULL;
    }
    Hold h;
    int rc = hold_prepare(args, &h);
    if (rc <= 0)
        return rc < 0 ? NULL : Py_NewRef(Py_None);
    if (rc == 2)
        return PyLong_FromSsize_t(h.refused);
    put_ints(h.ps, h.n, period_slots.off[2], h.ints);
    Py_RETURN_TRUE;
}

/* What a settlement writes: the new ints made, and the objects whose slots take them. */
typedef struct {
    Py_ssize_t n, nr, nb;
    PyObject *ps[LEDGER_MAX], *as[LEDGER_MAX], *bs[LEDGER_MAX];
    PyObject *reserved_ints[LEDGER_MAX], *spent_ints[LEDGER_MAX], *base_ints[LEDGER_MAX];
} Settle;

/* A settlement's counters and spend rows read and checked, and its new ints made (nothing written): 1; 0 when
 * not handled (nothing held); -1 with an exception (nothing held). `args`: counters (a list, or NULL: none),
 * amount, actual, rows (a list), period_cls, account_cls. */
static int
settle_prepare(PyObject *const *args, Settle *st)
{
    int rc = ledger_classes(args[4], args[5]);
    if (rc <= 0)
        return rc;
    PyObject *counters = args[0], *rows = args[3];
    Py_ssize_t n = counters == NULL ? 0 : PyList_GET_SIZE(counters), nr = PyList_GET_SIZE(rows);
    long long amount, actual;
    if (n > LEDGER_MAX || ll_of(args[1], &amount) < 0 || ll_of(args[2], &actual) < 0)
        return 0;
    if (actual == 0)
        nr = 0;
    if (nr > LEDGER_MAX)
        return 0;
    long long reserved_new[LEDGER_MAX], spent_new[LEDGER_MAX], base_new[LEDGER_MAX];
    Py_ssize_t nb = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *p, *a;
        long long spent, base, reserved, left;
        if (counter_of(counters, i, args[4], args[5], &p, &a, &spent, &base, &reserved, NULL) < 0
                || seen_before(st->ps, i, p) || __builtin_sub_overflow(reserved, amount, &left))
            return 0;
        st->ps[i] = p;
        reserved_new[i] = left > 0 ? left : 0;
    }
    for (Py_ssize_t i = 0; i < nr; i++) {
        PyObject *row = PyList_GET_ITEM(rows, i);
        if (!PyTuple_CheckExact(row) || PyTuple_GET_SIZE(row) != 2)
            return 0;
        PyObject *a = PyTuple_GET_ITEM(row, 0), *others = PyTuple_GET_ITEM(row, 1);
        long long spent;
        if ((PyObject *)Py_TYPE(a) != args[5] || !PyTuple_CheckExact(others) || seen_before(st->as, i, a)
                || ll_of(SLOT_AT(a, account_slots.off[1]), &spent) < 0
                || __builtin_add_overflow(spent, actual, &spent_new[i]))
            return 0;
        st->as[i] = a;
        for (Py_ssize_t j = 0; j < PyTuple_GET_SIZE(others); j++) {
            PyObject *p = PyTuple_GET_ITEM(others, j);
            long long base;
            if (nb >= LEDGER_MAX || (PyObject *)Py_TYPE(p) != args[4] || seen_before(st->bs, nb, p)
                    || ll_of(SLOT_AT(p, period_slots.off[0]), &base) < 0
                    || __builtin_add_overflow(base, actual, &base_new[nb]))
                return 0;
            st->bs[nb++] = p;
        }
    }
    if (make_ints(reserved_new, n, st->reserved_ints) < 0)
        return -1;
    if (make_ints(spent_new, nr, st->spent_ints) < 0) {
        for (Py_ssize_t i = 0; i < n; i++)
            Py_DECREF(st->reserved_ints[i]);
        return -1;
    }
    if (make_ints(base_new, nb, st->base_ints) < 0) {
        for (Py_ssize_t i = 0; i < n; i++)
            Py_DECREF(st->reserved_ints[i]);
        for (Py_ssize_t i = 0; i < nr; i++)
            Py_DECREF(st->spent_ints[i]);
        return -1;
    }
    st->n = n, st->nr = nr, st->nb = nb;
    return 1;
}

/* A prepared settlement written (its ints' references taken over by the slots). */
static void
settle_put(Settle *st)
{
    put_ints(st->ps, st->n, period_slots.off[2], st->reserved_ints);
    put_ints(st->as, st->nr, account_slots.off[1], st->spent_ints);
    put_ints(st->bs, st->nb, period_slots.off[0], st->base_ints);
}

/* A prepared settlement dropped unwritten. */
static void
settle_drop(Settle *st)
{
    for (Py_ssize_t i = 0; i < st->n; i++)
        Py_DECREF(st->reserved_ints[i]);
    for (Py_ssize_t i = 0; i < st->nr; i++)
        Py_DECREF(st->spent_ints[i]);
    for (Py_ssize_t i = 0; i < st->nb; i++)
        Py_DECREF(st->base_ints[i]);
}

/* ledger_account(counters, amount, actual, rows, period_cls, account_cls): MemoryBackend.account on its
 * memoised counters and spend rows: the reservation of `amount` released on every counter (not below 0)
 * and, when `actual` is not 0, `actual` added to every row's account and to the base of its periods.
 * True, or None: not handled, nothing changed. */
PyObject *
native_ledger_account(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 6 || !PyList_CheckExact(args[0]) || !PyList_CheckExact(args[3])) {
        PyErr_SetString(PyExc_TypeError,
                        "ledger_account(counters, amount, actual, rows, period_cls, account_cls): lists expected");
        return NULL;
    }
    Settle st;
    int rc = settle_prepare(args, &st);
    if (rc <= 0)
        return rc < 0 ? NULL : Py_NewRef(Py_None);
    settle_put(&st);
    Py_RETURN_TRUE;
}

/* The value memo_dict[id(key)] memoises for `key`: the entry (key, generation, value) or, gen NULL, (key, value),
 * when its first item is `key` itself and its generation is `gen`'s; NULL when there is none such (no exception),
 * and with an exception when the look-up failed. Borrowed. */
static PyObject *
memo_value(PyObject *memo, PyObject *key, PyObject *gen)
{
    PyObject *id = PyLong_FromVoidPtr(key); /* id(key) */
    if (id == NULL)
        return NULL;
    PyObject *e = PyDict_GetItemWithError(memo, id);
    Py_DECREF(id);
    if (e == NULL || !PyTuple_CheckExact(e) || PyTuple_GET_SIZE(e) != (gen == NULL ? 2 : 3)
            || PyTuple_GET_ITEM(e, 0) != key)
        return NULL;
    if (gen != NULL) {
        long long g, mine;
        if (ll_of(gen, &g) < 0 || ll_of(PyTuple_GET_ITEM(e, 1), &mine) < 0 || g != mine)
            return NULL;
    }
    return PyTuple_GET_ITEM(e, gen == NULL ? 1 : 2);
}

/* bucket_conclude(buckets, counts, plans, slot_memo, spend_memo, generation, scopes, token_delta, t, reserved,
 * amount, actual, spend, period_cls, account_cls): MemoryBackend.give_back then MemoryBackend.account, in one
 * call and all or nothing, on the plan of `scopes` and the counters of `reserved` and spend rows of `spend` the
 * backend memoised (dicts by id: `_plans`, and `_slot_memo` and `_spend_memo` of the current `generation`;
 * `reserved` empty needs no counters): True when both ran; None when any memo is missing or not current, or
 * either step is not handled here, and then nothing changed (the caller runs both steps its own way).
 * Everything is read and checked, and the settlement's new ints made, before the first counter changes. */
PyObject *
native_bucket_conclude(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 15 || !PyDict_CheckExact(args[2]) || !PyDict_CheckExact(args[3]) || !PyDict_CheckExact(args[4])) {
        PyErr_SetString(PyExc_TypeError, "bucket_conclude(buckets, counts, plans, slot_memo, spend_memo, generation, "
                                         "scopes, token_delta, t, reserved, amount, actual, spend, period_cls, "
                                         "account_cls): dicts expected");
        return NULL;
    }
    PyObject *plan = memo_value(args[2], args[6], NULL);
    if (plan == NULL || !PyTuple_CheckExact(plan) || PyTuple_GET_SIZE(plan) != 2)
        return PyErr_Occurred() ? NULL : Py_NewRef(Py_None);
    PyObject *counters = NULL, *reserved = args[9];
    if (!PyTuple_CheckExact(reserved) || PyTuple_GET_SIZE(reserved) > 0) {
        counters = memo_value(args[3], reserved, args[5]);
        if (counters == NULL || !PyList_CheckExact(counters))
            return PyErr_Occurred() ? NULL : Py_NewRef(Py_None);
    }
    PyObject *rows = memo_value(args[4], args[12], args[5]);
    if (rows == NULL || !PyList_CheckExact(rows))
        return PyErr_Occurred() ? NULL : Py_NewRef(Py_None);
    PyObject *bargs[5] = {args[0], args[1], PyTuple_GET_ITEM(plan, 1), args[7], args[8]};
    long long delta;
    double t;
    int ok = bucket_args(bargs, 5, "bucket_conclude(buckets, counts, ...)", &delta, &t);
    if (ok <= 0)
        return ok < 0 ? NULL : Py_NewRef(Py_None);
    GiveBack g;
    ok = give_back_check(args[0], args[1], bargs[2], delta, &g);
    if (ok <= 0)
        return ok < 0 ? NULL : Py_NewRef(Py_None);
    PyObject *sargs[6] = {counters, args[10], args[11], rows, args[13], args[14]};
    Settle st;
    ok = settle_prepare(sargs, &st);
    if (ok <= 0)
        return ok < 0 ? NULL : Py_NewRef(Py_None);
    if (give_back_commit(args[0], args[1], delta, t, args[8], &g) < 0) {
        settle_drop(&st); /* (as give_back raising before account ran) */
        return NULL;
    }
    settle_put(&st);
    Py_RETURN_TRUE;
}

/* bucket_admit(buckets, counts, plans, slot_memo, generation, scopes, tokens, t, headers, slots, amount,
 * period_cls, account_cls): MemoryBackend.take_headed then MemoryBackend.hold, in one call, on the plan of
 * `scopes` and the counters of `slots` the backend memoised (`_plans`, and `_slot_memo` of the current
 * `generation`). True: the take admitted (its headers written) and `amount` held; an int i: the take admitted
 * (its headers written) and budget counter i refused the hold (nothing held); None: a memo missing or not
 * current, the take refused, or either step not handled here, and then nothing changed (the caller runs both
 * steps its own way). Everything is checked, and the new texts and ints made, before the first counter changes. */
PyObject *
native_bucket_admit(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 13 || !PyDict_CheckExact(args[2]) || !PyDict_CheckExact(args[3]) || !PyDict_CheckExact(args[8])) {
        PyErr_SetString(PyExc_TypeError, "bucket_admit(buckets, counts, plans, slot_memo, generation, scopes, tokens, "
                                         "t, headers, slots, amount, period_cls, account_cls): dicts expected");
        return NULL;
    }
    PyObject *plan = memo_value(args[2], args[5], NULL);
    if (plan == NULL || !PyTuple_CheckExact(plan) || PyTuple_GET_SIZE(plan) != 2)
        return PyErr_Occurred() ? NULL : Py_NewRef(Py_None);
    PyObject *counters = memo_value(args[3], args[9], args[4]);
    if (counters == NULL || !PyList_CheckExact(counters))
        return PyErr_Occurred() ? NULL : Py_NewRef(Py_None);
    PyObject *bargs[5] = {args[0], args[1], PyTuple_GET_ITEM(plan, 0), args[6], args[7]};
    long long tokens;
    double t;
    int ok = bucket_args(bargs, 5, "bucket_admit(buckets, counts, ...)", &tokens, &t);
    if (ok <= 0)
        return ok < 0 ? NULL : Py_NewRef(Py_None);
    Take tk;
    PyObject *out = NULL;
    ok = take_check(args[0], args[1], bargs[2], tokens, t, &tk, &out);
    if (ok <= 0) {
        if (ok < 0)
            return NULL;
        Py_DECREF(out); /* refused (or not handled): the caller's take says how */
        Py_RETURN_NONE;
    }
    PyObject *hargs[4] = {counters, args[10], args[11], args[12]};
    Hold h;
    int held = hold_prepare(hargs, &h);
    if (held <= 0)
        return held < 0 ? NULL : Py_NewRef(Py_None);
    if (headed_commit(args[0], args[1], args[7], args[8], &tk) < 0) {
        if (held == 1)
            for (Py_ssize_t i = 0; i < h.n; i++)
                Py_DECREF(h.ints[i]);
        return NULL;
    }
    if (held == 2)
        return PyLong_FromSsize_t(h.refused);
    put_ints(h.ps, h.n, period_slots.off[2], h.ints);
    Py_RETURN_TRUE;
}
