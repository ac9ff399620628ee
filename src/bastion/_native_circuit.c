/* bastion._native.circuit_core: providers/circuit.py's `CircuitBreaker` state machine in C, for the router.
 *
 *   circuit_core(config, name, clock) -> CircuitCore
 *       `config` a CircuitConfig (its fields read once), `clock` a callable giving monotonic seconds (a float, or
 *       an int: read as a double). The object answers what the router and the metrics ask of a breaker:
 *       admit(), admit_forced(), succeeded(), settle(kind, ok), release(kind), record_failure(), retry_after(),
 *       window(), state, opened_total, name, config; each decides as `CircuitBreaker`'s method of that name
 *       (the Python class is the reference: tests/unit/providers/test_circuit_native.py holds them equal under
 *       any sequence of calls and clock steps), reading the clock as often and in the same order. A success of
 *       the closed circuit, every request's, is one C call (~0.1k instructions, the Python one ~2.7k).
 *   A clock that raises, or gives what is not a number, raises from the call; a reading whose epoch (the clock
 *   over the window's bucket width) does not fit 63 bits raises OverflowError where Python would go on with a
 *   big int (circuit.py gives the C core only time.monotonic).
 */
#include "_native.h"
#include <structmember.h>

#define BUCKETS 10
#define CLOSED 0 /* STATE_VALUES: closed 0, half_open 1, open 2 */
#define HALF_OPEN 1
#define OPEN 2
#define FREE 0 /* the kinds of call admit() lets through (circuit.py) */
#define CALL 1
#define PROBE 2

typedef struct {
    PyObject_HEAD
    PyObject *config, *name, *clock;
    int enabled, state;
    long long consecutive_failures, min_calls, half_open_probes;
    double failure_rate, cooldown, width;
    long long consecutive, probes, opened_total;
    double opened_at;
    long long epochs[BUCKETS], calls[BUCKETS], failures[BUCKETS];
} Core;

static PyObject *state_names[3]; /* "closed", "half_open", "open" (interned) */

/* The clock's reading; -1 with an exception (check PyErr_Occurred). */
static int
now(Core *c, double *out)
{
    PyObject *v = PyObject_CallNoArgs(c->clock);
    if (v == NULL)
        return -1;
    double t = PyFloat_AsDouble(v);
    Py_DECREF(v);
    if (t == -1.0 && PyErr_Occurred())
        return -1;
    *out = t; /* (untouched on an error: what Python's assignment would leave) */
    return 0;
}

/* int(clock() / width); -1 with an exception. */
static int
epoch_now(Core *c, long long *out)
{
    double t;
    if (now(c, &t) < 0)
        return -1;
    double q = t / c->width;
    if (!(q > -9.2e18 && q < 9.2e18)) {
        PyErr_SetString(PyExc_OverflowError, "circuit_core: the clock's epoch does not fit 63 bits");
        return -1;
    }
    *out = (long long)q; /* truncation toward zero, as int() */
    return 0;
}

static int
bucket_of(long long epoch)
{
    int i = (int)(epoch % BUCKETS);
    return i < 0 ? i + BUCKETS : i;
}

static int
count(Core *c, int ok)
{
    long long e;
    if (epoch_now(c, &e) < 0)
        return -1;
    int i = bucket_of(e);
    if (c->epochs[i] != e) {
        c->epochs[i] = e;
        c->calls[i] = 0;
        c->failures[i] = 0;
    }
    c->calls[i] += 1;
    if (!ok)
        c->failures[i] += 1;
    return 0;
}

static int
window(Core *c, long long *calls, long long *failures)
{
    long long e;
    if (epoch_now(c, &e) < 0)
        return -1;
    *calls = *failures = 0;
    for (int i = 0; i < BUCKETS; i++)
        if (e - c->epochs[i] < BUCKETS) {
            *calls += c->calls[i];
            *failures += c->failures[i];
        }
    return 0;
}

static int
open_(Core *c)
{
    c->state = OPEN;
    if (now(c, &c->opened_at) < 0)
        return -1;
    c->probes = 0;
    c->opened_total += 1;
    return 0;
}

