/* bastion._native.ascii_canon and encoding_gates: one pass over an ASCII text for the injection detector's
 * cheap tests (canon._ascii_fast's map and gates, encodings.encoded_runs's gates).
 *
 *   ascii_canon(text, keep, drop, hint_class, run_class) -> None | (str, codes, spaced_hint, run_hint)
 *       For an ASCII `text`: None when a character is dropped (drop[c] != 0), maps to a non-ASCII
 *       character, or two whitespace characters (" " or "\n" after the map) are adjacent; else the
 *       mapped text (keep[c] per character), its code points (uint32, as a bytearray), whether the
 *       hint classes of the mapped bytes hold "slsls" (hint_class) and whether, spaces and newlines
 *       left out, four bytes in a row have the run class "p" (run_class): exactly the tests
 *       `_ascii_fast` makes with bytes.translate and find. The four tables are 256 bytes each.
 */
#include "_native.h"

PyObject *
native_ascii_canon(PyObject *self, PyObject *args)
{
    PyObject *text;
    Py_buffer tb[4];
    if (!PyArg_ParseTuple(args, "U" "y*y*y*y*", &text, &tb[0], &tb[1], &tb[2], &tb[3]))
        return NULL;
    PyObject *result = NULL, *out = NULL, *codes = NULL;
    for (int k = 0; k < 4; k++)
        if (tb[k].len != 256) {
            PyErr_SetString(PyExc_ValueError, "ascii_canon: the tables must be 256 bytes each");
            goto done;
        }
    if (!PyUnicode_IS_ASCII(text)) {
        PyErr_SetString(PyExc_ValueError, "ascii_canon: the text must be ASCII");
        goto done;
    }
    const unsigned char *keep = tb[0].buf, *drop = tb[1].buf, *hint = tb[2].buf, *run = tb[3].buf;
    const Py_UCS1 *in = PyUnicode_1BYTE_DATA(text);
    Py_ssize_t n = PyUnicode_GET_LENGTH(text);
    out = PyUnicode_New(n, 127);
    codes = PyByteArray_FromStringAndSize(NULL, n * 4);
    if (out == NULL || codes == NULL)
        goto done;
    Py_UCS1 *o = PyUnicode_1BYTE_DATA(out);
    uint32_t *cp = (uint32_t *)PyByteArray_AS_STRING(codes);
    int prev_ws = 0, spaced = 0, runs = 0, run_len = 0;
    uint64_t last5 = 0; /* the last five hint classes, a byte each ("slsls" is 0x736c736c73) */
    for (Py_ssize_t i = 0; i < n; i++) {
        unsigned char c = in[i];
        if (drop[c] || keep[c] >= 128) {
            Py_INCREF(Py_None);
            result = Py_None;
            goto done;
        }
        unsigned char m = keep[c];
        int ws = m == ' ' || m == '\n';
        if (ws && prev_ws) {
            Py_INCREF(Py_None);
            result = Py_None;
            goto done;
        }
        prev_ws = ws;
        o[i] = m;
        cp[i] = m;
        last5 = ((last5 << 8) | hint[m]) & 0xFFFFFFFFFFULL;
        if (i >= 4 && last5 == 0x736C736C73ULL)
            spaced = 1;
        if (!ws) { /* the run classes with spaces and newlines deleted */
            run_len = run[m] == 'p' ? run_len + 1 : 0;
            if (run_len >= 4)
                runs = 1;
        }
    }
    result = Py_BuildValue("OOii", out, codes, spaced, runs);
done:
    Py_XDECREF(out);
    Py_XDECREF(codes);
    for (int k = 0; k < 4; k++)
        PyBuffer_Release(&tb[k]);
    return result;
}

/*   encoding_gates(text, hex_map, b85_map) -> (morse, zero, hex_digits, hex_run, b85_run)
 *       For an ASCII `text`, in one pass, the gates encodings.encoded_runs tests with str.count, `in` and a
 *       translate and find per encoding: the number of " -" and " ." pairs, whether a "0" occurs, the number
 *       of "6" and "7", and whether 32 bytes in a row map to "h" in hex_map and 40 in a row to "a" in
 *       b85_map (256 bytes each).
 */
PyObject *
native_encoding_gates(PyObject *self, PyObject *args)
{
    PyObject *text;
    Py_buffer hb, bb;
    if (!PyArg_ParseTuple(args, "Uy*y*", &text, &hb, &bb))
        return NULL;
    PyObject *result = NULL;
    if (hb.len != 256 || bb.len != 256) {
        PyErr_SetString(PyExc_ValueError, "encoding_gates: the maps must be 256 bytes each");
        goto done;
    }
    if (!PyUnicode_IS_ASCII(text)) {
        PyErr_SetString(PyExc_ValueError, "encoding_gates: the text must be ASCII");
        goto done;
    }
    const unsigned char *hex = hb.buf, *b85 = bb.buf;
    const Py_UCS1 *s = PyUnicode_1BYTE_DATA(text);
    Py_ssize_t n = PyUnicode_GET_LENGTH(text), morse = 0, digits = 0, hex_len = 0, b85_len = 0;
    int zero = 0, hex_run = 0, b85_run = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        unsigned char c = s[i];
        if (c == ' ' && i + 1 < n && (s[i + 1] == '-' || s[i + 1] == '.'))
            morse++;
        zero |= c == '0';
        digits += c == '6' || c == '7';
        hex_len = hex[c] == 'h' ? hex_len + 1 : 0;
        hex_run |= hex_len >= 32;
        b85_len = b85[c] == 'a' ? b85_len + 1 : 0;
        b85_run |= b85_len >= 40;
    }
    result = Py_BuildValue("ninii", morse, zero, digits, hex_run, b85_run);
done:
    PyBuffer_Release(&hb);
    PyBuffer_Release(&bb);
    return result;
}
