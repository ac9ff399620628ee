/* The OpenAI stream's first and usage chunks read in C (providers/openai/stream.py), and an Anthropic
 * message_delta's usage (`anthropic_delta_usage`, below) and message_start (`anthropic_start`): each gives what the Python path gives, or None for
 * anything unusual, however unusual (the Python path then decides, and raises its errors).
 *
 *   openai_opening(data, tails, start) -> (head, tail, ends, StreamStart) | None
 *       `opening_template` and `opening_start` of a first chunk in one pass: data (bytes) whose last
 *       `"choices":[{"index":0,"delta":` is preceded by no backslash and followed by one of the three openings
 *       then a tail (`}` + what follows the opening) that is a key of `tails` (stream.py `_TAILS`), and whose
 *       members (the bytes before it, ending in a comma) read as an object (the comma made its end) of at least
 *       one member, none named `error` or `usage`, every value a string, an integer of at most 18 digits, true,
 *       false, null or an object of them (nested four deep at most), with no white space anywhere. Gives the
 *       template's head (the members and `_CHOICE0`) and tail, `tails[tail]`, and the start made by `start` (the slot maker of StreamStart) from the id, model
 *       (their strings, else "") and created (its integer, else 0), the last of a member given twice winning
 *       (as orjson reads it). Any other chunk (a number with a fraction or exponent, an array, white space...)
 *       None, though it may well be the Python path's usual case: orjson then reads it.
 *
 *   openai_usage(data, prefix, usage, event) -> [UsageEvent] | None
 *       `EndShapes.events` of a usage chunk: data that is `prefix` (the shapes' `usage`), an object and `}`,
 *       where the object holds the same kinds of values as above and objects of them (nested four deep at most),
 *       its prompt and completion counts absent, null or integers in [0, MAX_TOKEN_COUNT], and the cached and
 *       reasoning counts likewise inside `prompt_tokens_details` and `completion_tokens_details` when those are
 *       objects (response.py `decode_usage`). Gives [event(usage(input, output, cached, 0, reasoning, 0))],
 *       `usage` and `event` the slot makers of Usage and UsageEvent. None for any other chunk.
 *
 * Every read is bounds-checked against the bytes given; strings are taken only without escapes
 * (`plain_json_text`), so their bytes are their text.
 */
#include "_native.h"

#define MAX_TOKEN_COUNT 1000000000LL  /* response.py MAX_TOKEN_COUNT */
#define MAX_DIGITS 18                 /* an integer of more may not fit a long long (orjson: a float past u64) */
#define MAX_DEPTH 4

static const char DELTA0[] = "\"choices\":[{\"index\":0,\"delta\":";
static const char CHOICE0[] = "\"choices\":[{\"index\":0,\"delta\":{\"content\":";
static const char *const OPENINGS[] = {"{\"role\":\"assistant\",\"content\":\"\"}",
                                       "{\"role\":\"assistant\",\"content\":\"\",\"refusal\":null}",
                                       "{\"content\":\"\"}"};
#define LIT_LEN(s) ((Py_ssize_t)(sizeof(s) - 1))

/* JSON read from p[0:n]; with `closed`, a `}` stands at n (the members' comma made the object's end); with
 * `arrays`, an empty array is a value too (`anthropic_start`'s `"content":[]`; the OpenAI readers take none). */
typedef struct {
    const unsigned char *p;
    Py_ssize_t n, at;
    int closed, arrays;
} Reader;

enum { V_NONE, V_STR, V_INT, V_NULL, V_BOOL, V_OBJ, V_EMPTY_ARRAY };
typedef struct {
    int kind;
    Py_ssize_t start, len;  /* V_STR: the bytes between the quotes; V_OBJ: where its `{` is */
    long long i;            /* V_INT */
    int ascii;              /* V_STR */
} Value;

/* The byte at i (the closing `}` at n when closed), -1 past the end. */
static inline int
byte_at(const Reader *r, Py_ssize_t i)
{
    if (i < r->n)
        return r->p[i];
    return i == r->n && r->closed ? '}' : -1;
}

