/* limits/estimate.py `_measure` in C for the usual chat request: the UTF-8 bytes of every text the model
 * reads, its messages and its images, where every text is an ASCII str (its length is its bytes) in a
 * plain text part, with no tool calls, thinking, tools or images. Anything else (a shape, a subclass, a
 * non-ASCII text, an unset slot) returns None and the Python code measures it. Reads only: nothing changes.
 *
 * The classes are slotted: their attributes are read at the offsets of their member descriptors, found
 * once per class (a class is kept referenced with its offsets, so its address cannot be reused). */
#include "_native.h"
#include <structmember.h>

/* The offsets of `names` (n of them, at most SLOTS_MAX) in `type`, kept in *c: 1; 0 when some name is
 * not a plain object slot of the class (the caller returns None); -1 with an exception. */
int
native_slots_of(Slots *c, PyTypeObject *type, const char *const *names, int n)
{
    if (c->type == type)
        return 1;
    Py_ssize_t off[SLOTS_MAX];
    if (n > SLOTS_MAX)
        return 0;
    for (int i = 0; i < n; i++) {
        PyObject *name = PyUnicode_InternFromString(names[i]);
        if (name == NULL)
            return -1;
        PyObject *d = _PyType_Lookup(type, name); /* borrowed */
        Py_DECREF(name);
        if (d == NULL || !Py_IS_TYPE(d, &PyMemberDescr_Type)
                || ((PyMemberDescrObject *)d)->d_member->type != T_OBJECT_EX
                || (((PyMemberDescrObject *)d)->d_member->flags & READONLY)
                || !PyType_IsSubtype(type, PyDescr_TYPE(d)))
            return 0;
        off[i] = ((PyMemberDescrObject *)d)->d_member->offset;
    }
    Py_XSETREF(c->type, (PyTypeObject *)Py_NewRef(type));
    memcpy(c->off, off, sizeof off);
    return 1;
}

/* The bytes of the ASCII texts of `parts` (a list of exact `text_part` instances whose `text` slot is at
 * `off`) added to *size: 0; 1 when some part or text is not that. */
static int
text_sizes(PyObject *parts, PyTypeObject *text_part, Py_ssize_t off, long long *size)
{
    if (!PyList_CheckExact(parts))
        return 1;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(parts); i++) {
        PyObject *p = PyList_GET_ITEM(parts, i);
        if (Py_TYPE(p) != text_part)
            return 1;
        PyObject *t = SLOT_AT(p, off);
        if (t == NULL || !PyUnicode_CheckExact(t) || !PyUnicode_IS_ASCII(t))
            return 1;
        *size += PyUnicode_GET_LENGTH(t);
    }
    return 0;
}

/* The texts of a chat request measured as `_measure` does: 1 with *size and *count set; 0 when not what this
 * code handles (the caller returns None); -1 with an exception. */
static int
measure_chat(PyObject *request, PyTypeObject *text_part, PyTypeObject *message, long long *size_out,
             Py_ssize_t *count_out)
{
    static Slots req_slots, msg_slots, part_slots;
    static const char *const req_names[] = {"system", "messages", "tools"};
    static const char *const msg_names[] = {"content", "tool_calls", "thinking"};
    static const char *const part_names[] = {"text"};
    int rc;
    if ((rc = native_slots_of(&req_slots, Py_TYPE(request), req_names, 3)) <= 0
            || (rc = native_slots_of(&msg_slots, message, msg_names, 3)) <= 0
            || (rc = native_slots_of(&part_slots, text_part, part_names, 1)) <= 0)
        return rc;
    PyObject *system = SLOT_AT(request, req_slots.off[0]), *messages = SLOT_AT(request, req_slots.off[1]);
    PyObject *tools = SLOT_AT(request, req_slots.off[2]);
    if (tools == NULL || !PyList_CheckExact(tools) || PyList_GET_SIZE(tools) != 0
            || messages == NULL || !PyList_CheckExact(messages) || system == NULL)
        return 0;
    long long size = 0;
    Py_ssize_t off = part_slots.off[0];
    if (text_sizes(system, text_part, off, &size) != 0)
        return 0;
    Py_ssize_t count = PyList_GET_SIZE(messages);
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *m = PyList_GET_ITEM(messages, i);
        if (Py_TYPE(m) != message)
            return 0;
        PyObject *content = SLOT_AT(m, msg_slots.off[0]), *calls = SLOT_AT(m, msg_slots.off[1]);
        PyObject *thinking = SLOT_AT(m, msg_slots.off[2]);
        if (content == NULL || calls == NULL || !PyList_CheckExact(calls) || PyList_GET_SIZE(calls) != 0
                || thinking == NULL || !PyList_CheckExact(thinking) || PyList_GET_SIZE(thinking) != 0
                || text_sizes(content, text_part, off, &size) != 0)
            return 0;
    }
    *size_out = size;
    *count_out = count;
    return 1;
}

