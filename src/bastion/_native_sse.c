/* bastion._native.sse_events: a read of whole SSE events of the two usual shapes split in one pass.
 *
 *   sse_events(chunk, names) -> list | None
 *       chunk: bytes; names: a tuple of (bytes, str) pairs (an event name as sent, and as it is given).
 *       When chunk, with no carriage return, is one or more events each exactly `data: ` D `\n\n` or
 *       `event: ` N `\ndata: ` D `\n\n` (N and D holding no line feed; N one of names' bytes): the list of
 *       (None, D) and (name, D) pairs, in order, D as bytes and name the str paired with N in names. None
 *       for any other chunk (another line, a comment, a blank line more, an unknown name, an event not
 *       ended): providers/sse.py then parses it as before. The pairs are those its general path gives.
 */
#include "_native.h"

static const char EVENT[] = "event: ";
static const char DATA[] = "data: ";
#define EVENT_LEN ((Py_ssize_t)(sizeof(EVENT) - 1))
#define DATA_LEN ((Py_ssize_t)(sizeof(DATA) - 1))

/* The str paired with the bytes p[0:len] in names (a borrowed reference); NULL when none is. */
static PyObject *
known_name(PyObject *names, const char *p, Py_ssize_t len)
{
    Py_ssize_t count = PyTuple_GET_SIZE(names);
    for (Py_ssize_t k = 0; k < count; k++) {
        PyObject *pair = PyTuple_GET_ITEM(names, k);
        PyObject *raw = PyTuple_GET_ITEM(pair, 0);
        if (PyBytes_GET_SIZE(raw) == len && memcmp(PyBytes_AS_STRING(raw), p, (size_t)len) == 0)
            return PyTuple_GET_ITEM(pair, 1);
    }
    return NULL;
}

PyObject *
native_sse_events(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2 || !PyBytes_CheckExact(args[0]) || !PyTuple_CheckExact(args[1])) {
        PyErr_SetString(PyExc_TypeError, "sse_events(chunk: bytes, names: tuple of (bytes, str) pairs)");
        return NULL;
    }
    PyObject *names = args[1];
    Py_ssize_t count = PyTuple_GET_SIZE(names);
    for (Py_ssize_t k = 0; k < count; k++) {
        PyObject *pair = PyTuple_GET_ITEM(names, k);
        if (!PyTuple_CheckExact(pair) || PyTuple_GET_SIZE(pair) != 2 || !PyBytes_CheckExact(PyTuple_GET_ITEM(pair, 0))
                || !PyUnicode_CheckExact(PyTuple_GET_ITEM(pair, 1))) {
            PyErr_SetString(PyExc_TypeError, "sse_events: names must be a tuple of (bytes, str) pairs");
            return NULL;
        }
    }
    const char *p = PyBytes_AS_STRING(args[0]);
    Py_ssize_t n = PyBytes_GET_SIZE(args[0]);
    if (n < 2 || p[n - 1] != '\n' || p[n - 2] != '\n' || memchr(p, '\r', (size_t)n) != NULL)
        Py_RETURN_NONE;
    PyObject *out = PyList_New(0);
    if (out == NULL)
        return NULL;
    Py_ssize_t i = 0;
    while (i < n) {
        PyObject *name = Py_None;
        if (n - i >= EVENT_LEN && memcmp(p + i, EVENT, EVENT_LEN) == 0) {
            Py_ssize_t start = i + EVENT_LEN;
            /* the chunk ends in a line feed: one follows */
            const char *eol = memchr(p + start, '\n', (size_t)(n - start));
            name = known_name(names, p + start, eol - (p + start));
            if (name == NULL)
                goto other;
            i = eol - p + 1;
        }
        if (n - i < DATA_LEN || memcmp(p + i, DATA, DATA_LEN) != 0)
            goto other;
        Py_ssize_t start = i + DATA_LEN;
        const char *eol = memchr(p + start, '\n', (size_t)(n - start));
        Py_ssize_t end = eol - p;
        if (end + 1 >= n || p[end + 1] != '\n')  /* another line follows the data line */
            goto other;
        PyObject *data = PyBytes_FromStringAndSize(p + start, end - start);
        if (data == NULL)
            goto fail;
        PyObject *pair = PyTuple_New(2);
        if (pair == NULL) {
            Py_DECREF(data);
            goto fail;
        }
        Py_INCREF(name);
        PyTuple_SET_ITEM(pair, 0, name);
        PyTuple_SET_ITEM(pair, 1, data);
        int rc = PyList_Append(out, pair);
        Py_DECREF(pair);
        if (rc < 0)
            goto fail;
        i = end + 2;
    }
    return out;
