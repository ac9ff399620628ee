/* The OpenAI wire format's usual shapes in C (providers/openai/): each gives what the Python path gives, or
 * None for anything unusual, however unusual (the Python path then decides, and raises its errors).
 *
 *   openai_completion(body, text, choice, usage, response, finishes) -> ChatResponse | None
 *       response.py `decode_response`. `body` is the upstream's parsed JSON; `text`, `choice`, `usage`,
 *       `response` are the slot makers (core/makers.py) of TextPart, Choice, Usage and ChatResponse;
 *       `finishes` the wire → canonical map of finish reasons (a dict). The usual completion (an exact dict
 *       without an error; exact str id and model, exact int created, as absent: "", "" and 0; usage absent,
 *       null or an exact dict of plausible counts; every choice an exact dict whose exact dict message has no
 *       refusal nor tool calls, a text or no content, an exact int index and a str or null finish reason)
 *       gives what `decode_response` gives, made with the same makers from the same objects. A look-up that
 *       raises (a key's __eq__) raises.
 *
 *   request_encoder(ChatRequest, Message, TextPart) -> encoder;  encoder(req, model, compatible) -> dict | None
 *       request.py `encode_request` of the usual request: a ChatRequest (exactly) without system, tools, stop
 *       or extra (each an exact empty list or dict), `stream` a bool, each message a Message (exactly) of one
 *       TextPart (exactly), not a tool's, without name or tool calls: the same body, keys in the same order,
 *       holding the same objects. The classes' fields are read from their slots (TypeError at creation when
 *       one is not a plain slot).
 */
#include "_native.h"

#define MAX_TOKEN_COUNT 1000000000LL  /* response.py MAX_TOKEN_COUNT */

static PyObject *s_error, *s_choices, *s_id, *s_model, *s_created, *s_usage, *s_prompt, *s_completion,
    *s_prompt_details, *s_cached, *s_completion_details, *s_reasoning, *s_message, *s_content, *s_index,
    *s_finish, *s_refusal, *s_tool_calls, *s_stop, *s_text, *s_empty, *s_zero, *s_role, *s_messages, *s_system,
    *s_developer, *s_max_tokens, *s_max_completion, *s_temperature, *s_top_p, *s_top_k, *s_seed, *s_user, *s_n,
    *s_response_format, *s_stream, *s_stream_options, *s_include_usage;

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
    STR(s_role, "role") STR(s_messages, "messages") STR(s_system, "system") STR(s_developer, "developer")
    STR(s_max_tokens, "max_tokens") STR(s_max_completion, "max_completion_tokens") STR(s_temperature, "temperature")
    STR(s_top_p, "top_p") STR(s_top_k, "top_k") STR(s_seed, "seed") STR(s_user, "user") STR(s_n, "n")
    STR(s_response_format, "response_format") STR(s_stream, "stream") STR(s_stream_options, "stream_options")
    STR(s_include_usage, "include_usage")
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


/* ---- request_encoder ------------------------------------------------------------------------------- */

#include <structmember.h>

/* ChatRequest's fields read, in the order encode_request reads them */
enum { R_MESSAGES, R_SYSTEM, R_TOOLS, R_MAX_TOKENS, R_TEMPERATURE, R_TOP_P, R_TOP_K, R_STOP, R_SEED, R_USER, R_N,
       R_RESPONSE_FORMAT, R_STREAM, R_EXTRA, R_COUNT };
static const char *const REQUEST_FIELDS[R_COUNT] = {"messages", "system", "tools", "max_tokens", "temperature",
    "top_p", "top_k", "stop", "seed", "user", "n", "response_format", "stream", "extra"};
enum { M_ROLE, M_CONTENT, M_TOOL_CALLS, M_NAME, M_COUNT };
static const char *const MESSAGE_FIELDS[M_COUNT] = {"role", "content", "tool_calls", "name"};

typedef struct {
    PyObject_HEAD
    vectorcallfunc vectorcall;
    PyTypeObject *req_cls, *msg_cls, *text_cls;  /* strong references */
    Py_ssize_t req_off[R_COUNT], msg_off[M_COUNT], text_off;
} Encoder;