/* A string at r->at without escapes: 0 with its bytes in *v; -1 when unusual. */
static int
read_string(Reader *r, Value *v)
{
    if (byte_at(r, r->at) != '"')
        return -1;
    Py_ssize_t start = r->at + 1;
    if (start > r->n)
        return -1;
    const unsigned char *q = memchr(r->p + start, '"', (size_t)(r->n - start));
    if (q == NULL)
        return -1;
    Py_ssize_t len = q - (r->p + start);
    int ascii = 1;
    if (!plain_json_text(r->p + start, len, &ascii))
        return -1;
    v->kind = V_STR;
    v->start = start;
    v->len = len;
    v->ascii = ascii;
    r->at = start + len + 1;
    return 0;
}

static int read_object(Reader *r, int depth, const char *const *keys, int nkeys, Value *found);

/* Any value of the kinds taken at r->at: 0 with it in *v; -1 when unusual. */
static int
read_value(Reader *r, int depth, Value *v)
{
    int c = byte_at(r, r->at);
    if (c == '"')
        return read_string(r, v);
    if (c == '{') {
        v->kind = V_OBJ;
        v->start = r->at;
        return depth >= MAX_DEPTH ? -1 : read_object(r, depth + 1, NULL, 0, NULL);
    }
    if (c == '[' && r->arrays && byte_at(r, r->at + 1) == ']') {
        v->kind = V_EMPTY_ARRAY;
        r->at += 2;
        return 0;
    }
    static const char *const WORDS[3] = {"null", "true", "false"};
    for (int w = 0; w < 3; w++) {
        Py_ssize_t len = (Py_ssize_t)strlen(WORDS[w]);
        if (r->n - r->at >= len && memcmp(r->p + r->at, WORDS[w], (size_t)len) == 0) {
            v->kind = w == 0 ? V_NULL : V_BOOL;
            r->at += len;
            return 0;
        }
    }
    int negative = c == '-';
    Py_ssize_t k = r->at + negative, digits = 0;
    long long x = 0;
    while (k < r->n && r->p[k] >= '0' && r->p[k] <= '9') {
        if (++digits > MAX_DIGITS)
            return -1;
        x = x * 10 + (r->p[k++] - '0');
    }
    /* no digit or a leading zero: not the usual integer (nor one with a fraction or exponent next, where the
     * object's reader finds no comma) */
    if (digits == 0 || (digits > 1 && r->p[r->at + negative] == '0'))
        return -1;
    v->kind = V_INT;
    v->i = negative ? -x : x;
    r->at = k;
    return 0;
}

/* An object at r->at, read to its end: 0, with found[j] the last value of keys[j] (V_NONE when absent; the
 * caller clears them); -1 when unusual. */
static int
read_object(Reader *r, int depth, const char *const *keys, int nkeys, Value *found)
{
    if (byte_at(r, r->at) != '{')
        return -1;
    r->at++;
    if (byte_at(r, r->at) == '}') {
        r->at++;
        return 0;
    }
    for (;;) {
        Value key, value;
        if (read_string(r, &key) < 0 || byte_at(r, r->at) != ':')
            return -1;
        r->at++;
        if (read_value(r, depth, &value) < 0)
            return -1;
        for (int j = 0; j < nkeys; j++)
            if ((Py_ssize_t)strlen(keys[j]) == key.len && memcmp(r->p + key.start, keys[j], (size_t)key.len) == 0)
                found[j] = value;
        int c = byte_at(r, r->at++);
        if (c == '}')
            return 0;
        if (c != ',')
            return -1;
    }
}

/* The str of a V_STR value (a new reference), or NULL with an exception. */
static PyObject *
string_of(const Reader *r, const Value *v)
{
    if (!v->ascii)
        return PyUnicode_DecodeUTF8((const char *)r->p + v->start, v->len, "strict");
    PyObject *s = PyUnicode_New(v->len, 127);
    if (s != NULL)
        memcpy(PyUnicode_1BYTE_DATA(s), r->p + v->start, (size_t)v->len);
    return s;
}