static void
close_(Core *c)
{
    c->state = CLOSED;
    c->consecutive = 0;
    c->probes = 0;
    for (int i = 0; i < BUCKETS; i++) {
        c->epochs[i] = -1;
        c->calls[i] = 0;
        c->failures[i] = 0;
    }
}

static int
on_result(Core *c, int probe, int ok)
{
    if (probe) {
        c->probes = c->probes > 1 ? c->probes - 1 : 0;
        if (c->state != HALF_OPEN)
            return 0;
        if (ok) {
            close_(c);
            return 0;
        }
        return open_(c);
    }
    if (c->state != CLOSED)
        return 0;
    if (count(c, ok) < 0)
        return -1;
    if (ok) {
        c->consecutive = 0;
        return 0;
    }
    c->consecutive += 1;
    if (c->consecutive >= c->consecutive_failures)
        return open_(c);
    long long calls, failures;
    if (window(c, &calls, &failures) < 0)
        return -1;
    if (calls >= c->min_calls && (double)failures >= c->failure_rate * (double)calls)
        return open_(c);
    return 0;
}

static PyObject *
done(int rc)
{
    if (rc < 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *
core_admit(PyObject *self, PyObject *unused)
{
    Core *c = (Core *)self;
    if (!c->enabled)
        return PyLong_FromLong(FREE);
    if (c->state == CLOSED)
        return PyLong_FromLong(CALL);
    if (c->state == OPEN) {
        double t;
        if (now(c, &t) < 0)
            return NULL;
        if (t < c->opened_at + c->cooldown)
            Py_RETURN_NONE;
        c->state = HALF_OPEN;
        c->probes = 0;
    }
    if (c->probes >= c->half_open_probes)
        Py_RETURN_NONE;
    c->probes += 1;
    return PyLong_FromLong(PROBE);
}

static PyObject *
core_admit_forced(PyObject *self, PyObject *unused)
{
    Core *c = (Core *)self;
    if (!c->enabled)
        return PyLong_FromLong(FREE);
    if (c->state == CLOSED)
        return PyLong_FromLong(CALL);
    c->state = HALF_OPEN;
    c->probes += 1;
    return PyLong_FromLong(PROBE);
}

static int
succeeded(Core *c)
{
    if (c->state != CLOSED)
        return 0;
    if (count(c, 1) < 0)
        return -1;
    c->consecutive = 0;
    return 0;
}

static PyObject *
core_succeeded(PyObject *self, PyObject *unused)
{
    return done(succeeded((Core *)self));
}

/* A kind argument as `kind == CALL` / `kind == PROBE` read it: CALL, PROBE or -1 (neither); -2 with an exception. */
static long
kind_arg(PyObject *obj)
{
    if (PyLong_CheckExact(obj)) {
        int overflow;
        long k = PyLong_AsLongAndOverflow(obj, &overflow);
        return overflow || (k != CALL && k != PROBE) ? -1 : k;
    }
    long kinds[2] = {CALL, PROBE};
    for (int i = 0; i < 2; i++) {
        PyObject *n = PyLong_FromLong(kinds[i]);
        if (n == NULL)
            return -2;
        int eq = PyObject_RichCompareBool(obj, n, Py_EQ);
        Py_DECREF(n);
        if (eq < 0)
            return -2;
        if (eq)
            return kinds[i];
    }
    return -1;
}

static PyObject *
core_settle(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "settle(kind, ok)");
        return NULL;
    }
    long kind = kind_arg(args[0]);
    if (kind == -2)
        return NULL;
    int ok = PyObject_IsTrue(args[1]);
    if (ok < 0)
        return NULL;
    Core *c = (Core *)self;
    if (kind == CALL)
        return done(ok ? succeeded(c) : on_result(c, 0, 0));
    if (kind == PROBE)
        return done(on_result(c, 1, ok));
    Py_RETURN_NONE;
}