/* The offset of cls's plain object slot `name` (as slot_maker finds it); -1 with TypeError. */
static Py_ssize_t
slot_offset(PyTypeObject *cls, const char *name)
{
    PyObject *d = PyObject_GetAttrString((PyObject *)cls, name);
    if (d == NULL)
        return -1;
    Py_ssize_t off = -1;
    if (Py_IS_TYPE(d, &PyMemberDescr_Type) && ((PyMemberDescrObject *)d)->d_member->type == T_OBJECT_EX
            && PyType_IsSubtype(cls, PyDescr_TYPE(d)))
        off = ((PyMemberDescrObject *)d)->d_member->offset;
    Py_DECREF(d);
    if (off < 0)
        PyErr_Format(PyExc_TypeError, "request_encoder: %s is not a plain slot of %s", name, cls->tp_name);
    return off;
}

/* The slot at off of obj, or NULL when unset. Borrowed. */
#define SLOT(obj, off) (*(PyObject **)((char *)(obj) + (off)))

/* Whether v is an exact empty list (1), something else (0). */
static inline int
empty_list(PyObject *v)
{
    return v != NULL && PyList_CheckExact(v) && PyList_GET_SIZE(v) == 0;
}

/* The message's wire dict (a new reference), Py_None (new) when unusual, NULL with an exception. */
static PyObject *
encode_message(Encoder *enc, PyObject *msg, int compatible)
{
    if (Py_TYPE(msg) != enc->msg_cls)
        Py_RETURN_NONE;
    PyObject *role = SLOT(msg, enc->msg_off[M_ROLE]), *content = SLOT(msg, enc->msg_off[M_CONTENT]);
    PyObject *calls = SLOT(msg, enc->msg_off[M_TOOL_CALLS]), *name = SLOT(msg, enc->msg_off[M_NAME]);
    if (role == NULL || !PyUnicode_CheckExact(role) || content == NULL || !PyList_CheckExact(content)
            || PyList_GET_SIZE(content) != 1 || name != Py_None || !empty_list(calls)
            || PyUnicode_CompareWithASCIIString(role, "tool") == 0)
        Py_RETURN_NONE;
    PyObject *part = PyList_GET_ITEM(content, 0);
    if (Py_TYPE(part) != enc->text_cls)
        Py_RETURN_NONE;
    PyObject *text = SLOT(part, enc->text_off);
    if (text == NULL)
        Py_RETURN_NONE;
    PyObject *wire_role = compatible && PyUnicode_CompareWithASCIIString(role, "developer") == 0 ? s_system : role;
    Py_INCREF(text);  /* (held: the dict's allocation may run a collection) */
    Py_INCREF(wire_role);
    PyObject *out = PyDict_New();
    if (out != NULL && (PyDict_SetItem(out, s_role, wire_role) < 0 || PyDict_SetItem(out, s_content, text) < 0))
        Py_CLEAR(out);
    Py_DECREF(text);
    Py_DECREF(wire_role);
    return out;
}

/* Sets body[key] = value when value is not None; -1 with an exception. */
static inline int
set_given(PyObject *body, PyObject *key, PyObject *value)
{
    return value == Py_None ? 0 : PyDict_SetItem(body, key, value);
}