other:
    Py_DECREF(out);
    Py_RETURN_NONE;
fail:
    Py_DECREF(out);
    return NULL;
}

/* bastion._native.text_run: providers/frames.py `_run`'s checks and joins of a run of text events in one pass.
 *
 *   text_run(sse, start, end, names, head, tail, before, after, fewest) -> (stop, frames, items, chars, count) | None
 *       sse: a list of (name, data) pairs; names: a tuple of the event names a text event may have (None or
 *       str). The events sse[start:stop] are the run: stop is `end`, or the first event there whose data
 *       holds a backslash (an escape: written one event at a time). Each event of the run must be a pair whose
 *       name is one of names and whose data (bytes) is head + a part + tail, the part a quote, one or more
 *       bytes that are neither a quote nor a backslash, and a quote. Then: frames, each part between before
 *       and after, joined; items, "[" + the parts joined by "," + "]" (for the caller to read as JSON, which
 *       tells whether each part is a JSON string: no control character, valid UTF-8); chars, the bytes of the
 *       parts' texts that do not continue a UTF-8 sequence (the characters of the text once the items read);
 *       count, stop - start. None when any event of the run is not so, or it is empty, or it stopped at an
 *       escape holding fewer than `fewest`.
 */
static int
name_of_text(PyObject *name, PyObject *names)
{
    Py_ssize_t count = PyTuple_GET_SIZE(names);
    for (Py_ssize_t k = 0; k < count; k++) {
        PyObject *known = PyTuple_GET_ITEM(names, k);
        if (known == name)
            return 1;
        if (known != Py_None && name != Py_None && PyUnicode_CheckExact(name) && PyUnicode_CheckExact(known)
                && PyUnicode_Compare(known, name) == 0)
            return 1;
    }
    return 0;
}