static PyObject *
core_release(PyObject *self, PyObject *kind)
{
    long k = kind_arg(kind);
    if (k == -2)
        return NULL;
    Core *c = (Core *)self;
    if (k == PROBE)
        c->probes = c->probes > 1 ? c->probes - 1 : 0;
    Py_RETURN_NONE;
}

static PyObject *
core_record_failure(PyObject *self, PyObject *unused)
{
    Core *c = (Core *)self;
    return done(c->enabled ? on_result(c, 0, 0) : 0);
}

static PyObject *
core_retry_after(PyObject *self, PyObject *unused)
{
    Core *c = (Core *)self;
    if (c->state != OPEN)
        return PyFloat_FromDouble(0.0);
    double t;
    if (now(c, &t) < 0)
        return NULL;
    double left = c->opened_at + c->cooldown - t;
    return PyFloat_FromDouble(left > 0.0 ? left : 0.0);
}

static PyObject *
core_window(PyObject *self, PyObject *unused)
{
    long long calls, failures;
    if (window((Core *)self, &calls, &failures) < 0)
        return NULL;
    return Py_BuildValue("(LL)", calls, failures);
}

static PyObject *
core_state(PyObject *self, void *closure)
{
    Core *c = (Core *)self;
    if (c->state == OPEN) {
        double t;
        if (now(c, &t) < 0)
            return NULL;
        if (t >= c->opened_at + c->cooldown)
            return Py_NewRef(state_names[HALF_OPEN]);
    }
    return Py_NewRef(state_names[c->state]);
}

/* (state as stored, consecutive, opened_at, probes, epochs, calls, failures, opened_total): for the test that
 * holds this equal to the Python breaker. */
static PyObject *
core_internals(PyObject *self, PyObject *unused)
{
    Core *c = (Core *)self;
    PyObject *lists[3] = {PyList_New(BUCKETS), PyList_New(BUCKETS), PyList_New(BUCKETS)};
    PyObject *out = NULL;
    if (lists[0] == NULL || lists[1] == NULL || lists[2] == NULL)
        goto end;
    for (int i = 0; i < BUCKETS; i++) {
        long long v[3] = {c->epochs[i], c->calls[i], c->failures[i]};
        for (int k = 0; k < 3; k++) {
            PyObject *n = PyLong_FromLongLong(v[k]);
            if (n == NULL)
                goto end;
            PyList_SET_ITEM(lists[k], i, n);
        }
    }
    out = Py_BuildValue("(OLdLOOOL)", state_names[c->state], c->consecutive, c->opened_at, c->probes, lists[0],
                        lists[1], lists[2], c->opened_total);
end:
    for (int k = 0; k < 3; k++)
        Py_XDECREF(lists[k]);
    return out;
}

static void
core_dealloc(PyObject *self)
{
    Core *c = (Core *)self;
    PyObject_GC_UnTrack(self);
    Py_CLEAR(c->config);
    Py_CLEAR(c->name);
    Py_CLEAR(c->clock);
    Py_TYPE(self)->tp_free(self);
}

static int
core_traverse(PyObject *self, visitproc visit, void *arg)
{
    Core *c = (Core *)self;
    Py_VISIT(c->config);
    Py_VISIT(c->name);
    Py_VISIT(c->clock);
    return 0;
}

static int
core_clear(PyObject *self)
{
    Core *c = (Core *)self;
    Py_CLEAR(c->config);
    Py_CLEAR(c->name);
    Py_CLEAR(c->clock);
    return 0;
}

static PyMethodDef core_methods[] = {
    {"admit", core_admit, METH_NOARGS, "CircuitBreaker.admit: None while refusing, else the call's kind."},
    {"admit_forced", core_admit_forced, METH_NOARGS, "CircuitBreaker.admit_forced: the call's kind."},
    {"succeeded", core_succeeded, METH_NOARGS, "CircuitBreaker.succeeded: a call of the closed circuit succeeded."},
    {"settle", (PyCFunction)(void (*)(void))core_settle, METH_FASTCALL, "CircuitBreaker.settle(kind, ok)."},
    {"release", core_release, METH_O, "CircuitBreaker.release(kind)."},
    {"record_failure", core_record_failure, METH_NOARGS, "CircuitBreaker.record_failure()."},
    {"retry_after", core_retry_after, METH_NOARGS, "CircuitBreaker.retry_after()."},
    {"window", core_window, METH_NOARGS, "CircuitBreaker.window(): (calls, failures) within the window."},
    {"_internals", core_internals, METH_NOARGS, "The state as stored (for tests)."},
    {NULL, NULL, 0, NULL},
};