static PyObject *
encoder_vectorcall(PyObject *self, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    Encoder *enc = (Encoder *)self;
    if (PyVectorcall_NARGS(nargsf) != 3 || (kwnames != NULL && PyTuple_GET_SIZE(kwnames) != 0)) {
        PyErr_SetString(PyExc_TypeError, "encoder(req, model, compatible)");
        return NULL;
    }
    PyObject *req = args[0], *model = args[1];
    int compatible = PyObject_IsTrue(args[2]);
    if (compatible < 0)
        return NULL;
    if (Py_TYPE(req) != enc->req_cls)
        Py_RETURN_NONE;
    /* every field read before anything is made, and held (an allocation may run a collection) */
    PyObject *f[R_COUNT];
    for (int i = 0; i < R_COUNT; i++)
        if ((f[i] = SLOT(req, enc->req_off[i])) == NULL)
            Py_RETURN_NONE;
    PyObject *stream = f[R_STREAM], *messages = f[R_MESSAGES];
    if (!PyList_CheckExact(messages) || !empty_list(f[R_SYSTEM]) || !empty_list(f[R_TOOLS]) || !empty_list(f[R_STOP])
            || !PyDict_CheckExact(f[R_EXTRA]) || PyDict_GET_SIZE(f[R_EXTRA]) != 0
            || (stream != Py_True && stream != Py_False))
        Py_RETURN_NONE;
    for (int i = 0; i < R_COUNT; i++)
        Py_INCREF(f[i]);
    PyObject *result = NULL, *body = NULL, *out = PyList_New(0);
    if (out == NULL)
        goto done;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(messages); i++) {
        PyObject *msg = Py_NewRef(PyList_GET_ITEM(messages, i));
        PyObject *wire = encode_message(enc, msg, compatible);
        Py_DECREF(msg);
        if (wire == NULL)
            goto done;
        if (wire == Py_None) {
            result = wire;
            goto done;
        }
        int rc = PyList_Append(out, wire);
        Py_DECREF(wire);
        if (rc < 0)
            goto done;
    }
    /* the keys in encode_request's order */
    body = PyDict_New();
    if (body == NULL || PyDict_SetItem(body, s_model, model) < 0 || PyDict_SetItem(body, s_messages, out) < 0
            || set_given(body, compatible ? s_max_tokens : s_max_completion, f[R_MAX_TOKENS]) < 0
            || set_given(body, s_temperature, f[R_TEMPERATURE]) < 0 || set_given(body, s_top_p, f[R_TOP_P]) < 0
            || (compatible && set_given(body, s_top_k, f[R_TOP_K]) < 0) || set_given(body, s_seed, f[R_SEED]) < 0
            || set_given(body, s_user, f[R_USER]) < 0 || set_given(body, s_n, f[R_N]) < 0
            || set_given(body, s_response_format, f[R_RESPONSE_FORMAT]) < 0)
        goto done;
    if (stream == Py_True) {
        PyObject *options = PyDict_New();
        int rc = options == NULL || PyDict_SetItem(options, s_include_usage, Py_True) < 0
                 || PyDict_SetItem(body, s_stream, Py_True) < 0 || PyDict_SetItem(body, s_stream_options, options) < 0;
        Py_XDECREF(options);
        if (rc)
            goto done;
    }
    result = Py_NewRef(body);
done:
    Py_XDECREF(body);
    Py_XDECREF(out);
    for (int i = 0; i < R_COUNT; i++)
        Py_DECREF(f[i]);
    return result;
}

static void
encoder_dealloc(PyObject *self)
{
    Encoder *enc = (Encoder *)self;
    Py_XDECREF(enc->req_cls);
    Py_XDECREF(enc->msg_cls);
    Py_XDECREF(enc->text_cls);
    Py_TYPE(self)->tp_free(self);
}

static PyTypeObject EncoderType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "bastion._native.RequestEncoder",
    .tp_basicsize = sizeof(Encoder),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_VECTORCALL,
    .tp_vectorcall_offset = offsetof(Encoder, vectorcall),
    .tp_call = PyVectorcall_Call,
    .tp_dealloc = encoder_dealloc,
    .tp_doc = "encoder(req, model, compatible): the usual request's OpenAI body, or None (bastion._native.request_encoder).",
};

PyObject *
native_request_encoder(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3 || !PyType_Check(args[0]) || !PyType_Check(args[1]) || !PyType_Check(args[2])) {
        PyErr_SetString(PyExc_TypeError, "request_encoder(ChatRequest, Message, TextPart): three classes");
        return NULL;
    }
    if (PyType_Ready(&EncoderType) < 0 || init_strings() < 0)
        return NULL;
    Encoder *enc = PyObject_New(Encoder, &EncoderType);
    if (enc == NULL)
        return NULL;
    enc->vectorcall = encoder_vectorcall;
    enc->req_cls = (PyTypeObject *)Py_NewRef(args[0]);
    enc->msg_cls = (PyTypeObject *)Py_NewRef(args[1]);
    enc->text_cls = (PyTypeObject *)Py_NewRef(args[2]);
    for (int i = 0; i < R_COUNT; i++)
        if ((enc->req_off[i] = slot_offset(enc->req_cls, REQUEST_FIELDS[i])) < 0)
            goto fail;
    for (int i = 0; i < M_COUNT; i++)
        if ((enc->msg_off[i] = slot_offset(enc->msg_cls, MESSAGE_FIELDS[i])) < 0)
            goto fail;
    if ((enc->text_off = slot_offset(enc->text_cls, "text")) < 0)
        goto fail;
    return (PyObject *)enc;
fail:
    Py_DECREF(enc);
    return NULL;
}