PyObject *
native_text_run(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 9 || !PyList_CheckExact(args[0]) || !PyLong_CheckExact(args[1]) || !PyLong_CheckExact(args[2])
            || !PyTuple_CheckExact(args[3]) || !PyBytes_CheckExact(args[4]) || !PyBytes_CheckExact(args[5])
            || !PyBytes_CheckExact(args[6]) || !PyBytes_CheckExact(args[7]) || !PyLong_CheckExact(args[8])) {
        PyErr_SetString(PyExc_TypeError, "text_run(sse: list, start: int, end: int, names: tuple, head: bytes, "
                                         "tail: bytes, before: bytes, after: bytes, fewest: int)");
        return NULL;
    }
    PyObject *sse = args[0], *names = args[3];
    Py_ssize_t start = PyLong_AsSsize_t(args[1]), end = PyLong_AsSsize_t(args[2]);
    Py_ssize_t fewest = PyLong_AsSsize_t(args[8]);
    if ((start == -1 || end == -1 || fewest == -1) && PyErr_Occurred())
        return NULL;
    if (start < 0 || end > PyList_GET_SIZE(sse) || start > end) {
        PyErr_SetString(PyExc_ValueError, "text_run: start and end must be a range of sse");
        return NULL;
    }
    const char *head = PyBytes_AS_STRING(args[4]), *tail = PyBytes_AS_STRING(args[5]);
    Py_ssize_t hl = PyBytes_GET_SIZE(args[4]), tl = PyBytes_GET_SIZE(args[5]);
    Py_ssize_t bl = PyBytes_GET_SIZE(args[6]), al = PyBytes_GET_SIZE(args[7]);
    /* First pass: the run's end and its checks, the sizes of what is built. */
    Py_ssize_t stop = end, parts = 0, chars = 0;
    for (Py_ssize_t i = start; i < end; i++) {
        PyObject *pair = PyList_GET_ITEM(sse, i);
        if (!PyTuple_CheckExact(pair) || PyTuple_GET_SIZE(pair) != 2)
            Py_RETURN_NONE;
        PyObject *data = PyTuple_GET_ITEM(pair, 1);
        if (!PyBytes_CheckExact(data))
            Py_RETURN_NONE;
        const char *d = PyBytes_AS_STRING(data);
        Py_ssize_t n = PyBytes_GET_SIZE(data);
        if (memchr(d, '\\', (size_t)n) != NULL) {
            stop = i;
            break;
        }
        if (!name_of_text(PyTuple_GET_ITEM(pair, 0), names))
            Py_RETURN_NONE;
        Py_ssize_t len = n - hl - tl;  /* the part's */
        if (len < 3 || memcmp(d, head, (size_t)hl) != 0 || memcmp(d + n - tl, tail, (size_t)tl) != 0)
            Py_RETURN_NONE;
        const unsigned char *part = (const unsigned char *)d + hl;
        if (part[0] != '"' || part[len - 1] != '"' || memchr(part + 1, '"', (size_t)(len - 2)) != NULL)
            Py_RETURN_NONE;
        for (Py_ssize_t k = 1; k < len - 1; k++)
            chars += (part[k] & 0xc0) != 0x80;
        parts += len;
    }
    Py_ssize_t count = stop - start;
    if (count == 0 || (stop < end && count < fewest))  /* stopped at an escape: a run that short is not taken */
        Py_RETURN_NONE;
    /* Second pass: the frames and the items. */
    PyObject *frames = PyBytes_FromStringAndSize(NULL, parts + count * (bl + al));
    if (frames == NULL)
        return NULL;
    PyObject *items = PyBytes_FromStringAndSize(NULL, parts + count + 1);
    if (items == NULL) {
        Py_DECREF(frames);
        return NULL;
    }
    char *f = PyBytes_AS_STRING(frames), *it = PyBytes_AS_STRING(items);
    const char *before = PyBytes_AS_STRING(args[6]), *after = PyBytes_AS_STRING(args[7]);
    *it++ = '[';
    for (Py_ssize_t i = start; i < stop; i++) {
        PyObject *data = PyTuple_GET_ITEM(PyList_GET_ITEM(sse, i), 1);
        Py_ssize_t len = PyBytes_GET_SIZE(data) - hl - tl;
        const char *part = PyBytes_AS_STRING(data) + hl;
        memcpy(f, before, (size_t)bl);
        memcpy(f + bl, part, (size_t)len);
        memcpy(f + bl + len, after, (size_t)al);
        f += bl + len + al;
        memcpy(it, part, (size_t)len);
        it += len;
        *it++ = ',';
    }
    it[-1] = ']';
    return Py_BuildValue("(nNNnn)", stop, frames, items, chars, count);
}

/* bastion._native.text_one: providers/frames.py `Translator.read`'s steps for a read of one text event.
 *
 *   text_one(data, head, tail, before, after) -> (frame, chars) | None
 *       When data (bytes) is head + a quote + one or more bytes + a quote + tail, the bytes between the
 *       quotes holding no quote, no backslash and no control character (below 0x20) and being valid UTF-8
 *       (strict: no surrogate, no overlong form): then they are a JSON string without escapes, whose text
 *       is those bytes decoded, as orjson reads it. Gives the frame, before + the quoted bytes + after, and
 *       the characters of the text. None for any other data (the caller's general path then reads it).
 */