/* The last occurrence of needle[0:m] in p[0:n] ending by n, or -1. */
static Py_ssize_t
last_of(const unsigned char *p, Py_ssize_t n, const char *needle, Py_ssize_t m)
{
    for (Py_ssize_t i = n - m; i >= 0; i--)
        if (p[i] == (unsigned char)needle[0] && memcmp(p + i, needle, (size_t)m) == 0)
            return i;
    return -1;
}

enum { K_ID, K_MODEL, K_CREATED, K_ERROR, K_USAGE, K_COUNT };
static const char *const START_KEYS[K_COUNT] = {"id", "model", "created", "error", "usage"};

PyObject *
native_openai_opening(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3 || !PyBytes_CheckExact(args[0]) || !PyDict_CheckExact(args[1])) {
        PyErr_SetString(PyExc_TypeError, "openai_opening(data: bytes, tails: dict, start: maker)");
        return NULL;
    }
    const unsigned char *d = (const unsigned char *)PyBytes_AS_STRING(args[0]);
    Py_ssize_t n = PyBytes_GET_SIZE(args[0]);
    Py_ssize_t cut = last_of(d, n, DELTA0, LIT_LEN(DELTA0));
    if (cut < 1 || d[cut - 1] != ',')  /* (a backslash before it: in a string, refused; elsewhere, no JSON) */
        Py_RETURN_NONE;
    Py_ssize_t at = cut + LIT_LEN(DELTA0), open_len = -1;
    for (size_t k = 0; k < sizeof(OPENINGS) / sizeof(OPENINGS[0]); k++) {
        Py_ssize_t len = (Py_ssize_t)strlen(OPENINGS[k]);
        if (n - at >= len && memcmp(d + at, OPENINGS[k], (size_t)len) == 0) {
            open_len = len;
            break;
        }
    }
    if (open_len < 0)
        Py_RETURN_NONE;
    /* the members: `{`, then members each followed by a comma, the last one's made the object's end */
    Reader r = {d, cut - 1, 0, 1, 0};
    Value found[K_COUNT] = {{0}};
    if (byte_at(&r, 1) == '}' || read_object(&r, 1, START_KEYS, K_COUNT, found) < 0 || r.at != cut
            || found[K_ERROR].kind != V_NONE || found[K_USAGE].kind != V_NONE)
        Py_RETURN_NONE;
    /* the tail: `}` and the chunk's bytes after the opening */
    Py_ssize_t rest = n - at - open_len;
    PyObject *tail = PyBytes_FromStringAndSize(NULL, rest + 1);
    if (tail == NULL)
        return NULL;
    PyBytes_AS_STRING(tail)[0] = '}';
    memcpy(PyBytes_AS_STRING(tail) + 1, d + at + open_len, (size_t)rest);
    PyObject *ends = PyDict_GetItemWithError(args[1], tail);  /* (bytes keys: no code of ours runs) */
    if (ends == NULL) {
        Py_DECREF(tail);
        if (PyErr_Occurred())
            return NULL;
        Py_RETURN_NONE;
    }
    Py_INCREF(ends);
    PyObject *head = NULL, *rid = NULL, *model = NULL, *created = NULL, *start = NULL, *out = NULL;
    head = PyBytes_FromStringAndSize(NULL, cut + LIT_LEN(CHOICE0));
    if (head == NULL)
        goto done;
    memcpy(PyBytes_AS_STRING(head), d, (size_t)cut);
    memcpy(PyBytes_AS_STRING(head) + cut, CHOICE0, (size_t)LIT_LEN(CHOICE0));
    rid = found[K_ID].kind == V_STR ? string_of(&r, &found[K_ID]) : PyUnicode_New(0, 0);
    model = found[K_MODEL].kind == V_STR ? string_of(&r, &found[K_MODEL]) : PyUnicode_New(0, 0);
    created = PyLong_FromLongLong(found[K_CREATED].kind == V_INT ? found[K_CREATED].i : 0);
    if (rid == NULL || model == NULL || created == NULL)
        goto done;
    PyObject *fields[4] = {rid, model, created, Py_None};
    start = PyObject_Vectorcall(args[2], fields, 4, NULL);
    if (start == NULL)
        goto done;
    PyObject *items[4] = {head, tail, ends, start};
    out = tuple_of(4, items);
