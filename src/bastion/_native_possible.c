/* bastion._native.possible: the injection prefilter's exact test of a region (Prefilter.possible) in C.
 *
 *   possible_tables(rule_clauses, clause_members, strings, budget) -> tables
 *       rule_clauses: per rule, its clause ids; clause_members: per clause, its string ids; strings: a tuple
 *       of str (the rule strings); budget: the characters str.find may scan to test one clause.
 *   possible(tables, rule, maybe, text, a, b, few=False) -> bool
 *       True when every clause of `rule` has a string in text[a:b], testing only the strings whose byte in
 *       `maybe` is not 0; a clause with more such strings than max(8, budget // (b - a)) (8 with `few`) is
 *       not tested. The same answer as Prefilter.possible (prefilter.py), without its per-clause tuples.
 *   possible_regions(tables, regions, maybe, text, few, test_from) -> dict
 *       `possible` of every region the detector searches, in one call: regions is a dict {rule: [(a, b), ...]}
 *       with 0 <= a <= b <= len(text); per rule in the dict's order, the list of its spans that are shorter than
 *       `test_from` or `possible` (the rule's own list when it keeps them all), rules keeping none left out.
 *       The same as Prefilter._possible_regions.
 */
#include "_native.h"

typedef struct {
    Py_ssize_t n_rules, n_clauses, n_strings, budget;
    Py_ssize_t *rule_start, *rule_clause, *clause_start, *member;
    PyObject *strings; /* tuple of str, owned */
} Possible;

static void
possible_free(PyObject *capsule)
{
    Possible *t = PyCapsule_GetPointer(capsule, "bastion._native.Possible");
    if (t == NULL)
        return;
    PyMem_Free(t->rule_start);
    PyMem_Free(t->rule_clause);
    PyMem_Free(t->clause_start);
    PyMem_Free(t->member);
    Py_XDECREF(t->strings);
    PyMem_Free(t);
}

/* Flatten a sequence of sequences of ints in [0, limit) into *start (n + 1 offsets) and *flat; -1 on error. */
static int
flatten(PyObject *seq, Py_ssize_t limit, const char *name, Py_ssize_t *n, Py_ssize_t **start, Py_ssize_t **flat)
{
    PyObject *outer = PySequence_Fast(seq, name);
    if (outer == NULL)
        return -1;
    Py_ssize_t count = PySequence_Fast_GET_SIZE(outer), total = 0, cap = 64;
    *n = count;
    *start = PyMem_Malloc((size_t)(count + 1) * sizeof(Py_ssize_t));
    *flat = PyMem_Malloc((size_t)cap * sizeof(Py_ssize_t));
    if (*start == NULL || *flat == NULL) {
        Py_DECREF(outer);
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < count; i++) {
        (*start)[i] = total;
        PyObject *inner = PySequence_Fast(PySequence_Fast_GET_ITEM(outer, i), name);
        if (inner == NULL) {
            Py_DECREF(outer);
            return -1;
        }
        Py_ssize_t m = PySequence_Fast_GET_SIZE(inner);
        if (total + m > cap) {
            cap = (total + m) * 2;
            Py_ssize_t *grown = PyMem_Realloc(*flat, (size_t)cap * sizeof(Py_ssize_t));
            if (grown == NULL) {
                Py_DECREF(inner);
                Py_DECREF(outer);
                PyErr_NoMemory();
                return -1;
            }
            *flat = grown;
        }
        for (Py_ssize_t j = 0; j < m; j++) {
            Py_ssize_t v = PyLong_AsSsize_t(PySequence_Fast_GET_ITEM(inner, j));
            if (v == -1 && PyErr_Occurred()) {
                Py_DECREF(inner);
                Py_DECREF(outer);
                return -1;
            }
            if (v < 0 || v >= limit) {
                PyErr_Format(PyExc_ValueError, "%s: id %zd out of range", name, v);
                Py_DECREF(inner);
                Py_DECREF(outer);
                return -1;
            }
            (*flat)[total++] = v;
        }
        Py_DECREF(inner);
    }
    (*start)[count] = total;
    Py_DECREF(outer);
    return 0;
}