PyObject *
native_text_one(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 5 || !PyBytes_CheckExact(args[0]) || !PyBytes_CheckExact(args[1]) || !PyBytes_CheckExact(args[2])
            || !PyBytes_CheckExact(args[3]) || !PyBytes_CheckExact(args[4])) {
        PyErr_SetString(PyExc_TypeError, "text_one(data: bytes, head: bytes, tail: bytes, before: bytes, after: bytes)");
        return NULL;
    }
    const char *d = PyBytes_AS_STRING(args[0]);
    Py_ssize_t n = PyBytes_GET_SIZE(args[0]);
    Py_ssize_t hl = PyBytes_GET_SIZE(args[1]), tl = PyBytes_GET_SIZE(args[2]);
    Py_ssize_t len = n - hl - tl;  /* the quoted part's */
    if (len < 3 || memcmp(d, PyBytes_AS_STRING(args[1]), (size_t)hl) != 0
            || memcmp(d + n - tl, PyBytes_AS_STRING(args[2]), (size_t)tl) != 0)
        Py_RETURN_NONE;
    const unsigned char *part = (const unsigned char *)d + hl;
    if (part[0] != '"' || part[len - 1] != '"')
        Py_RETURN_NONE;
    for (Py_ssize_t k = 1; k < len - 1; k++) {
        unsigned char c = part[k];
        if (c < 0x20 || c == '"' || c == '\\')
            Py_RETURN_NONE;
    }
    PyObject *text = PyUnicode_DecodeUTF8((const char *)part + 1, len - 2, "strict");
    if (text == NULL) {
        if (!PyErr_ExceptionMatches(PyExc_UnicodeDecodeError))
            return NULL;
        PyErr_Clear();
        Py_RETURN_NONE;
    }
    Py_ssize_t chars = PyUnicode_GET_LENGTH(text);
    Py_DECREF(text);
    Py_ssize_t bl = PyBytes_GET_SIZE(args[3]), al = PyBytes_GET_SIZE(args[4]);
    PyObject *frame = PyBytes_FromStringAndSize(NULL, bl + len + al);
    if (frame == NULL)
        return NULL;
    char *f = PyBytes_AS_STRING(frame);
    memcpy(f, PyBytes_AS_STRING(args[3]), (size_t)bl);
    memcpy(f + bl, part, (size_t)len);
    memcpy(f + bl + len, PyBytes_AS_STRING(args[4]), (size_t)al);
    return Py_BuildValue("(Nn)", frame, chars);
}

/* bastion._native.text_join: providers/streaming.py `_decode_joined`'s text events taken by the template,
 * a run of them in one pass.
 *
 *   text_join(sse, start, names, head, tail, texts) -> stop
 *       sse: a list of (name, data) pairs; names: a tuple of the event names a text event may have (None or
 *       str). The run is sse[start:stop], stop the first event from start on (or len(sse)) that is not a
 *       pair whose name is one of names and whose data (bytes) is head + a quote + bytes + a quote + tail,
 *       the bytes between the quotes a JSON string without escapes (`plain_json_text`). The run's texts
 *       (the quoted bytes decoded), joined, are appended to the list texts when they are not empty.
 */