done:
    Py_XDECREF(head);
    Py_DECREF(tail);
    Py_DECREF(ends);
    Py_XDECREF(rid);
    Py_XDECREF(model);
    Py_XDECREF(created);
    Py_XDECREF(start);
    return out;
}

enum { U_PROMPT, U_COMPLETION, U_PROMPT_DETAILS, U_COMPLETION_DETAILS, U_COUNT };
static const char *const USAGE_KEYS[U_COUNT] = {"prompt_tokens", "completion_tokens", "prompt_tokens_details",
                                                "completion_tokens_details"};

/* A count as `decode_usage` takes it: 0 with *out (0 when absent or null); -1 when the Python path decides. */
static int
count_of(const Value *v, long long *out)
{
    *out = 0;
    if (v->kind == V_NONE || v->kind == V_NULL)
        return 0;
    if (v->kind != V_INT || v->i < 0 || v->i > MAX_TOKEN_COUNT)
        return -1;
    *out = v->i;
    return 0;
}

/* The count `key` of a details value (read already, whole): 0 with *out (0 when it is no object); -1 when
 * the Python path decides. */
static int
detail_of(const Reader *whole, const Value *details, const char *key, long long *out)
{
    *out = 0;
    if (details->kind != V_OBJ)
        return 0;
    Reader r = {whole->p, whole->n, details->start, whole->closed, whole->arrays};
    Value found = {0};
    if (read_object(&r, 1, &key, 1, &found) < 0)
        return -1;
    return count_of(&found, out);
}

PyObject *
native_openai_usage(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 4 || !PyBytes_CheckExact(args[0]) || !PyBytes_CheckExact(args[1])) {
        PyErr_SetString(PyExc_TypeError, "openai_usage(data: bytes, prefix: bytes, usage: maker, event: maker)");
        return NULL;
    }
    const unsigned char *d = (const unsigned char *)PyBytes_AS_STRING(args[0]);
    Py_ssize_t n = PyBytes_GET_SIZE(args[0]), plen = PyBytes_GET_SIZE(args[1]);
    if (n < plen + 2 || memcmp(d, PyBytes_AS_STRING(args[1]), (size_t)plen) != 0 || d[n - 1] != '}')
        Py_RETURN_NONE;
    Reader r = {d + plen, n - plen - 1, 0, 0, 0};  /* the object, the chunk's `}` after it */
    Value found[U_COUNT] = {{0}};
    long long c[4];
    if (read_object(&r, 1, USAGE_KEYS, U_COUNT, found) < 0 || r.at != r.n
            || count_of(&found[U_PROMPT], &c[0]) < 0 || count_of(&found[U_COMPLETION], &c[1]) < 0
            || detail_of(&r, &found[U_PROMPT_DETAILS], "cached_tokens", &c[2]) < 0
            || detail_of(&r, &found[U_COMPLETION_DETAILS], "reasoning_tokens", &c[3]) < 0)
        Py_RETURN_NONE;
    PyObject *fields[6] = {NULL, NULL, NULL, NULL, NULL, NULL}, *usage = NULL, *event = NULL, *out = NULL;
    static const int FROM[6] = {0, 1, 2, -1, 3, -1};  /* Usage's fields: input, output, cached, cache write,
                                                       * reasoning, 1h cache write */
    for (int k = 0; k < 6; k++)
        if ((fields[k] = PyLong_FromLongLong(FROM[k] < 0 ? 0 : c[FROM[k]])) == NULL)
            goto done;
    if ((usage = PyObject_Vectorcall(args[2], fields, 6, NULL)) == NULL)
        goto done;
    if ((event = PyObject_Vectorcall(args[3], &usage, 1, NULL)) == NULL)
        goto done;
    if ((out = PyList_New(1)) != NULL)
        PyList_SET_ITEM(out, 0, Py_NewRef(event));
done:
    for (int k = 0; k < 6; k++)
        Py_XDECREF(fields[k]);
    Py_XDECREF(usage);
    Py_XDECREF(event);
    return out;
}

