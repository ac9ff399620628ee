/* bastion._native.ascii_canon and encoding_gates: one pass over an ASCII text for the injection detector's
 * cheap tests (canon._ascii_fast's map and gates, encodings.encoded_runs's gates, whether leet runs exist).
 *
 *   ascii_canon(text, keep, drop, hint_class, run_class, hex_map, b85_map)
 *       -> None | (str, codes, spaced_hint, run_hint, gates, leet, rot)
 *       For an ASCII `text`: None when a character is dropped (drop[c] != 0), maps to a non-ASCII
 *       character, or two whitespace characters (" " or "\n" after the map) are adjacent; else the
 *       mapped text (keep[c] per character), its code points (uint32, as a bytearray), whether the
 *       hint classes of the mapped bytes hold "slsls" (hint_class) and whether, spaces and newlines
 *       left out, four bytes in a row have the run class "p" (run_class): exactly the tests
 *       `_ascii_fast` makes with bytes.translate and find; `gates`, what encoding_gates(text, hex_map, b85_map)
 *       returns, `leet`, whether leet_runs(mapped text) is not empty, and `rot`, whether "rot" occurs in the
 *       mapped text (the detector's ROT13 gate). The six tables are bytes of 256.
 */
#include "_native.h"

/* The tables of the last call, and per byte what the loop reads of them in one load: rebuilt when a call
 * passes other tables (the detector always passes the same ones; the GIL is held). */
static unsigned char canon_seen[6][256];
/* Per byte of the text, what the loop reads of it (32 bytes: a row's address is a shift): `run_mask` and
 * `run_reset`, how it continues the hex (low 32 bits) and base85 (high 32 bits) run lengths: kept and counted when
 * the byte belongs to that run's alphabet, else reset to 0 (hex) or 24 (base85: counted from 24, a run of 40
 * reaches 64); `flags` (C_BAD, C_WS), `next_bad`, the flags the next byte must not have (C_BAD, and C_WS after a
 * whitespace byte), `input` to the automaton below and the `mapped` byte. */
typedef struct {
    uint64_t run_mask, run_reset;
    uint32_t flags, next_bad;
    uint16_t input;
    unsigned char mapped, pad[5];
} Row;
static Row canon_rows[256];
static int canon_ready;
#define RUN_ONE 0x100000001ULL     /* one more byte in both runs */
#define B85_RESET (24ULL << 32)
#define C_BAD (1u << 16)  /* dropped, or mapped past ASCII */
#define C_WS (1u << 17)   /* mapped to " " or "\n" */

/* One automaton follows the four patterns the mapped bytes are tested for, its state
 * ((h * 5 + r) * 4 + l) * 4 + t: h, the length of the longest prefix of "slsls" the hint classes end with (5: seen,
 * kept); r, the "p" run classes in a row, spaces and newlines skipped (4: seen, kept); l, the leet_runs state
 * (LEET_STEP's last class, 3: a mapped character met a letter, kept); t, the length of the longest prefix of "rot"
 * the mapped bytes end with (3: seen, kept). A byte's input is (hint * 3 + run) * 4 + leet class, with hint 0/1/2
 * for "s"/"l"/other and run 0/1/2 for whitespace/"p"/other, except for the mapped bytes "r", "o" and "t": inputs
 * ROT_INPUT + 0, 1, 2, which step h, r and l as their classes' input would (`rot_base`, from the tables).
 * trans[state * 64 + input] is the next state times 64. */
enum { A_STATES = 6 * 5 * 4 * 4, ROT_INPUT = 36 };
static uint16_t trans[A_STATES * 64];

/* The input (below ROT_INPUT) of mapped byte m from its classes. */
static unsigned
class_input(const unsigned char *hint, const unsigned char *run, unsigned char m)
{
    int ws = m == ' ' || m == '\n';
    unsigned hi = hint[m] == 's' ? 0 : hint[m] == 'l' ? 1 : 2, ri = ws ? 0 : run[m] == 'p' ? 1 : 2;
    unsigned li = m < 128 ? (unsigned)leet_class_ascii(m) : LEET_OTHER;
    return (hi * 3 + ri) * 4 + li;
}

