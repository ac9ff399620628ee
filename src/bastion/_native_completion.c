/* bastion._native.openai_completion: providers/openai/response.py `decode_response`'s usual answer in C.
 *
 *   openai_completion(body, text, choice, usage, response, finishes) -> ChatResponse | None
 *       `body` is the upstream's parsed JSON; `text`, `choice`, `usage`, `response` are the slot makers
 *       (core/makers.py) of TextPart, Choice, Usage and ChatResponse; `finishes` the wire → canonical map of
 *       finish reasons (a dict). The usual completion (an exact dict without an error; exact str id and model,
 *       exact int created, as absent: "", "" and 0; usage absent, null or an exact dict of plausible counts;
 *       every choice an exact dict whose exact dict message has no refusal nor tool calls, a text or no
 *       content, an exact int index and a str or null finish reason) gives what `decode_response` gives,
 *       made with the same makers from the same objects. Anything else, however unusual, gives None: the
 *       Python path then decides (and raises its errors). A look-up that raises (a key's __eq__) raises.
 */
#include "_native.h"

#define MAX_TOKEN_COUNT 1000000000LL  /* response.py MAX_TOKEN_COUNT */

static PyObject *s_error, *s_choices, *s_id, *s_model, *s_created, *s_usage, *s_prompt, *s_completion,
    *s_prompt_details, *s_cached, *s_completion_details, *s_reasoning, *s_message, *s_content, *s_index,
    *s_finish, *s_refusal, *s_tool_calls, *s_stop, *s_text, *s_empty, *s_zero;

static int
init_strings(void)
{
    if (s_zero != NULL)
        return 0;
#define STR(var, lit) if ((var = PyUnicode_InternFromString(lit)) == NULL) return -1;
    STR(s_error, "error") STR(s_choices, "choices") STR(s_id, "id") STR(s_model, "model")
    STR(s_created, "created") STR(s_usage, "usage") STR(s_prompt, "prompt_tokens")
    STR(s_completion, "completion_tokens") STR(s_prompt_details, "prompt_tokens_details")
    STR(s_cached, "cached_tokens") STR(s_completion_details, "completion_tokens_details")
    STR(s_reasoning, "reasoning_tokens") STR(s_message, "message") STR(s_content, "content")
    STR(s_index, "index") STR(s_finish, "finish_reason") STR(s_refusal, "refusal")
    STR(s_tool_calls, "tool_calls") STR(s_stop, "stop") STR(s_text, "text") STR(s_empty, "")
#undef STR
    if ((s_zero = PyLong_FromLong(0)) == NULL)
        return -1;
    return 0;
}

/* The references one call holds: each value looked up is held from its look-up on (a key's __eq__ or a
 * collection run by an allocation may run Python code that changes the body), released together. */
#define HELD_MAX 16
typedef struct {
    int n;
    PyObject *refs[HELD_MAX];
} Held;

static inline void
release(Held *h)
{
    while (h->n > 0)
        Py_DECREF(h->refs[--h->n]);
}

/* d[key], held by h, or NULL when absent (*err set when the look-up raised). */
static inline PyObject *
get(Held *h, PyObject *d, PyObject *key, int *err)
{
    PyObject *v = PyDict_GetItemWithError(d, key);
    if (v == NULL) {
        if (PyErr_Occurred())
            *err = 1;
        return NULL;
    }
    h->refs[h->n++] = Py_NewRef(v);
    return v;
}

/* Whether v is an exact int in [0, MAX_TOKEN_COUNT]. */
static inline int
plausible(PyObject *v)
{
    if (v == NULL || !PyLong_CheckExact(v))
        return 0;
    int overflow = 0;
    long long x = PyLong_AsLongLongAndOverflow(v, &overflow);
    if (x == -1 && PyErr_Occurred()) {
        PyErr_Clear();
        return 0;
    }
    return !overflow && x >= 0 && x <= MAX_TOKEN_COUNT;
}