PyObject *
native_possible_tables(PyObject *self, PyObject *args)
{
    PyObject *rule_clauses, *clause_members, *strings;
    Py_ssize_t budget;
    if (!PyArg_ParseTuple(args, "OOO!n", &rule_clauses, &clause_members, &PyTuple_Type, &strings, &budget))
        return NULL;
    Py_ssize_t n_strings = PyTuple_GET_SIZE(strings);
    for (Py_ssize_t i = 0; i < n_strings; i++)
        if (!PyUnicode_Check(PyTuple_GET_ITEM(strings, i))) {
            PyErr_SetString(PyExc_TypeError, "strings: must all be str");
            return NULL;
        }
    if (budget < 1) {
        PyErr_SetString(PyExc_ValueError, "budget: must be at least 1");
        return NULL;
    }
    Possible *t = PyMem_Calloc(1, sizeof(Possible));
    if (t == NULL)
        return PyErr_NoMemory();
    t->n_strings = n_strings;
    t->budget = budget;
    PyObject *capsule = PyCapsule_New(t, "bastion._native.Possible", possible_free);
    if (capsule == NULL) {
        PyMem_Free(t);
        return NULL;
    }
    Py_INCREF(strings);
    t->strings = strings;
    Py_ssize_t n_clauses = PySequence_Size(clause_members);
    if (n_clauses < 0 ||
        flatten(clause_members, n_strings, "clause_members", &t->n_clauses, &t->clause_start, &t->member) < 0 ||
        flatten(rule_clauses, n_clauses, "rule_clauses", &t->n_rules, &t->rule_start, &t->rule_clause) < 0) {
        Py_DECREF(capsule);
        return NULL;
    }
    return capsule;
}

/* How common byte c is in the prose a region holds, to seek a string by its rarest byte: the space and the
 * letters by their frequency in English (" etaoinshrdlcumwfgypbvkjxqz": 0, 1, ...), any other byte 27 (rarer). */
static unsigned char byte_rank[256];
static int byte_rank_ready;

static void
rank_bytes(void)
{
    static const char common[] = " etaoinshrdlcumwfgypbvkjxqz";
    memset(byte_rank, 27, sizeof byte_rank);
    for (int k = 0; common[k]; k++)
        byte_rank[(unsigned char)common[k]] = (unsigned char)k;
    byte_rank_ready = 1;
}

/* Whether the m bytes `sub` (m >= 1) occur in the n bytes `hay` (memmem's answer): its rarest byte (`byte_rank`,
 * the first of the rarest) sought with memchr, the string compared where it lies (a region of the bench's prompt
 * holds a rare byte a few times: about half of memmem's instructions, which hashes every position). */
static int
holds(const unsigned char *hay, size_t n, const unsigned char *sub, size_t m)
{
    if (m > n)
        return 0;
    if (!byte_rank_ready)
        rank_bytes();
    size_t r = 0;
    for (size_t k = 1; k < m; k++)
        if (byte_rank[sub[k]] > byte_rank[sub[r]])
            r = k;
    const unsigned char *p = hay + r, *last = hay + (n - m) + r; /* where the rare byte of a match can lie */
    while (p <= last && (p = memchr(p, sub[r], (size_t)(last - p) + 1)) != NULL) {
        const unsigned char *at = p - r; /* (its first and last bytes tested first: most places differ there) */
        if (at[0] == sub[0] && at[m - 1] == sub[m - 1] && memcmp(at, sub, m) == 0)
            return 1;
        p++;
    }
    return 0;
}

/* 1 when `sub` occurs in text[a:b], 0 when not, -1 with an exception set: PyUnicode_Find's answer, by `holds` over
 * the bytes when both strs are of one byte per character and 0 <= a <= b <= len(text) (memmem took about half the
 * instructions of the general search), else by PyUnicode_Find. */