/* ---- anthropic_delta_usage ------------------------------------------------------------------------------- */

enum { A_INPUT, A_OUTPUT, A_CACHE_READ, A_CACHE_CREATION, A_SPLIT, A_COUNT };
static const char *const ANTHROPIC_KEYS[A_COUNT] = {"input_tokens", "output_tokens", "cache_read_input_tokens",
                                                    "cache_creation_input_tokens", "cache_creation"};

/* A count as mapping.py `UsageCounter.update` takes it: 0 with *out a new reference (None when absent or null:
 * no update); -1 when the Python path decides (it raises); -2 with an exception. */
static int
anthropic_count(const Value *v, PyObject **out)
{
    if (v->kind == V_NONE || v->kind == V_NULL) {
        *out = Py_NewRef(Py_None);
        return 0;
    }
    if (v->kind != V_INT || v->i < 0 || v->i > MAX_TOKEN_COUNT)
        return -1;
    return (*out = PyLong_FromLongLong(v->i)) == NULL ? -2 : 0;
}

/* A usage object at r->at read to its end, as `UsageCounter.update` counts it: 0 with counts[0:A_COUNT] new
 * references (None for each count absent or null); -1 when the Python path decides; -2 with an exception.
 * counts come in NULL and, on -1 and -2, stay NULL or hold references the caller drops. */
static int
anthropic_counts(Reader *r, PyObject **counts)
{
    Value found[A_COUNT] = {{0}}, hour = {0};
    if (read_object(r, 1, ANTHROPIC_KEYS, A_COUNT, found) < 0)
        return -1;
    if (found[A_SPLIT].kind == V_OBJ) {
        static const char *const HOUR[1] = {"ephemeral_1h_input_tokens"};
        Reader split = {r->p, r->n, found[A_SPLIT].start, r->closed, r->arrays};
        if (read_object(&split, 1, HOUR, 1, &hour) < 0)
            return -1;
    }
    int rc = 0;
    for (int k = 0; k < A_COUNT && rc == 0; k++)
        rc = anthropic_count(k == A_SPLIT ? &hour : &found[k], &counts[k]);
    return rc;
}

/* bastion._native.anthropic_delta_usage: providers/anthropic/stream_decode.py `_known`'s usage of a message_delta.
 *
 *   anthropic_delta_usage(data, start) -> (input, output, cache_read, cache_creation, cache_1h) | None
 *       When data[start:-1] (data ending in `}`) is an object of the kinds `openai_usage` reads, whose counts
 *       `input_tokens`, `output_tokens`, `cache_read_input_tokens`, `cache_creation_input_tokens` (and
 *       `ephemeral_1h_input_tokens` inside `cache_creation`, when that is an object) are absent, null or integers
 *       in [0, MAX_TOKEN_COUNT]: those counts, None for each absent or null (`UsageCounter.update` leaves it).
 *       None for any other data (the Python path parses it, and refuses what it refuses).
 */
PyObject *
native_anthropic_delta_usage(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2 || !PyBytes_CheckExact(args[0])) {
        PyErr_SetString(PyExc_TypeError, "anthropic_delta_usage(data: bytes, start: int)");
        return NULL;
    }
    const unsigned char *d = (const unsigned char *)PyBytes_AS_STRING(args[0]);
    Py_ssize_t n = PyBytes_GET_SIZE(args[0]), start = index_arg(args[1]);
    if (start == -1 && PyErr_Occurred())
        return NULL;
    if (start < 0 || start >= n || d[n - 1] != '}')
        Py_RETURN_NONE;
    Reader r = {d + start, n - start - 1, 0, 0, 0};
    PyObject *counts[A_COUNT] = {NULL, NULL, NULL, NULL, NULL}, *out = NULL;
    int rc = anthropic_counts(&r, counts);
    if (rc == 0 && r.at != r.n)
        rc = -1;
    if (rc == 0)
        out = tuple_of(A_COUNT, counts);
    else if (rc == -1)
        out = Py_NewRef(Py_None);
    for (int k = 0; k < A_COUNT; k++)
        Py_XDECREF(counts[k]);
    return out;
}