/* A details object's count: 1 with *out (s_zero when absent, null or no dict holds it); 0 when the
 * Python path must decide; -1 with an exception. `details` is what the usage holds (or NULL). */
static int
detail_count(Held *h, PyObject *details, PyObject *key, PyObject **out)
{
    *out = s_zero;
    if (details == NULL || !PyDict_Check(details))
        return 1;  /* (not a dict: `isinstance(details, dict)` is false, the count 0) */
    if (!PyDict_CheckExact(details))
        return 0;  /* a dict subclass: its `get` may be its own */
    int err = 0;
    PyObject *n = get(h, details, key, &err);
    if (err)
        return -1;
    if (n == NULL || n == Py_None)
        return 1;
    if (!plausible(n))
        return 0;
    *out = n;
    return 1;
}

/* Calls maker with n arguments; a new reference or NULL. */
static inline PyObject *
make(PyObject *maker, PyObject *const *args, Py_ssize_t n)
{
    return PyObject_Vectorcall(maker, args, (size_t)n, NULL);
}

/* One choice made (a new reference), Py_None (a new reference) when unusual, NULL with an exception. */
static PyObject *
one_choice(PyObject *c, Py_ssize_t position, PyObject *text_maker, PyObject *choice_maker, PyObject *finishes)
{
    if (!PyDict_CheckExact(c))
        Py_RETURN_NONE;
    Held h = {0};
    PyObject *result = NULL, *index_obj = NULL, *parts = NULL, *calls_list = NULL, *thinking = NULL;
    int err = 0;
    PyObject *msg = get(&h, c, s_message, &err);
    if (err)
        goto done;
    if (msg == NULL || !PyDict_CheckExact(msg)) {
        result = Py_NewRef(Py_None);
        goto done;
    }
    PyObject *content = get(&h, msg, s_content, &err);
    PyObject *index = err ? NULL : get(&h, c, s_index, &err);
    PyObject *finish = err ? NULL : get(&h, c, s_finish, &err);
    PyObject *refusal = err ? NULL : get(&h, msg, s_refusal, &err);
    PyObject *calls = err ? NULL : get(&h, msg, s_tool_calls, &err);
    if (err)
        goto done;
    if ((refusal != NULL && refusal != Py_None) || (calls != NULL && calls != Py_None)
            || (index != NULL && !PyLong_CheckExact(index))
            || !(content == NULL || content == Py_None || PyUnicode_CheckExact(content))
            || !(finish == NULL || finish == Py_None || PyUnicode_CheckExact(finish))) {
        result = Py_NewRef(Py_None);
        goto done;
    }
    PyObject *reason = Py_None;
    if (finish != NULL && finish != Py_None) {
        reason = get(&h, finishes, finish, &err);
        if (err)
            goto done;
        if (reason == NULL)
            reason = s_stop;  /* FINISH_REASONS.get(value, "stop") */
    }
    index_obj = index != NULL ? Py_NewRef(index) : PyLong_FromSsize_t(position);
    if (index_obj == NULL)
        goto done;
    if (content != NULL && content != Py_None && PyUnicode_GET_LENGTH(content) > 0) {
        PyObject *targs[3] = {content, s_text, Py_None};  /* TextPart(content, "text", None) */
        PyObject *part = make(text_maker, targs, 3);
        if (part == NULL)
            goto done;
        parts = PyList_New(1);
        if (parts == NULL) {
            Py_DECREF(part);
            goto done;
        }
        PyList_SET_ITEM(parts, 0, part);
    }
    else if ((parts = PyList_New(0)) == NULL)
        goto done;
    if ((calls_list = PyList_New(0)) == NULL || (thinking = PyList_New(0)) == NULL)
        goto done;
    /* Choice(index, content, tool_calls, finish_reason, refusal, thinking) */
    PyObject *cargs[6] = {index_obj, parts, calls_list, reason, Py_None, thinking};
    result = make(choice_maker, cargs, 6);
done:
    Py_XDECREF(index_obj);
    Py_XDECREF(parts);
    Py_XDECREF(calls_list);
    Py_XDECREF(thinking);
    release(&h);
    return result;
}