static inline int
occurs(PyObject *text, PyObject *sub, Py_ssize_t a, Py_ssize_t b)
{
    if (PyUnicode_READY(text) < 0 || PyUnicode_READY(sub) < 0)
        return -1;
    if (PyUnicode_KIND(text) == PyUnicode_1BYTE_KIND && PyUnicode_KIND(sub) == PyUnicode_1BYTE_KIND && 0 <= a &&
        a <= b && b <= PyUnicode_GET_LENGTH(text)) {
        Py_ssize_t m = PyUnicode_GET_LENGTH(sub);
        if (m == 0)
            return 1; /* (as memmem: an empty string occurs anywhere) */
        return holds(PyUnicode_1BYTE_DATA(text) + a, (size_t)(b - a), PyUnicode_1BYTE_DATA(sub), (size_t)m);
    }
    Py_ssize_t at = PyUnicode_Find(text, sub, a, b, 1);
    return at == -2 ? -1 : at >= 0;
}

/* 1 when every clause of `rule` has a string in text[a:b] (as `possible`), 0 when not, -1 with an exception set. */
static int
region_possible(const Possible *t, Py_ssize_t rule, const unsigned char *maybe, PyObject *text, Py_ssize_t a,
                Py_ssize_t b, int few)
{
    Py_ssize_t span = b - a > 1 ? b - a : 1;
    Py_ssize_t most = few ? 8 : (t->budget / span > 8 ? t->budget / span : 8);
    for (Py_ssize_t k = t->rule_start[rule]; k < t->rule_start[rule + 1]; k++) {
        Py_ssize_t c = t->rule_clause[k], lo = t->clause_start[c], hi = t->clause_start[c + 1], present = 0;
        for (Py_ssize_t j = lo; j < hi; j++)
            present += maybe[t->member[j]] != 0;
        if (present > most)
            continue;
        int found = 0;
        for (Py_ssize_t j = lo; j < hi && !found; j++) {
            if (!maybe[t->member[j]])
                continue;
            found = occurs(text, PyTuple_GET_ITEM(t->strings, t->member[j]), a, b);
            if (found < 0)
                return -1;
        }
        if (!found)
            return 0;
    }
    return 1;
}

/* METH_FASTCALL: the detector calls this for every region it searches, and parsing a format string cost
 * more than the test of a short region. */
PyObject *
native_possible(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs < 6 || nargs > 7) {
        PyErr_Format(PyExc_TypeError, "possible() takes 6 or 7 arguments (%zd given)", nargs);
        return NULL;
    }
    PyObject *capsule = args[0], *text = args[3];
    Py_ssize_t rule = index_arg(args[1]), a, b;
    if ((rule == -1 && PyErr_Occurred()) || ((a = index_arg(args[4])) == -1 && PyErr_Occurred()) ||
        ((b = index_arg(args[5])) == -1 && PyErr_Occurred()))
        return NULL;
    if (!PyUnicode_Check(text)) {
        PyErr_Format(PyExc_TypeError, "text: must be str, not %.50s", Py_TYPE(text)->tp_name);
        return NULL;
    }
    int few = nargs > 6 ? PyObject_IsTrue(args[6]) : 0;
    if (few < 0)
        return NULL;
    Py_buffer mv;
    if (PyUnicode_Check(args[2])) {
        PyErr_SetString(PyExc_TypeError, "maybe: must be a bytes-like object, not str");
        return NULL;
    }
    if (PyObject_GetBuffer(args[2], &mv, PyBUF_SIMPLE) < 0)
        return NULL;
    PyObject *result = NULL;
    Possible *t = PyCapsule_GetPointer(capsule, "bastion._native.Possible");
    if (t == NULL)
        goto done;
    if (rule < 0 || rule >= t->n_rules) {
        PyErr_Format(PyExc_ValueError, "rule: %zd out of range", rule);
        goto done;
    }
    if (mv.len != t->n_strings) {
        PyErr_Format(PyExc_ValueError, "maybe: expected %zd bytes, got %zd", t->n_strings, mv.len);
        goto done;
    }
    int ok = region_possible(t, rule, mv.buf, text, a, b, few);
    if (ok >= 0) {
        result = ok ? Py_True : Py_False;
        Py_INCREF(result);
    }
