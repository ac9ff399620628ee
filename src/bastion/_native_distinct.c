/* bastion._native: window logits that count each feature bucket at most `cap` times per window (`LinearModel.cap`).
 *
 *   window_logits_capped(buckets, positions, weights, live, n, starts, window, bias, cap) -> logits
 *       Per window [s, min(s + window, n)): bias + the sum of the weights of the features starting in it,
 *       a bucket's first `cap` features only, / sqrt(their number, at least 1). Features are taken in
 *       position order (ties: feature order) and summed in that order in float64 (numpy's reference does
 *       the same with a sequential cumsum), so both give the same float64 values. `live`, when not empty,
 *       says which buckets count at all. With cap 1, repeating a phrase adds nothing to a window.
 */
#include "_native.h"

static uint32_t *stamp = NULL; /* per bucket: the last window (generation) that counted it */
static uint32_t *seen = NULL; /* per bucket: its features counted in that window */
static Py_ssize_t stamp_len = 0;
static uint32_t generation = 0;

static int
stamps_for(Py_ssize_t nw)
{
    if (stamp_len < nw) {
        uint32_t *grown = PyMem_Realloc(stamp, sizeof(uint32_t) * (size_t)nw);
        if (grown == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        stamp = grown;
        uint32_t *counts = PyMem_Realloc(seen, sizeof(uint32_t) * (size_t)nw);
        if (counts == NULL) {
            stamp_len = 0; /* (stamp is kept; the next call grows both again) */
            PyErr_NoMemory();
            return -1;
        }
        seen = counts;
        stamp_len = nw;
        memset(stamp, 0, sizeof(uint32_t) * (size_t)nw);
        generation = 0;
    }
    return 0;
}

static uint32_t
next_generation(void)
{
    if (++generation == 0) { /* wrapped: no stale stamp may equal a new generation */
        memset(stamp, 0, sizeof(uint32_t) * (size_t)stamp_len);
        generation = 1;
    }
    return generation;
}

PyObject *
native_window_logits_capped(PyObject *self, PyObject *args)
{
    PyObject *objs[5];
    Py_ssize_t n, window, cap;
    double bias;
    if (!PyArg_ParseTuple(args, "OOOOnOndn", &objs[0], &objs[1], &objs[2], &objs[3], &n, &objs[4], &window, &bias,
                          &cap))
        return NULL;
    Py_buffer v[5];
    int got = 0;
    PyObject *result = NULL;
    Py_ssize_t *first = NULL, *order = NULL;
    if (window_buffers(objs, v, &got, n, window, "window_logits_capped", 1) < 0)
        goto done;
    if (cap < 1) {
        PyErr_SetString(PyExc_ValueError, "window_logits_capped: cap must be at least 1");
        goto done;
    }
    const int64_t *bk = v[0].buf, *pos = v[1].buf, *starts = v[4].buf;
    const float *w = v[2].buf;
    const unsigned char *live = v[3].buf;
    Py_ssize_t nf = v[0].len / 8, nw = v[2].len / 4, nl = v[3].len, ns = v[4].len / 8;
    if (stamps_for(nw) < 0)
        goto done;
    /* a stable counting sort of the features in [0, n) by position: first[p] is where position p's run starts */
    first = PyMem_Calloc((size_t)n + 1, sizeof(Py_ssize_t));
    order = PyMem_Malloc(sizeof(Py_ssize_t) * (size_t)(nf + 1));
    if (first == NULL || order == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t i = 0; i < nf; i++)
        if (pos[i] >= 0 && pos[i] < n)
            first[pos[i] + 1]++;
    for (Py_ssize_t p = 1; p <= n; p++)
        first[p] += first[p - 1];
    {
        Py_ssize_t *fill = PyMem_Malloc(sizeof(Py_ssize_t) * (size_t)(n + 1));
        if (fill == NULL) {
            PyErr_NoMemory();
            goto done;
        }
        memcpy(fill, first, sizeof(Py_ssize_t) * (size_t)(n + 1));
        for (Py_ssize_t i = 0; i < nf; i++)
            if (pos[i] >= 0 && pos[i] < n)
                order[fill[pos[i]]++] = i;
        PyMem_Free(fill);
    }
    result = PyByteArray_FromStringAndSize(NULL, ns * 8);
    if (result == NULL)
        goto done;
    double *out = (double *)PyByteArray_AS_STRING(result);
    for (Py_ssize_t k = 0; k < ns; k++) {
        Py_ssize_t a = starts[k], e = window < n - a ? a + window : n; /* (no overflow: a < n) */
        uint32_t g = next_generation();
        double sum = 0.0;
        Py_ssize_t count = 0;
        for (Py_ssize_t j = first[a]; j < first[e]; j++) {
            int64_t b = bk[order[j]];
            if (nl && !live[b])
                continue;
            if (stamp[b] != g) {
                stamp[b] = g;
                seen[b] = 0;
            }
            if (seen[b] >= (uint64_t)cap)
                continue;
            seen[b]++;
            sum += (double)w[b];
            count++;
        }
        out[k] = bias + sum / sqrt(count > 1 ? (double)count : 1.0);
    }
done:
    PyMem_Free(first);
    PyMem_Free(order);
    for (int i = 0; i < got; i++)
        PyBuffer_Release(&v[i]);
    return result;
}
