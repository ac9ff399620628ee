/* The HTTP layer's per-request loops (http/asgi.py `_check_head`, http/limits.py `_may_break_rules`).
 *
 * Each does what its Python twin does, in the same order, with the same results; anything it does not
 * take as it is (a header that is not a pair of bytes, a body that is not bytes) returns None before
 * anything is decided, and the Python code, kept as the reference, runs. */
#include "_native.h"

/* head_fields(raw, known, singletons): `_check_head`'s loop over the request's headers. `raw`: a list of
 * (name, value) tuples of bytes; `known`: request names (bytes) to their text; `singletons`: the set of
 * names that may appear once. Returns (headers, size): the lower-cased names' latin-1 values (a repeated
 * header keeps its last value) and the head's size (every name and value plus 4); or the name of the
 * first singleton header that appears twice (a str); or None (another shape: the Python loop decides). */
PyObject *
native_head_fields(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "head_fields(raw, known, singletons)");
        return NULL;
    }
    PyObject *raw = args[0], *known = args[1], *singletons = args[2];
    if (!PyList_CheckExact(raw) || !PyDict_CheckExact(known) || !PyAnySet_Check(singletons))
        Py_RETURN_NONE;
    Py_ssize_t n = PyList_GET_SIZE(raw);
    for (Py_ssize_t i = 0; i < n; i++) {  /* the shape first: nothing is decided on a list the Python loop takes */
        PyObject *item = PyList_GET_ITEM(raw, i);
        if (!PyTuple_CheckExact(item) || PyTuple_GET_SIZE(item) != 2 || !PyBytes_CheckExact(PyTuple_GET_ITEM(item, 0))
            || !PyBytes_CheckExact(PyTuple_GET_ITEM(item, 1)))
            Py_RETURN_NONE;
    }
    PyObject *headers = PyDict_New();
    if (headers == NULL)
        return NULL;
    Py_ssize_t size = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *item = PyList_GET_ITEM(raw, i);
        PyObject *k = PyTuple_GET_ITEM(item, 0), *v = PyTuple_GET_ITEM(item, 1);
        PyObject *name = PyDict_GetItemWithError(known, k);  /* borrowed */
        if (name != NULL)
            Py_INCREF(name);
        else {
            if (PyErr_Occurred())
                goto fail;
            PyObject *text = PyUnicode_DecodeLatin1(PyBytes_AS_STRING(k), PyBytes_GET_SIZE(k), NULL);
            if (text == NULL)
                goto fail;
            name = PyObject_CallMethod(text, "lower", NULL);
            Py_DECREF(text);
            if (name == NULL)
                goto fail;
        }
        size += PyBytes_GET_SIZE(k) + PyBytes_GET_SIZE(v) + 4;
        int seen = PyDict_Contains(headers, name);
        if (seen > 0)
            seen = PySet_Contains(singletons, name);
        if (seen < 0) {
            Py_DECREF(name);
            goto fail;
        }
        if (seen) {  /* the caller refuses the request, naming it */
            Py_DECREF(headers);
            return name;
        }
        PyObject *value = PyUnicode_DecodeLatin1(PyBytes_AS_STRING(v), PyBytes_GET_SIZE(v), NULL);
        if (value == NULL) {
            Py_DECREF(name);
            goto fail;
        }
        int rc = PyDict_SetItem(headers, name, value);
        Py_DECREF(name);
        Py_DECREF(value);
        if (rc < 0)
            goto fail;
    }
    PyObject *out = Py_BuildValue("(Nn)", headers, size);
    return out;
fail:
    Py_DECREF(headers);
    return NULL;
}

/* json_may_break(body, max_depth): `_may_break_rules` — whether `body` (bytes) holds the escape \u0000
 * or more than `max_depth` brackets ("[" and "{" together); None when `body` is not bytes. */
PyObject *
native_json_may_break(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "json_may_break(body, max_depth)");
        return NULL;
    }
    if (!PyBytes_CheckExact(args[0]) || !PyLong_CheckExact(args[1]))
        Py_RETURN_NONE;
    Py_ssize_t max_depth = PyLong_AsSsize_t(args[1]);
    if (max_depth == -1 && PyErr_Occurred()) {
        PyErr_Clear();
        Py_RETURN_NONE;
    }
    const char *body = PyBytes_AS_STRING(args[0]);
    size_t len = (size_t)PyBytes_GET_SIZE(args[0]);
    static const char nul[] = "\\u0000";
    const char *escape = memchr(body, '\\', len);
    if (escape != NULL && memmem(escape, len - (size_t)(escape - body), nul, sizeof nul - 1) != NULL)
        Py_RETURN_TRUE;
    Py_ssize_t count = 0;
    static const char brackets[2] = {'[', '{'};
    for (int b = 0; b < 2; b++) {
        const char *at = body, *end = body + len;
        while (at < end && (at = memchr(at, brackets[b], (size_t)(end - at))) != NULL) {
            if (++count > max_depth)
                Py_RETURN_TRUE;
            at++;
        }
    }
    Py_RETURN_FALSE;
}