done:
    PyBuffer_Release(&mv);
    return result;
}

/* An int of `regions` (exactly int: no Python code, as an `__index__`, may run while the dict and its lists are
 * read), or -1 with an exception set (check PyErr_Occurred). */
static Py_ssize_t
exact_int(PyObject *obj)
{
    if (!PyLong_CheckExact(obj)) {
        PyErr_Format(PyExc_TypeError, "regions: rules and offsets must be int, not %.50s", Py_TYPE(obj)->tp_name);
        return -1;
    }
    return PyLong_AsSsize_t(obj);
}

/* A span (a, b) of text of length n: 0 <= a <= b <= n, else -1 with an exception set. */
static int
span_arg(PyObject *item, Py_ssize_t n, Py_ssize_t *a, Py_ssize_t *b)
{
    if (!PyTuple_CheckExact(item) || PyTuple_GET_SIZE(item) != 2) {
        PyErr_SetString(PyExc_TypeError, "regions: spans must be (a, b) tuples");
        return -1;
    }
    if (((*a = exact_int(PyTuple_GET_ITEM(item, 0))) == -1 && PyErr_Occurred()) ||
        ((*b = exact_int(PyTuple_GET_ITEM(item, 1))) == -1 && PyErr_Occurred()))
        return -1;
    if (*a < 0 || *a > *b || *b > n) {
        PyErr_Format(PyExc_ValueError, "regions: span (%zd, %zd) out of bounds", *a, *b);
        return -1;
    }
    return 0;
}

PyObject *
native_possible_regions(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 6) {
        PyErr_Format(PyExc_TypeError, "possible_regions() takes 6 arguments (%zd given)", nargs);
        return NULL;
    }
    PyObject *regions = args[1], *text = args[3];
    if (!PyDict_Check(regions)) {
        PyErr_Format(PyExc_TypeError, "regions: must be a dict, not %.50s", Py_TYPE(regions)->tp_name);
        return NULL;
    }
    if (!PyUnicode_Check(text)) {
        PyErr_Format(PyExc_TypeError, "text: must be str, not %.50s", Py_TYPE(text)->tp_name);
        return NULL;
    }
    if (PyUnicode_READY(text) < 0)
        return NULL;
    int few = PyObject_IsTrue(args[4]);
    if (few < 0)
        return NULL;
    Py_ssize_t test_from = index_arg(args[5]);
    if (test_from == -1 && PyErr_Occurred())
        return NULL;
    Possible *t = PyCapsule_GetPointer(args[0], "bastion._native.Possible");
    if (t == NULL)
        return NULL;
    if (PyUnicode_Check(args[2])) {
        PyErr_SetString(PyExc_TypeError, "maybe: must be a bytes-like object, not str");
        return NULL;
    }
    Py_buffer mv;
    if (PyObject_GetBuffer(args[2], &mv, PyBUF_SIMPLE) < 0)
        return NULL;
    PyObject *out = NULL, *kept = NULL;
    if (mv.len != t->n_strings) {
        PyErr_Format(PyExc_ValueError, "maybe: expected %zd bytes, got %zd", t->n_strings, mv.len);
        goto fail;
    }
    if ((out = PyDict_New()) == NULL)
        goto fail;
    Py_ssize_t n = PyUnicode_GET_LENGTH(text), pos = 0;
    PyObject *key, *spans;
    /* (below, no Python code runs: exact ints, tuples and lists, PyUnicode_Find, the dict `out` of exact ints) */
    while (PyDict_Next(regions, &pos, &key, &spans)) {
        Py_ssize_t rule = exact_int(key);
        if (rule == -1 && PyErr_Occurred())
            goto fail;
        if (rule < 0 || rule >= t->n_rules) {
            PyErr_Format(PyExc_ValueError, "rule: %zd out of range", rule);
            goto fail;
        }
        if (!PyList_CheckExact(spans)) {
            PyErr_SetString(PyExc_TypeError, "regions: each rule's spans must be a list");
            goto fail;
        }
        Py_ssize_t m = PyList_GET_SIZE(spans), dropped = 0;
        for (Py_ssize_t j = 0; j < m; j++) {
            PyObject *item = PyList_GET_ITEM(spans, j);
            Py_ssize_t a, b;
            if (span_arg(item, n, &a, &b) < 0)
                goto fail;
            int ok = b - a < test_from ? 1 : region_possible(t, rule, mv.buf, text, a, b, few);
            if (ok < 0)
                goto fail;
            if (!ok && kept == NULL) { /* the first span dropped: the ones before it, kept */
                if ((kept = PyList_GetSlice(spans, 0, j)) == NULL)
                    goto fail;
            } else if (ok && kept != NULL && PyList_Append(kept, item) < 0)
                goto fail;
            dropped += !ok;
        }
        if (dropped < m && PyDict_SetItem(out, key, kept != NULL ? kept : spans) < 0)
            goto fail;
        Py_CLEAR(kept);
    }
    PyBuffer_Release(&mv);
    return out;