/* ---- anthropic_start ------------------------------------------------------------------------------------- */

enum { T_TYPE, T_MESSAGE, T_COUNT };
static const char *const TOP_KEYS[T_COUNT] = {"type", "message"};
enum { M_ID, M_MODEL, M_CONTENT, M_USAGE, M_COUNT };
static const char *const MESSAGE_KEYS[M_COUNT] = {"id", "model", "content", "usage"};

/* bastion._native.anthropic_start: providers/anthropic/stream_decode.py `_message_start` of a message_start.
 *
 *   anthropic_start(data) -> (id, model, (input, output, cache_read, cache_creation, cache_1h)) | None
 *       When data is one object (no white space anywhere, nothing after it) of the kinds `openai_usage` reads,
 *       empty arrays besides, whose `type` is "message_start" and whose `message` is an object with string `id`
 *       and `model`, a `content` absent, null or [], and a `usage` absent, null or an object counted as
 *       `anthropic_delta_usage` counts it: the id, the model and those counts (None for each absent or null).
 *       The last of a member given twice wins (as orjson reads it). None for any other data: the Python path
 *       parses it, and refuses what it refuses (a content that is not empty, a count out of range...).
 */
PyObject *
native_anthropic_start(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 1 || !PyBytes_CheckExact(args[0])) {
        PyErr_SetString(PyExc_TypeError, "anthropic_start(data: bytes)");
        return NULL;
    }
    const unsigned char *d = (const unsigned char *)PyBytes_AS_STRING(args[0]);
    Reader r = {d, PyBytes_GET_SIZE(args[0]), 0, 0, 1};
    Value top[T_COUNT] = {{0}}, message[M_COUNT] = {{0}};
    if (read_object(&r, 1, TOP_KEYS, T_COUNT, top) < 0 || r.at != r.n || top[T_TYPE].kind != V_STR
            || top[T_TYPE].len != LIT_LEN("message_start")
            || memcmp(d + top[T_TYPE].start, "message_start", (size_t)LIT_LEN("message_start")) != 0
            || top[T_MESSAGE].kind != V_OBJ)
        Py_RETURN_NONE;
    Reader m = {d, r.n, top[T_MESSAGE].start, 0, 1};
    if (read_object(&m, 2, MESSAGE_KEYS, M_COUNT, message) < 0 || message[M_ID].kind != V_STR
            || message[M_MODEL].kind != V_STR
            || !(message[M_CONTENT].kind == V_NONE || message[M_CONTENT].kind == V_NULL
                 || message[M_CONTENT].kind == V_EMPTY_ARRAY))
        Py_RETURN_NONE;
    PyObject *counts[A_COUNT] = {NULL, NULL, NULL, NULL, NULL}, *mid = NULL, *model = NULL, *usage = NULL;
    PyObject *out = NULL;
    int rc = 0;
    if (message[M_USAGE].kind == V_OBJ) {
        Reader u = {d, r.n, message[M_USAGE].start, 0, 1};
        rc = anthropic_counts(&u, counts);
    }
    else if (message[M_USAGE].kind == V_NONE || message[M_USAGE].kind == V_NULL) {
        for (int k = 0; k < A_COUNT; k++)
            counts[k] = Py_NewRef(Py_None);
    }
    else
        rc = -1;  /* a usage that is no object: `update` refuses it */
    if (rc == -1)
        out = Py_NewRef(Py_None);
    if (rc != 0)
        goto done;
    if ((mid = string_of(&r, &message[M_ID])) == NULL || (model = string_of(&r, &message[M_MODEL])) == NULL
            || (usage = tuple_of(A_COUNT, counts)) == NULL)
        goto done;
    PyObject *items[3] = {mid, model, usage};
    out = tuple_of(3, items);
done:
    for (int k = 0; k < A_COUNT; k++)
        Py_XDECREF(counts[k]);
    Py_XDECREF(mid);
    Py_XDECREF(model);
    Py_XDECREF(usage);
    return out;
}