static int
classes_args(PyObject *const *args, const char *usage)
{
    if (!PyType_Check(args[1]) || !PyType_Check(args[2])) {
        PyErr_Format(PyExc_TypeError, "%s: an object and two classes expected", usage);
        return -1;
    }
    return 0;
}

/* measure_texts(request, text_part, message): (size, messages, 0) as `_measure` gives it, or None. */
PyObject *
native_measure_texts(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "measure_texts(request, text_part, message): three arguments expected");
        return NULL;
    }
    if (classes_args(args, "measure_texts(request, text_part, message)") < 0)
        return NULL;
    long long size;
    Py_ssize_t count;
    int rc = measure_chat(args[0], (PyTypeObject *)args[1], (PyTypeObject *)args[2], &size, &count);
    if (rc <= 0)
        return rc < 0 ? NULL : Py_NewRef(Py_None);
    return Py_BuildValue("(Lni)", size, count, 0);
}

/* An exact int that fits a long long (0 when the object is None): 1; 0 when not (the caller returns None). */
static int
small_int(PyObject *o, long long *out)
{
    if (o == Py_None) {
        *out = 0;
        return 1;
    }
    if (!PyLong_CheckExact(o))
        return 0;
    int overflow;
    long long v = PyLong_AsLongLongAndOverflow(o, &overflow);
    if (overflow || (v == -1 && PyErr_Occurred())) {
        PyErr_Clear();
        return 0;
    }
    *out = v;
    return 1;
}

/* estimate_chat(request, text_part, message, default_max_output, make): limits/estimate.py
 * `estimate_request` of a chat request `measure_texts` measures (no tools, no images), made with
 * make(input, output, bound); None when not handled here (nothing else: the Python code estimates it). */
PyObject *
native_estimate_chat(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    static Slots out_slots;
    static const char *const out_names[] = {"max_tokens", "n"};
    if (nargs != 5) {
        PyErr_SetString(PyExc_TypeError,
                        "estimate_chat(request, text_part, message, default_max_output, make): five arguments expected");
        return NULL;
    }
    if (classes_args(args, "estimate_chat(request, text_part, message, default_max_output, make)") < 0)
        return NULL;
    PyObject *request = args[0];
    long long size, max_tokens, n, dflt;
    Py_ssize_t count;
    int rc = native_slots_of(&out_slots, Py_TYPE(request), out_names, 2);
    if (rc <= 0)
        return rc < 0 ? NULL : Py_NewRef(Py_None);
    PyObject *mt = SLOT_AT(request, out_slots.off[0]), *no = SLOT_AT(request, out_slots.off[1]);
    if (mt == NULL || no == NULL || !small_int(mt, &max_tokens) || !small_int(no, &n)
            || args[3] == Py_None || !small_int(args[3], &dflt))
        Py_RETURN_NONE;
    rc = measure_chat(request, (PyTypeObject *)args[1], (PyTypeObject *)args[2], &size, &count);
    if (rc <= 0)
        return rc < 0 ? NULL : Py_NewRef(Py_None);
    long long out = max_tokens > 0 ? max_tokens : dflt; /* (None read as 0: the default) */
    if (n > 1 && __builtin_mul_overflow(out, n, &out))
        Py_RETURN_NONE;
    if (size > (1LL << 60) || count > (1LL << 40))
        Py_RETURN_NONE;
    /* PER_MESSAGE_TOKENS 4; PER_REQUEST_BOUND 16, PER_MESSAGE_BOUND 8 (no images, no tools here) */
    long long input = (size + 3) / 4 + (long long)count * 4;
    long long vals[3] = {input > 1 ? input : 1, out, size + 16 + (long long)count * 8};
    PyObject *made[3];
    for (int i = 0; i < 3; i++) {
        made[i] = PyLong_FromLongLong(vals[i]);
        if (made[i] == NULL) {
            for (int j = 0; j < i; j++)
                Py_DECREF(made[j]);
            return NULL;
        }
    }
    PyObject *est = PyObject_Vectorcall(args[4], made, 3, NULL);
    for (int i = 0; i < 3; i++)
        Py_DECREF(made[i]);
    return est;
}