fail:
    Py_XDECREF(kept);
    Py_XDECREF(out);
    PyBuffer_Release(&mv);
    return NULL;
}

/* next_literal(text, literals, pos, end): the least q with pos <= q and q + len(s) <= end where some str s of the
 * tuple `literals` occurs in `text` (pos and end clamped to [0, len(text)]), -1 when there is none; -2 when `text`
 * is not of one byte per character (the caller then searches as it would without this). A literal of a wider kind
 * cannot occur in such a text: skipped. Each literal is sought only before the best start found so far. */
PyObject *
native_next_literal(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 4) {
        PyErr_Format(PyExc_TypeError, "next_literal() takes 4 arguments (%zd given)", nargs);
        return NULL;
    }
    PyObject *text = args[0], *lits = args[1];
    if (!PyUnicode_Check(text)) {
        PyErr_Format(PyExc_TypeError, "text: must be str, not %.50s", Py_TYPE(text)->tp_name);
        return NULL;
    }
    if (!PyTuple_Check(lits)) {
        PyErr_Format(PyExc_TypeError, "literals: must be a tuple, not %.50s", Py_TYPE(lits)->tp_name);
        return NULL;
    }
    Py_ssize_t pos = index_arg(args[2]), end;
    if (pos == -1 && PyErr_Occurred())
        return NULL;
    if ((end = index_arg(args[3])) == -1 && PyErr_Occurred())
        return NULL;
    if (PyUnicode_READY(text) < 0)
        return NULL;
    if (PyUnicode_KIND(text) != PyUnicode_1BYTE_KIND)
        return PyLong_FromLong(-2);
    Py_ssize_t n = PyUnicode_GET_LENGTH(text), count = PyTuple_GET_SIZE(lits), best = -1;
    pos = pos < 0 ? 0 : pos > n ? n : pos;
    end = end < pos ? pos : end > n ? n : end;
    const char *data = (const char *)PyUnicode_1BYTE_DATA(text);
    for (Py_ssize_t k = 0; k < count; k++) {
        PyObject *lit = PyTuple_GET_ITEM(lits, k);
        if (!PyUnicode_Check(lit)) {
            PyErr_Format(PyExc_TypeError, "literals: each must be str, not %.50s", Py_TYPE(lit)->tp_name);
            return NULL;
        }
        if (PyUnicode_READY(lit) < 0)
            return NULL;
        if (PyUnicode_KIND(lit) != PyUnicode_1BYTE_KIND)
            continue;
        Py_ssize_t m = PyUnicode_GET_LENGTH(lit);
        /* an earlier start than `best` ends before best + m (and within end) */
        Py_ssize_t stop = best >= 0 && best - 1 + m < end ? best - 1 + m : end;
        if (m > stop - pos)
            continue;
        if (m == 0) {
            best = pos;
            continue;
        }
        const char *at = memmem(data + pos, (size_t)(stop - pos), PyUnicode_1BYTE_DATA(lit), (size_t)m);
        if (at != NULL)
            best = at - data;
    }
    return PyLong_FromSsize_t(best);
}

