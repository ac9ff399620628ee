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

/* measure_texts(request, text_part, message): (size, messages, 0) as `_measure` gives it, or None. */
PyObject *
native_measure_texts(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    static Slots req_slots, msg_slots, part_slots;
    static const char *const req_names[] = {"system", "messages", "tools"};
    static const char *const msg_names[] = {"content", "tool_calls", "thinking"};
    static const char *const part_names[] = {"text"};
    if (nargs != 3 || !PyType_Check(args[1]) || !PyType_Check(args[2])) {
        PyErr_SetString(PyExc_TypeError, "measure_texts(request, text_part, message): an object and two classes expected");
        return NULL;
    }
    PyObject *request = args[0];
    PyTypeObject *text_part = (PyTypeObject *)args[1], *message = (PyTypeObject *)args[2];
    int rc;
    if ((rc = native_slots_of(&req_slots, Py_TYPE(request), req_names, 3)) <= 0
            || (rc = native_slots_of(&msg_slots, message, msg_names, 3)) <= 0
            || (rc = native_slots_of(&part_slots, text_part, part_names, 1)) <= 0)
        return rc < 0 ? NULL : Py_NewRef(Py_None);
    PyObject *system = SLOT_AT(request, req_slots.off[0]), *messages = SLOT_AT(request, req_slots.off[1]);
    PyObject *tools = SLOT_AT(request, req_slots.off[2]);
    if (tools == NULL || !PyList_CheckExact(tools) || PyList_GET_SIZE(tools) != 0
            || messages == NULL || !PyList_CheckExact(messages) || system == NULL)
        Py_RETURN_NONE;
    long long size = 0;
    Py_ssize_t off = part_slots.off[0];
    if (text_sizes(system, text_part, off, &size) != 0)
        Py_RETURN_NONE;
    Py_ssize_t count = PyList_GET_SIZE(messages);
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *m = PyList_GET_ITEM(messages, i);
        if (Py_TYPE(m) != message)
            Py_RETURN_NONE;
        PyObject *content = SLOT_AT(m, msg_slots.off[0]), *calls = SLOT_AT(m, msg_slots.off[1]);
        PyObject *thinking = SLOT_AT(m, msg_slots.off[2]);
        if (content == NULL || calls == NULL || !PyList_CheckExact(calls) || PyList_GET_SIZE(calls) != 0
                || thinking == NULL || !PyList_CheckExact(thinking) || PyList_GET_SIZE(thinking) != 0
                || text_sizes(content, text_part, off, &size) != 0)
            Py_RETURN_NONE;
    }
    return Py_BuildValue("(Lni)", size, count, 0);
}