static void
build_trans(const unsigned rot_base[3])
{
    static const char pattern[] = "slsls", cls[] = "slo";
    for (int h = 0; h < 6; h++)
        for (int r = 0; r < 5; r++)
            for (int l = 0; l < 4; l++)
                for (int t = 0; t < 4; t++)
                    for (int input = 0; input < ROT_INPUT + 3; input++) {
                        /* k: 1, 2, 3 for the mapped bytes "r", "o", "t", else 0 */
                        int k = input >= ROT_INPUT ? input - ROT_INPUT + 1 : 0;
                        int base = k ? (int)rot_base[k - 1] : input;
                        int hi = base / 12, ri = base / 4 % 3, li = base % 4;
                        {
                            int nh = 5;
                            if (h < 5) { /* the longest prefix of the pattern that pattern[:h] + c ends with */
                                char seen[6];
                                memcpy(seen, pattern, (size_t)h);
                                seen[h] = cls[hi];
                                for (nh = h + 1; nh > 0; nh--)
                                    if (!memcmp(seen + h + 1 - nh, pattern, (size_t)nh))
                                        break;
                            }
                            int nr = r == 4 ? 4 : ri == 0 ? r : ri == 1 ? r + 1 : 0;
                            int nl = 3;
                            if (l < 3) {
                                int step = li == LEET_OTHER ? LEET_OTHER : LEET_STEP[l << 2 | li];
                                nl = (step & LEET_MET) ? 3 : (step & 3);
                            }
                            /* "rot": an "r" starts it (again), an "o" after "r" and a "t" after "ro" continue it */
                            int nt = t == 3 ? 3 : k == 1 ? 1 : (k == 2 && t == 1) ? 2 : (k == 3 && t == 2) ? 3 : 0;
                            int state = ((h * 5 + r) * 4 + l) * 4 + t;
                            trans[state * 64 + input] = (uint16_t)((((nh * 5 + nr) * 4 + nl) * 4 + nt) * 64);
                        }
                    }
}

static const Row *
canon_entries(const unsigned char *const tables[6])
{
    if (canon_ready) {
        int same = 1;
        for (int k = 0; k < 6 && same; k++)
            same = !memcmp(canon_seen[k], tables[k], 256);
        if (same)
            return canon_rows;
    }
    const unsigned char *keep = tables[0], *drop = tables[1], *hint = tables[2], *run = tables[3],
                        *hex = tables[4], *b85 = tables[5];
    for (int c = 0; c < 256; c++) {
        unsigned char m = keep[c];
        int bad = drop[c] || m >= 128, ws = m == ' ' || m == '\n';
        unsigned input = m == 'r' ? ROT_INPUT : m == 'o' ? ROT_INPUT + 1 : m == 't' ? ROT_INPUT + 2
                         : class_input(hint, run, m);
        canon_rows[c].flags = (bad ? C_BAD : 0) | (ws ? C_WS : 0);
        canon_rows[c].next_bad = C_BAD | (ws ? C_WS : 0);
        canon_rows[c].input = (uint16_t)input;
        canon_rows[c].mapped = m;
        canon_rows[c].run_mask = (hex[c] == 'h' ? 0xFFFFFFFFULL : 0) | (b85[c] == 'a' ? 0xFFFFFFFFULL << 32 : 0);
        canon_rows[c].run_reset = b85[c] == 'a' ? 0 : B85_RESET;
    }
    const unsigned rot_base[3] = {class_input(hint, run, 'r'), class_input(hint, run, 'o'), class_input(hint, run, 't')};
    build_trans(rot_base); /* (the inputs of "r", "o" and "t" step as their classes: the tables say which) */
    for (int k = 0; k < 6; k++)
        memcpy(canon_seen[k], tables[k], 256);
    canon_ready = 1;
    return canon_rows;
}

/* How many times byte `c` occurs in s[0:n] (memchr: the gates' digits and dashes are rare in prose). */
static Py_ssize_t
count_byte(const Py_UCS1 *s, Py_ssize_t n, int c)
{
    Py_ssize_t k = 0;
    for (const Py_UCS1 *p = s, *end = s + n; (p = memchr(p, c, (size_t)(end - p))) != NULL; p++)
        k++;
    return k;
}

