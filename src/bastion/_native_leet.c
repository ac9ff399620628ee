/* bastion._native.leet_runs: the injection detector's leetspeak runs (policy/injection/leet.py) in one pass.
 *
 *   leet_runs(text) -> list[(start, end)]
 *       The maximal runs of word characters, "@" and "$" (the regex module's \w for str: alphanumeric or
 *       "_") that hold a mapped character (0 1 3 4 5 7 8 @ $) and a letter (a word character that is not
 *       a decimal digit or "_") next to each other, in either order, with only unmapped decimal digits
 *       and "_" between them: the spans leet._leet_runs finds with its two regex scans, in text order.
 */
#include "_native.h"

static inline int
leet_class(Py_UCS4 c)
{
    if (c < 128)
        return leet_class_ascii(c);
    if (!Py_UNICODE_ISALNUM(c))
        return LEET_OTHER;
    return Py_UNICODE_ISDECIMAL(c) ? LEET_SKIP : LEET_LETTER;
}

static unsigned char latin1[256]; /* leet_class of U+0000..U+00FF, filled at the first call */
static int latin1_ready;

/* The runs of a text of one kind (T: its code unit type; CLASS(c): leet_class of a code unit). */
#define LEET_SCAN(T, CLASS)                                                                  \
    do {                                                                                     \
        const T *u = (const T *)data;                                                        \
        Py_ssize_t i = 0;                                                                    \
        while (i < n) {                                                                      \
            if (CLASS(u[i]) == LEET_OTHER) {                                                      \
                i++;                                                                         \
                continue;                                                                    \
            }                                                                                \
            Py_ssize_t start = i;                                                            \
            int st = LEET_OTHER, pair = 0; /* STEP's state: the run's last mapped character or letter */ \
            for (; i < n; i++) {                                                             \
                int k = CLASS(u[i]);                                                         \
                if (k == LEET_OTHER)                                                              \
                    break;                                                                   \
                st = LEET_STEP[(st & 3) << 2 | k];                                                \
                pair |= st;                                                                  \
            }                                                                                \
            if ((pair & LEET_MET) && append_span(out, start, i) < 0) {                       \
                Py_DECREF(out);                                                              \
                return NULL;                                                                 \
            }                                                                                \
        }                                                                                    \
    } while (0)

#define LATIN1_CLASS(c) (latin1[(c)])
#define WIDE_CLASS(c) ((c) < 256 ? latin1[(c)] : leet_class(c))

PyObject *
native_leet_runs(PyObject *self, PyObject *args)
{
    PyObject *text;
    if (!PyArg_ParseTuple(args, "U", &text))
        return NULL;
    if (!latin1_ready) {
        for (Py_UCS4 c = 0; c < 256; c++)
            latin1[c] = (unsigned char)leet_class(c);
        latin1_ready = 1;
    }
    Py_ssize_t n = PyUnicode_GET_LENGTH(text);
    int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    PyObject *out = PyList_New(0);
    if (out == NULL)
        return NULL;
    if (kind == PyUnicode_1BYTE_KIND)
        LEET_SCAN(Py_UCS1, LATIN1_CLASS);
    else if (kind == PyUnicode_2BYTE_KIND)
        LEET_SCAN(Py_UCS2, WIDE_CLASS);
    else
        LEET_SCAN(Py_UCS4, WIDE_CLASS);
    return out;
}
