/* Shared by the C accelerator's files (src/bastion/_native*.c). */
#ifndef BASTION_NATIVE_H
#define BASTION_NATIVE_H
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>
#include <math.h>


/* A C-contiguous buffer of items of `itemsize` bytes (or of bytes); -1 with ValueError naming `name`. */
static inline int
get_buffer(PyObject *obj, Py_buffer *view, Py_ssize_t itemsize, const char *name)
{
    if (PyObject_GetBuffer(obj, view, PyBUF_C_CONTIGUOUS) < 0)
        return -1;
    if (view->len % itemsize != 0 || (view->itemsize != itemsize && view->itemsize != 1)) {
        PyErr_Format(PyExc_ValueError, "%s: expected items of %zd bytes", name, itemsize);
        PyBuffer_Release(view);
        return -1;
    }
    return 0;
}

PyObject *native_canon(PyObject *self, PyObject *args);
PyObject *native_ascii_canon(PyObject *self, PyObject *args);
PyObject *native_encoding_gates(PyObject *self, PyObject *args);
PyObject *native_leet_runs(PyObject *self, PyObject *args);
PyObject *native_possible_tables(PyObject *self, PyObject *args);
PyObject *native_possible(PyObject *self, PyObject *args);
PyObject *native_window_logits_capped(PyObject *self, PyObject *args);
PyObject *native_features_windows(PyObject *self, PyObject *args);
int window_buffers(PyObject *objs[5], Py_buffer v[5], int *got, Py_ssize_t n, Py_ssize_t window, const char *fn,
                   int buckets);

#endif