/* A span of possible_anchored: [a, b) of one rule, and the index of that rule's next span (-1: none). */
typedef struct {
    Py_ssize_t a, b, next;
} Span;

/* possible_anchored(anchors, tables, word_hashes, word_starts, ok, maybe, text, few, test_from, before, after):
 * possible_regions(tables, anchored_spans(anchors, word_hashes, word_starts, ok, 0, len(text), before, after),
 * maybe, text, few, test_from), None where anchored_spans is (words not in text order), the same errors: the spans
 * are built in C arrays (anchored_spans' merge, by first occurrence) and only the kept ones become objects (a scan's
 * usual regions hold no possible match: no tuple, list or dict entry at all). */
PyObject *
native_possible_anchored(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 11) {
        PyErr_Format(PyExc_TypeError, "possible_anchored() takes 11 arguments (%zd given)", nargs);
        return NULL;
    }
    PyObject *text = args[6];
    if (!PyUnicode_Check(text)) {
        PyErr_Format(PyExc_TypeError, "text: must be str, not %.50s", Py_TYPE(text)->tp_name);
        return NULL;
    }
    if (PyUnicode_READY(text) < 0)
        return NULL;
    int few = PyObject_IsTrue(args[7]);
    if (few < 0)
        return NULL;
    Py_ssize_t num[3]; /* test_from, before, after */
    for (int k = 0; k < 3; k++)
        if ((num[k] = index_arg(args[8 + k])) == -1 && PyErr_Occurred())
            return NULL;
    Py_ssize_t test_from = num[0], before = num[1], after = num[2], n = PyUnicode_GET_LENGTH(text);
    const Anchors *t = PyCapsule_GetPointer(args[0], "bastion._native.Anchors");
    if (t == NULL)
        return NULL;
    const Possible *pt = PyCapsule_GetPointer(args[1], "bastion._native.Possible");
    if (pt == NULL)
        return NULL;
    static const char *names[4] = {"word_hashes", "word_starts", "ok", "maybe"};
    static const Py_ssize_t sizes[4] = {8, 8, 1, 1};
    Py_buffer v[4];
    int got = 0;
    enum { STACK_RULES = 512, STACK_SPANS = 256 };
    Py_ssize_t stack_ends[3 * STACK_RULES], *head = NULL, *last = NULL, *order = NULL, cap = STACK_SPANS, used = 0;
    Span stack_spans[STACK_SPANS], *spans = stack_spans;
    void *heap = NULL;
    PyObject *out = NULL, *list = NULL;
    for (; got < 4; got++)
        if (get_buffer(args[2 + got], &v[got], sizes[got], names[got]) < 0)
            goto fail;
    const uint64_t *wh = v[0].buf;
    const int64_t *ws = v[1].buf;
    const unsigned char *ok = v[2].buf, *maybe = v[3].buf;
    Py_ssize_t nw = v[0].len / 8;
    if (v[1].len != v[0].len || v[2].len != t->nrules || t->nrules > pt->n_rules) {
        PyErr_SetString(PyExc_ValueError, "possible_anchored: mismatched word arrays, rule flags or tables");
        goto fail;
    }
    if (v[3].len != pt->n_strings) {
        PyErr_Format(PyExc_ValueError, "maybe: expected %zd bytes, got %zd", pt->n_strings, v[3].len);
        goto fail;
    }
    const Py_ssize_t far = (Py_ssize_t)1 << 40; /* offsets and reaches stay far from overflow */
    if (n > far || before < 0 || before > far || after < 0 || after > far) {
        PyErr_SetString(PyExc_ValueError, "possible_anchored: len(text), before and after must be in 0..2**40");
        goto fail;
    }
    /* per rule: its first and last span (-1: none yet); the rules in order of their first span */
    if (t->nrules < STACK_RULES) {
        head = stack_ends;
    } else if ((head = heap = PyMem_Malloc(sizeof(Py_ssize_t) * 3 * (size_t)(t->nrules + 1))) == NULL) {
        PyErr_NoMemory();
        goto fail;
    }
    last = head + t->nrules + 1;
    order = last + t->nrules + 1;
    for (Py_ssize_t k = 0; k < t->nrules; k++)
        head[k] = last[k] = -1;
    Py_ssize_t nord = 0;
    int unordered = 0;
    int64_t prev = 0; /* the last start (each is >= 0) */
    for (Py_ssize_t i = 0; i < nw; i++) {
        if ((uint64_t)ws[i] > (uint64_t)far) { /* (negative ones too) */
            PyErr_SetString(PyExc_ValueError, "word_starts: out of range");
            goto fail;
        }
        unordered |= ws[i] < prev;
        prev = ws[i];
        if (unordered) /* (the rest only checked: the caller's general path) */
            continue;
        Py_ssize_t l = anchor_index(t, wh[i]);
        if (l == t->na)
            continue;
        Py_ssize_t p = ws[i], a = p - before, b = p + after;
        a = a < 0 ? 0 : a;
        b = b > n ? n : b;
        for (int64_t j = t->first[l]; j < t->first[l + 1]; j++) {
            Py_ssize_t k = t->rule[j];
            if (!ok[k])
                continue;
            if (last[k] >= 0 && a <= spans[last[k]].b) { /* overlaps the last span (positions ascend): merged */
                spans[last[k]].b = b;
                continue;
            }
            if (used == cap) {
                Span *grown = spans == stack_spans ? PyMem_Malloc(sizeof(Span) * (size_t)cap * 2)
                                                   : PyMem_Realloc(spans, sizeof(Span) * (size_t)cap * 2);
                if (grown == NULL) {
                    PyErr_NoMemory();
                    goto fail;
                }
                if (spans == stack_spans)
                    memcpy(grown, stack_spans, sizeof(stack_spans));
                spans = grown, cap *= 2;
            }
            spans[used].a = a, spans[used].b = b, spans[used].next = -1;
            if (last[k] >= 0)
                spans[last[k]].next = used;
            else
                head[k] = used, order[nord++] = k;
            last[k] = used++;
        }
    }
    if (unordered) {
        Py_INCREF(Py_None);
        out = Py_None;
        goto done;
    }
    if ((out = PyDict_New()) == NULL)
        goto fail;
    for (Py_ssize_t o = 0; o < nord; o++) {
        Py_ssize_t k = order[o];
        for (Py_ssize_t s = head[k]; s >= 0; s = spans[s].next) {
            Py_ssize_t a = spans[s].a, b = spans[s].b;
            if (a > b) { /* (a word past the text's end: possible_regions refuses the span) */
                PyErr_Format(PyExc_ValueError, "regions: span (%zd, %zd) out of bounds", a, b);
                goto fail;
            }
            int keep = b - a < test_from ? 1 : region_possible(pt, k, maybe, text, a, b, few);
            if (keep < 0)
                goto fail;
            if (!keep)
                continue;
            PyObject *span = NULL;
            if ((list == NULL && (list = PyList_New(0)) == NULL) || (span = span_tuple(a, b)) == NULL ||
                PyList_Append(list, span) < 0) {
                Py_XDECREF(span);
                goto fail;
            }
            Py_DECREF(span);
        }
        if (list != NULL) {
            PyObject *key = PyLong_FromSsize_t(k);
            int err = key == NULL || PyDict_SetItem(out, key, list) < 0;
            Py_XDECREF(key);
            Py_CLEAR(list);
            if (err)
                goto fail;
        }
    }
    goto done;
fail:
    Py_CLEAR(out);
    Py_CLEAR(list);
done:
    if (spans != stack_spans)
        PyMem_Free(spans);
    PyMem_Free(heap); /* (the rules' arrays, when not on the stack) */
    for (int i = 0; i < got; i++)
        PyBuffer_Release(&v[i]);
    return out;
}