/* A header pair (name, value), stealing both; NULL (both released) when either is NULL or the tuple fails. */
static PyObject *
header_pair(PyObject *name, PyObject *value)
{
    PyObject *pair;
    if (name == NULL || value == NULL || (pair = PyTuple_New(2)) == NULL) {
        Py_XDECREF(name);
        Py_XDECREF(value);
        return NULL;
    }
    PyTuple_SET_ITEM(pair, 0, name);
    PyTuple_SET_ITEM(pair, 1, value);
    return pair;
}

/* response_head(content_type, rid, length, extra, known): http/asgi.py `_headers` — the answer's header
 * list: content-type and x-request-id (UTF-8, as str.encode), content-length when `length` is an int
 * (its decimal digits, as str(length).encode()), then `extra`'s items in order (names from `known`, else
 * latin-1; values latin-1). Built in one pass: None, the list dropped, at the first item of `extra` that
 * is not a str to a str, or at once when an argument is not of its type or `length` is past a Py_ssize_t
 * (the Python code then builds it, or raises what it raises: an encoding error raised here is the
 * one it raises first, as its items are taken in the same order). */
PyObject *
native_response_head(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 5) {
        PyErr_SetString(PyExc_TypeError, "response_head(content_type, rid, length, extra, known)");
        return NULL;
    }
    PyObject *ctype = args[0], *rid = args[1], *length = args[2], *extra = args[3], *known = args[4];
    if (!PyUnicode_CheckExact(ctype) || !PyUnicode_CheckExact(rid) || (length != Py_None && !PyLong_CheckExact(length))
        || !PyDict_CheckExact(extra) || !PyDict_CheckExact(known))
        Py_RETURN_NONE;
    Py_ssize_t size = 0;
    if (length != Py_None && (size = PyLong_AsSsize_t(length)) == -1 && PyErr_Occurred()) {
        if (!PyErr_ExceptionMatches(PyExc_OverflowError))
            return NULL;
        PyErr_Clear();
        Py_RETURN_NONE;
    }
    /* the names, and the last content type with its bytes: most answers give one of two constants */
    static PyObject *ct_name, *rid_name, *cl_name, *last_ctype, *last_ctype_bytes;
    if (ct_name == NULL) {
        ct_name = PyBytes_FromString("content-type");
        rid_name = PyBytes_FromString("x-request-id");
        cl_name = PyBytes_FromString("content-length");
        if (ct_name == NULL || rid_name == NULL || cl_name == NULL) {
            Py_CLEAR(ct_name);
            Py_CLEAR(rid_name);
            Py_CLEAR(cl_name);
            return NULL;
        }
    }
    if (ctype != last_ctype) {
        PyObject *encoded = PyUnicode_AsUTF8String(ctype);
        if (encoded == NULL)
            return NULL;
        Py_XSETREF(last_ctype_bytes, encoded);
        Py_XSETREF(last_ctype, Py_NewRef(ctype));
    }
    Py_ssize_t n = 2 + (length != Py_None) + PyDict_GET_SIZE(extra);
    PyObject *out = PyList_New(n);
    if (out == NULL)
        return NULL;
    Py_ssize_t i = 0;
    PyObject *pair = header_pair(Py_NewRef(ct_name), Py_NewRef(last_ctype_bytes));
    if (pair == NULL)
        goto fail;
    PyList_SET_ITEM(out, i++, pair);
    if ((pair = header_pair(Py_NewRef(rid_name), PyUnicode_AsUTF8String(rid))) == NULL)
        goto fail;
    PyList_SET_ITEM(out, i++, pair);
    if (length != Py_None) {
        if ((pair = header_pair(Py_NewRef(cl_name), PyBytes_FromFormat("%zd", size))) == NULL)
            goto fail;
        PyList_SET_ITEM(out, i++, pair);
    }
    Py_ssize_t pos = 0;
    PyObject *k, *v;
    while (PyDict_Next(extra, &pos, &k, &v)) {
        if (!PyUnicode_CheckExact(k) || !PyUnicode_CheckExact(v)) {
            Py_DECREF(out);
            Py_RETURN_NONE;
        }
        if (i >= n) {  /* (a dict cannot grow here: nothing above runs Python code; a guard all the same) */
            PyErr_SetString(PyExc_RuntimeError, "response_head: headers changed size");
            goto fail;
        }
        PyObject *name = PyDict_GetItemWithError(known, k);
        if (name != NULL)
            Py_INCREF(name);
        else if (PyErr_Occurred() || (name = PyUnicode_AsLatin1String(k)) == NULL)
            goto fail;
        if ((pair = header_pair(name, PyUnicode_AsLatin1String(v))) == NULL)
            goto fail;
        PyList_SET_ITEM(out, i++, pair);
    }
    if (i != n) {
        PyErr_SetString(PyExc_RuntimeError, "response_head: headers changed size");
        goto fail;
    }
    return out;
fail:
    Py_DECREF(out);  /* (unset items are NULL: list_dealloc skips them) */
    return NULL;
}