PyObject *
native_openai_completion(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 6 || !PyDict_CheckExact(args[5])) {
        PyErr_SetString(PyExc_TypeError, "openai_completion(body, text, choice, usage, response, finishes)");
        return NULL;
    }
    if (init_strings() < 0)
        return NULL;
    PyObject *body = args[0], *text_maker = args[1], *choice_maker = args[2], *usage_maker = args[3],
             *response_maker = args[4], *finishes = args[5];
    if (!PyDict_CheckExact(body))
        Py_RETURN_NONE;
    Held h = {0};
    PyObject *result = NULL, *out = NULL, *usage = NULL;
    int err = 0;
    PyObject *e = get(&h, body, s_error, &err);
    if (err)
        goto done;
    if (e != NULL && e != Py_None)
        goto unusual;
    PyObject *choices = get(&h, body, s_choices, &err);
    PyObject *rid = err ? NULL : get(&h, body, s_id, &err);
    PyObject *model = err ? NULL : get(&h, body, s_model, &err);
    PyObject *created = err ? NULL : get(&h, body, s_created, &err);
    if (err)
        goto done;
    if (rid == NULL)
        rid = s_empty;
    if (model == NULL)
        model = s_empty;
    if (created == NULL)
        created = s_zero;
    if (choices == NULL || !PyList_CheckExact(choices) || !PyUnicode_CheckExact(rid) || !PyUnicode_CheckExact(model)
            || !PyLong_CheckExact(created))
        goto unusual;
    PyObject *value = get(&h, body, s_usage, &err);
    if (err)
        goto done;
    /* Usage(input, output, cached_input, cache_write, reasoning, cache_write_1h), checked before any choice */
    PyObject *counts[6] = {NULL, NULL, s_zero, s_zero, s_zero, s_zero};
    int with_usage = value != NULL && value != Py_None;
    if (with_usage) {
        if (!PyDict_CheckExact(value))
            goto unusual;
        counts[0] = get(&h, value, s_prompt, &err);
        counts[1] = err ? NULL : get(&h, value, s_completion, &err);
        if (err)
            goto done;
        if (!plausible(counts[0]) || !plausible(counts[1]))
            goto unusual;
        PyObject *details = get(&h, value, s_prompt_details, &err);
        if (err)
            goto done;
        int rc = detail_count(&h, details, s_cached, &counts[2]);
        if (rc < 0)
            goto done;
        if (rc == 0)
            goto unusual;
        details = get(&h, value, s_completion_details, &err);
        if (err)
            goto done;
        rc = detail_count(&h, details, s_reasoning, &counts[4]);
        if (rc < 0)
            goto done;
        if (rc == 0)
            goto unusual;
    }
    out = PyList_New(0);
    if (out == NULL)
        goto done;
    for (Py_ssize_t position = 0; position < PyList_GET_SIZE(choices); position++) {
        PyObject *c = Py_NewRef(PyList_GET_ITEM(choices, position));
        PyObject *choice = one_choice(c, position, text_maker, choice_maker, finishes);
        Py_DECREF(c);
        if (choice == NULL)
            goto done;
        if (choice == Py_None) {
            Py_DECREF(choice);
            goto unusual;
        }
        int rc = PyList_Append(out, choice);
        Py_DECREF(choice);
        if (rc < 0)
            goto done;
    }
    usage = with_usage ? make(usage_maker, counts, 6) : Py_NewRef(Py_None);
    if (usage == NULL)
        goto done;
    /* ChatResponse(id, model, choices, usage, created, stop_sequence) */
    PyObject *rargs[6] = {rid, model, out, usage, created, Py_None};
    result = make(response_maker, rargs, 6);
    goto done;
unusual:
    result = Py_NewRef(Py_None);
done:
    Py_XDECREF(usage);
    Py_XDECREF(out);
    release(&h);
    return result;
}
