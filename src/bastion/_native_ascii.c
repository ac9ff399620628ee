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

/* The tables of the last call, and per byte what the loop reads of them in one load: rebuilt when a call
 * passes other tables (the detector always passes the same ones; the GIL is held). */
static unsigned char canon_seen[4][256];
static uint32_t canon_entry[256];
static int canon_ready;

#define C_BAD (1u << 16)  /* dropped, or mapped past ASCII */
#define C_WS (1u << 17)   /* mapped to " " or "\n" */
#define C_RUN (1u << 18)  /* mapped to a byte of run class "p" */

static const uint32_t *
canon_entries(const unsigned char *keep, const unsigned char *drop, const unsigned char *hint,
              const unsigned char *run)
{
    if (canon_ready && !memcmp(canon_seen[0], keep, 256) && !memcmp(canon_seen[1], drop, 256)
        && !memcmp(canon_seen[2], hint, 256) && !memcmp(canon_seen[3], run, 256))
        return canon_entry;
    for (int c = 0; c < 256; c++) {
        unsigned char m = keep[c];
        canon_entry[c] = m | (uint32_t)hint[m] << 8 | (drop[c] || m >= 128 ? C_BAD : 0)
                         | (m == ' ' || m == '\n' ? C_WS : 0) | (run[m] == 'p' ? C_RUN : 0);
    }
    memcpy(canon_seen[0], keep, 256);
    memcpy(canon_seen[1], drop, 256);
    memcpy(canon_seen[2], hint, 256);
    memcpy(canon_seen[3], run, 256);
    canon_ready = 1;
    return canon_entry;
}

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
    const uint32_t *entry = canon_entries(keep, drop, hint, run);
    int spaced = 0, runs = 0, run_len = 0;
    uint32_t prev_ws = 0;
    uint64_t last5 = 0; /* the last five hint classes, a byte each ("slsls" is 0x736c736c73) */
    for (Py_ssize_t i = 0; i < n; i++) {
        uint32_t e = entry[in[i]];
        if ((e & C_BAD) || (e & prev_ws)) {
            Py_INCREF(Py_None);
            result = Py_None;
            goto done;
        }
        prev_ws = e & C_WS;
        unsigned char m = (unsigned char)e;
        o[i] = m;
        cp[i] = m;
        /* (before the fifth byte the high bytes are 0, never "s": no match) */
        last5 = ((last5 << 8) | ((e >> 8) & 0xFF)) & 0xFFFFFFFFFFULL;
        spaced |= last5 == 0x736C736C73ULL;
        if (!prev_ws) { /* the run classes with spaces and newlines deleted */
            run_len = (e & C_RUN) ? run_len + 1 : 0;
            runs |= run_len >= 4;
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
static unsigned char gate_seen[2][256], gate_entry[256];
static int gate_ready;

enum { G_SPACE = 1, G_ZERO = 2, G_67 = 4, G_HEX = 8, G_B85 = 16 };

/* Per byte, its gate classes in one load (cached as `canon_entries`). */
static const unsigned char *
gate_entries(const unsigned char *hex, const unsigned char *b85)
{
    if (gate_ready && !memcmp(gate_seen[0], hex, 256) && !memcmp(gate_seen[1], b85, 256))
        return gate_entry;
    for (int c = 0; c < 256; c++)
        gate_entry[c] = (unsigned char)((c == ' ' ? G_SPACE : 0) | (c == '0' ? G_ZERO : 0)
                                        | (c == '6' || c == '7' ? G_67 : 0) | (hex[c] == 'h' ? G_HEX : 0)
                                        | (b85[c] == 'a' ? G_B85 : 0));
    memcpy(gate_seen[0], hex, 256);
    memcpy(gate_seen[1], b85, 256);
    gate_ready = 1;
    return gate_entry;
}

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
    const unsigned char *entry = gate_entries(hb.buf, bb.buf);
    const Py_UCS1 *s = PyUnicode_1BYTE_DATA(text);
    Py_ssize_t n = PyUnicode_GET_LENGTH(text), morse = 0, digits = 0, hex_len = 0, b85_len = 0;
    int zero = 0, hex_run = 0, b85_run = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        unsigned e = entry[s[i]];
        if ((e & G_SPACE) && i + 1 < n && (s[i + 1] == '-' || s[i + 1] == '.'))
            morse++;
        zero |= e & G_ZERO;
        digits += (e & G_67) != 0;
        hex_len = (e & G_HEX) ? hex_len + 1 : 0;
        hex_run |= hex_len >= 32;
        b85_len = (e & G_B85) ? b85_len + 1 : 0;
        b85_run |= b85_len >= 40;
    }
    zero = zero != 0;
    result = Py_BuildValue("ninii", morse, zero, digits, hex_run, b85_run);
done:
    PyBuffer_Release(&hb);
    PyBuffer_Release(&bb);
    return result;
}