PyObject *
native_text_join(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 6 || !PyList_CheckExact(args[0]) || !PyLong_CheckExact(args[1]) || !PyTuple_CheckExact(args[2])
            || !PyBytes_CheckExact(args[3]) || !PyBytes_CheckExact(args[4]) || !PyList_CheckExact(args[5])) {
        PyErr_SetString(PyExc_TypeError, "text_join(sse: list, start: int, names: tuple, head: bytes, tail: bytes, "
                                         "texts: list)");
        return NULL;
    }
    PyObject *sse = args[0], *names = args[2];
    Py_ssize_t start = PyLong_AsSsize_t(args[1]);
    if (start == -1 && PyErr_Occurred())
        return NULL;
    Py_ssize_t end = PyList_GET_SIZE(sse);
    if (start < 0 || start > end) {
        PyErr_SetString(PyExc_ValueError, "text_join: start must be an index of sse");
        return NULL;
    }
    const char *head = PyBytes_AS_STRING(args[3]), *tail = PyBytes_AS_STRING(args[4]);
    Py_ssize_t hl = PyBytes_GET_SIZE(args[3]), tl = PyBytes_GET_SIZE(args[4]);
    /* First pass: the run's end and its checks, the size of its text's bytes. */
    Py_ssize_t stop = start, size = 0;
    int ascii = 1;
    for (; stop < end; stop++) {
        PyObject *pair = PyList_GET_ITEM(sse, stop);
        if (!PyTuple_CheckExact(pair) || PyTuple_GET_SIZE(pair) != 2)
            break;
        PyObject *data = PyTuple_GET_ITEM(pair, 1);
        if (!PyBytes_CheckExact(data) || !name_of_text(PyTuple_GET_ITEM(pair, 0), names))
            break;
        const char *d = PyBytes_AS_STRING(data);
        Py_ssize_t len = PyBytes_GET_SIZE(data) - hl - tl;  /* the quoted part's */
        if (len < 2 || memcmp(d, head, (size_t)hl) != 0 || memcmp(d + hl + len, tail, (size_t)tl) != 0)
            break;
        const unsigned char *part = (const unsigned char *)d + hl;
        if (part[0] != '"' || part[len - 1] != '"' || !plain_json_text(part + 1, len - 2, &ascii))
            break;
        size += len - 2;
    }
    if (size > 0) {
        /* Second pass: the text, its bytes copied (ASCII: straight into the str) and decoded. */
        PyObject *text;
        char *buf;
        if (ascii) {
            text = PyUnicode_New(size, 127);
            if (text == NULL)
                return NULL;
            buf = (char *)PyUnicode_1BYTE_DATA(text);
        } else {
            text = NULL;
            buf = PyMem_Malloc((size_t)size);
            if (buf == NULL)
                return PyErr_NoMemory();
        }
        char *at = buf;
        for (Py_ssize_t i = start; i < stop; i++) {
            PyObject *data = PyTuple_GET_ITEM(PyList_GET_ITEM(sse, i), 1);
            Py_ssize_t len = PyBytes_GET_SIZE(data) - hl - tl - 2;
            memcpy(at, PyBytes_AS_STRING(data) + hl + 1, (size_t)len);
            at += len;
        }
        if (!ascii) {
            text = PyUnicode_DecodeUTF8(buf, size, "strict");
            PyMem_Free(buf);
            if (text == NULL)
                return NULL;
        }
        int rc = PyList_Append(args[5], text);
        Py_DECREF(text);
        if (rc < 0)
            return NULL;
    }
    return PyLong_FromSsize_t(stop);
}

/* bastion._native.text_plain: providers/literal.py `TextTemplate.text` for the usual chunk.
 *
 *   text_plain(data, head, tail) -> str | None
 *       When data (bytes) is head + a quote + bytes + a quote + tail, the bytes between the quotes a JSON
 *       string without escapes (`plain_json_text`): its text, those bytes decoded. None for any other data
 *       (the caller's general reading then decides: an escape, white space around the string...).
 */
PyObject *
native_text_plain(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3 || !PyBytes_CheckExact(args[0]) || !PyBytes_CheckExact(args[1]) || !PyBytes_CheckExact(args[2])) {
        PyErr_SetString(PyExc_TypeError, "text_plain(data: bytes, head: bytes, tail: bytes)");
        return NULL;
    }
    const char *d = PyBytes_AS_STRING(args[0]);
    Py_ssize_t hl = PyBytes_GET_SIZE(args[1]), tl = PyBytes_GET_SIZE(args[2]);
    Py_ssize_t len = PyBytes_GET_SIZE(args[0]) - hl - tl;  /* the quoted part's */
    if (len < 2 || memcmp(d, PyBytes_AS_STRING(args[1]), (size_t)hl) != 0
            || memcmp(d + hl + len, PyBytes_AS_STRING(args[2]), (size_t)tl) != 0)
        Py_RETURN_NONE;
    const unsigned char *part = (const unsigned char *)d + hl;
    int ascii = 1;
    if (part[0] != '"' || part[len - 1] != '"' || !plain_json_text(part + 1, len - 2, &ascii))
        Py_RETURN_NONE;
    if (!ascii)
        return PyUnicode_DecodeUTF8((const char *)part + 1, len - 2, "strict");
    PyObject *text = PyUnicode_New(len - 2, 127);
    if (text != NULL)
        memcpy(PyUnicode_1BYTE_DATA(text), part + 1, (size_t)(len - 2));
    return text;
}
