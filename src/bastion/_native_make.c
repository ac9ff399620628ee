/* bastion._native.slot_maker: instances of a slotted class made without calling the class (core/makers.py).
 *
 *   slot_maker(cls, names) -> maker
 *       `names` (a tuple of at most 32 distinct str) must each be a plain object slot (T_OBJECT_EX, writable)
 *       of `cls`, a class whose instances have no __dict__ (TypeError otherwise). `maker(v0, v1, ...)`,
 *       with exactly one positional argument per name, allocates an instance of `cls` (cls->tp_alloc) and
 *       stores each value in its name's slot: neither __new__ nor __init__ runs, so the caller passes every
 *       field the class's __init__ would set, as it would set it. A class call with a Python __init__ costs
 *       ~1.7-4k instructions in CPython 3.11; this ~0.3k.
 */
#include "_native.h"
#include <structmember.h>

#define MAKER_MAX 32

typedef struct {
    PyObject_HEAD
    vectorcallfunc vectorcall;
    PyTypeObject *cls;  /* a strong reference */
    Py_ssize_t n;
    Py_ssize_t offsets[MAKER_MAX];
} Maker;

static PyObject *
maker_vectorcall(PyObject *self, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    Maker *m = (Maker *)self;
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    if (nargs != m->n || (kwnames != NULL && PyTuple_GET_SIZE(kwnames) != 0)) {
        PyErr_Format(PyExc_TypeError, "the maker of %s takes exactly %zd positional arguments (%zd given)",
                     m->cls->tp_name, m->n, nargs);
        return NULL;
    }
    PyObject *obj = m->cls->tp_alloc(m->cls, 0);
    if (obj == NULL)
        return NULL;
    for (Py_ssize_t i = 0; i < nargs; i++)
        *(PyObject **)((char *)obj + m->offsets[i]) = Py_NewRef(args[i]);
    return obj;
}

static void
maker_dealloc(PyObject *self)
{
    Py_XDECREF(((Maker *)self)->cls);
    Py_TYPE(self)->tp_free(self);
}

static PyObject *
maker_repr(PyObject *self)
{
    return PyUnicode_FromFormat("<slot maker of %s>", ((Maker *)self)->cls->tp_name);
}

static PyTypeObject MakerType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "bastion._native.SlotMaker",
    .tp_basicsize = sizeof(Maker),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_VECTORCALL,
    .tp_vectorcall_offset = offsetof(Maker, vectorcall),
    .tp_call = PyVectorcall_Call,
    .tp_dealloc = maker_dealloc,
    .tp_repr = maker_repr,
    .tp_doc = "maker(*values): an instance of the class with its slots set (bastion._native.slot_maker).",
};

PyObject *
native_slot_maker(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2 || !PyType_Check(args[0]) || !PyTuple_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "slot_maker(cls, names): a class and a tuple of names");
        return NULL;
    }
    if (PyType_Ready(&MakerType) < 0)
        return NULL;
    PyTypeObject *cls = (PyTypeObject *)args[0];
    PyObject *names = args[1];
    Py_ssize_t n = PyTuple_GET_SIZE(names);
    if (n > MAKER_MAX || cls->tp_dictoffset != 0 || cls->tp_itemsize != 0 || cls->tp_alloc == NULL) {
        PyErr_Format(PyExc_TypeError, "slot_maker: %s is not a class of at most %d slots and no __dict__",
                     cls->tp_name, MAKER_MAX);
        return NULL;
    }
    Maker *m = PyObject_New(Maker, &MakerType);
    if (m == NULL)
        return NULL;
    m->vectorcall = maker_vectorcall;
    m->cls = (PyTypeObject *)Py_NewRef(cls);
    m->n = n;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *name = PyTuple_GET_ITEM(names, i);
        if (!PyUnicode_Check(name)) {
            PyErr_SetString(PyExc_TypeError, "slot_maker: names must be str");
            goto fail;
        }
        PyObject *d = PyObject_GetAttr((PyObject *)cls, name);
        if (d == NULL)
            goto fail;
        int plain = Py_IS_TYPE(d, &PyMemberDescr_Type)
                    && ((PyMemberDescrObject *)d)->d_member->type == T_OBJECT_EX
                    && !(((PyMemberDescrObject *)d)->d_member->flags & READONLY)
                    && PyType_IsSubtype(cls, PyDescr_TYPE(d));
        if (plain)
            m->offsets[i] = ((PyMemberDescrObject *)d)->d_member->offset;
        Py_DECREF(d);
        if (!plain) {
            PyErr_Format(PyExc_TypeError, "slot_maker: %R is not a plain slot of %s", name, cls->tp_name);
            goto fail;
        }
        for (Py_ssize_t j = 0; j < i; j++)
            if (m->offsets[j] == m->offsets[i]) {
                PyErr_Format(PyExc_TypeError, "slot_maker: %R is named twice", name);
                goto fail;
            }
    }
    return (PyObject *)m;
fail:
    Py_DECREF(m);
    return NULL;
}