/* Whether a "0" followed by seven bytes "0" or "1" occurs in s[0:n]: every match of encodings._BIN starts so
 * (the binary gate: prose holds a "0" often, in a number or a date, such eight bytes seldom). */
static int
binary_start(const Py_UCS1 *s, Py_ssize_t n)
{
    for (const Py_UCS1 *p = s, *end = s + n; end - p >= 8 && (p = memchr(p, '0', (size_t)(end - p - 7))) != NULL;
         p++) {
        int k = 1;
        while (k < 8 && (p[k] == '0' || p[k] == '1'))
            k++;
        if (k == 8)
            return 1;
    }
    return 0;
}

/* How many times " " stands before byte `c` in s[0:n]. */
static Py_ssize_t
count_after_space(const Py_UCS1 *s, Py_ssize_t n, int c)
{
    Py_ssize_t k = 0;
    for (const Py_UCS1 *p = s, *end = s + n; (p = memchr(p, c, (size_t)(end - p))) != NULL; p++)
        k += p > s && p[-1] == ' ';
    return k;
}

PyObject *
native_ascii_canon(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 7) {
        PyErr_SetString(PyExc_TypeError, "ascii_canon: expected 7 arguments");
        return NULL;
    }
    PyObject *text = args[0];
    if (!PyUnicode_Check(text)) {
        PyErr_SetString(PyExc_TypeError, "ascii_canon: the text must be a str");
        return NULL;
    }
    if (PyUnicode_READY(text) < 0) /* (as the "U" argument format does) */
        return NULL;
    const unsigned char *tables[6];
    for (int k = 0; k < 6; k++) {
        if (!PyBytes_Check(args[k + 1]) || PyBytes_GET_SIZE(args[k + 1]) != 256) {
            PyErr_SetString(PyExc_ValueError, "ascii_canon: the tables must be bytes of 256 each");
            return NULL;
        }
        tables[k] = (const unsigned char *)PyBytes_AS_STRING(args[k + 1]);
    }
    if (!PyUnicode_IS_ASCII(text)) {
        PyErr_SetString(PyExc_ValueError, "ascii_canon: the text must be ASCII");
        return NULL;
    }
    const Row *rows = canon_entries(tables);
    const Py_UCS1 *in = PyUnicode_1BYTE_DATA(text);
    Py_ssize_t n = PyUnicode_GET_LENGTH(text);
    if (n >= ((Py_ssize_t)1 << 31)) /* (the run lengths are 32-bit halves; such a text takes the general path) */
        Py_RETURN_NONE;
    PyObject *out = PyUnicode_New(n, 127);
    PyObject *codes = PyByteArray_FromStringAndSize(NULL, n * 4);
    PyObject *result = NULL;
    if (out == NULL || codes == NULL)
        goto done;
    Py_UCS1 *o = PyUnicode_1BYTE_DATA(out);
    uint32_t *cp = (uint32_t *)PyByteArray_AS_STRING(codes);
    uint32_t bad = C_BAD; /* C_BAD, and C_WS after a whitespace byte */
    uint64_t runs = B85_RESET, seen = 0; /* the hex and base85 run lengths, and every value they took, or'ed */
    unsigned state = 0;
    const uint16_t *tr = trans; /* (in a register: the loop would read the table's address from the stack) */
#define STEP(j)                                                  \
    do {                                                         \
        const Row *row = &rows[in[j]];                           \
        if (row->flags & bad)                                    \
            goto declined;                                       \
        bad = row->next_bad;                                     \
        o[j] = row->mapped;                                      \
        cp[j] = row->mapped;                                     \
        state = tr[state + row->input];                          \
        runs = ((runs + RUN_ONE) & row->run_mask) | row->run_reset; \
        seen |= runs;                                            \
    } while (0)
    Py_ssize_t i = 0;
    for (; i + 4 <= n; i += 4) { /* four bytes a step: fewer loop tests */
        STEP(i);
        STEP(i + 1);
        STEP(i + 2);
        STEP(i + 3);
    }
    for (; i < n; i++)
        STEP(i);