static PyMemberDef core_members[] = {
    {"config", T_OBJECT, offsetof(Core, config), READONLY, NULL},
    {"name", T_OBJECT, offsetof(Core, name), READONLY, NULL},
    {"opened_total", T_LONGLONG, offsetof(Core, opened_total), READONLY, NULL},
    {NULL, 0, 0, 0, NULL},
};

static PyGetSetDef core_getset[] = {
    {"state", core_state, NULL, "CircuitBreaker.state", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject CoreType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "bastion._native.CircuitCore",
    .tp_basicsize = sizeof(Core),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_dealloc = core_dealloc,
    .tp_traverse = core_traverse,
    .tp_clear = core_clear,
    .tp_methods = core_methods,
    .tp_members = core_members,
    .tp_getset = core_getset,
    .tp_doc = "providers/circuit.py's CircuitBreaker in C (bastion._native.circuit_core).",
};

/* getattr(config, name) as a C number; -1 with an exception. */
static int
config_ll(PyObject *config, const char *name, long long *out)
{
    PyObject *v = PyObject_GetAttrString(config, name);
    if (v == NULL)
        return -1;
    *out = PyLong_AsLongLong(v);
    Py_DECREF(v);
    return *out == -1 && PyErr_Occurred() ? -1 : 0;
}

static int
config_double(PyObject *config, const char *name, double *out)
{
    PyObject *v = PyObject_GetAttrString(config, name);
    if (v == NULL)
        return -1;
    *out = PyFloat_AsDouble(v);
    Py_DECREF(v);
    return *out == -1.0 && PyErr_Occurred() ? -1 : 0;
}

PyObject *
native_circuit_core(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3 || !PyCallable_Check(args[2])) {
        PyErr_SetString(PyExc_TypeError, "circuit_core(config, name, clock)");
        return NULL;
    }
    if (state_names[0] == NULL) {
        const char *names[3] = {"closed", "half_open", "open"};
        for (int i = 0; i < 3; i++)
            if ((state_names[i] = PyUnicode_InternFromString(names[i])) == NULL)
                return NULL;
    }
    if (PyType_Ready(&CoreType) < 0)
        return NULL;
    PyObject *config = args[0];
    PyObject *enabled = PyObject_GetAttrString(config, "enabled");
    if (enabled == NULL)
        return NULL;
    int on = PyObject_IsTrue(enabled);
    Py_DECREF(enabled);
    if (on < 0)
        return NULL;
    Core *c = PyObject_GC_New(Core, &CoreType);
    if (c == NULL)
        return NULL;
    c->config = Py_NewRef(config);
    c->name = Py_NewRef(args[1]);
    c->clock = Py_NewRef(args[2]);
    c->enabled = on;
    c->opened_at = 0.0;
    c->opened_total = 0;
    close_(c);
    double window_seconds;
    if (config_ll(config, "consecutive_failures", &c->consecutive_failures) < 0
        || config_ll(config, "min_calls", &c->min_calls) < 0
        || config_ll(config, "half_open_probes", &c->half_open_probes) < 0
        || config_double(config, "failure_rate", &c->failure_rate) < 0
        || config_double(config, "cooldown_seconds", &c->cooldown) < 0
        || config_double(config, "window_seconds", &window_seconds) < 0) {
        PyObject_GC_Track((PyObject *)c);
        Py_DECREF(c);
        return NULL;
    }
    c->width = window_seconds / BUCKETS;
    PyObject_GC_Track((PyObject *)c);
    return (PyObject *)c;
}