#undef STEP
    /* the rare bytes' gates after the pass: a binary run's start, "6" and "7", " -" and " ." (encoding_gates's
     * values) */
    int zero = binary_start(in, n);
    Py_ssize_t digits = count_byte(in, n, '6') + count_byte(in, n, '7');
    Py_ssize_t morse = count_after_space(in, n, '-') + count_after_space(in, n, '.');
    /* a run of 32 hex bytes sets a bit >= 5 of the low half (shorter runs never do), one of 40 base85 bytes a
     * bit >= 6 of the high half */
    int hex_run = (seen & 0xFFFFFFE0ULL) != 0, b85_run = (seen >> 38) != 0;
    state /= 64;
    int rot = state % 4 == 3;
    state /= 4;
    /* ("OOii(ninii)ii" built by hand: a format string cost more than the ints, all small and cached but two) */
    PyObject *g[5] = {PyLong_FromSsize_t(morse), PyLong_FromLong(zero), PyLong_FromSsize_t(digits),
                      PyLong_FromLong(hex_run), PyLong_FromLong(b85_run)};
    PyObject *gates = g[0] && g[1] && g[2] && g[3] && g[4] ? tuple_of(5, g) : NULL;
    PyObject *items[7] = {out, codes, PyLong_FromLong(state / 20 == 5), PyLong_FromLong(state / 4 % 5 == 4), gates,
                          PyLong_FromLong(state % 4 == 3), PyLong_FromLong(rot)};
    if (gates != NULL && items[2] && items[3] && items[5] && items[6])
        result = tuple_of(7, items);
    for (int k = 0; k < 5; k++)
        Py_XDECREF(g[k]);
    for (int k = 2; k < 7; k++)
        Py_XDECREF(items[k]);
done:
    Py_XDECREF(out);
    Py_XDECREF(codes);
    return result;
declined: /* a byte dropped or mapped past ASCII, or two whitespace bytes in a row: the general path */
    Py_INCREF(Py_None);
    result = Py_None;
    goto done;
}

/*   encoding_gates(text, hex_map, b85_map) -> (morse, zero, hex_digits, hex_run, b85_run)
 *       For an ASCII `text`, in one pass, the gates encodings.encoded_runs tests with str.count, `in` and a
 *       translate and find per encoding: the number of " -" and " ." pairs, whether a "0" followed by seven
 *       "0"s or "1"s occurs (where a binary run starts: `binary_start`), the number
 *       of "6" and "7", and whether 32 bytes in a row map to "h" in hex_map and 40 in a row to "a" in
 *       b85_map (256 bytes each).
 */
static unsigned char gate_seen[2][256], gate_entry[256];
static int gate_ready;

enum { EG_SPACE = 1, EG_67 = 4, EG_HEX = 8, EG_B85 = 16 };

/* Per byte, its gate classes in one load (cached as `canon_entries`). */
static const unsigned char *
gate_entries(const unsigned char *hex, const unsigned char *b85)
{
    if (gate_ready && !memcmp(gate_seen[0], hex, 256) && !memcmp(gate_seen[1], b85, 256))
        return gate_entry;
    for (int c = 0; c < 256; c++)
        gate_entry[c] = (unsigned char)((c == ' ' ? EG_SPACE : 0) | (c == '6' || c == '7' ? EG_67 : 0) | (hex[c] == 'h' ? EG_HEX : 0)
                                        | (b85[c] == 'a' ? EG_B85 : 0));
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
    int zero, hex_run = 0, b85_run = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        unsigned e = entry[s[i]];
        if ((e & EG_SPACE) && i + 1 < n && (s[i + 1] == '-' || s[i + 1] == '.'))
            morse++;
        digits += (e & EG_67) != 0;
        hex_len = (e & EG_HEX) ? hex_len + 1 : 0;
        hex_run |= hex_len >= 32;
        b85_len = (e & EG_B85) ? b85_len + 1 : 0;
        b85_run |= b85_len >= 40;
    }
    zero = binary_start(s, n);
    result = Py_BuildValue("ninii", morse, zero, digits, hex_run, b85_run);
done:
    PyBuffer_Release(&hb);
    PyBuffer_Release(&bb);
    return result;
}
