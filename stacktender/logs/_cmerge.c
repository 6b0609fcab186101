/* The compiled text merge behind stacktender.logs.fastmerge: read, label, reorder
 * and k-way merge many log sources and write the labelled lines to one output.
 * This half: the memory records live in, the window, the merge, the output and the
 * module; _cmerge_read.c reads a source.
 *
 * This is a transcription of the pure-Python light path (fastmerge._items,
 * merge._reordered, merge._merged), which stays the reference: the output must be the
 * same bytes. It reads oslo.log's default text layout only ("DATE TIME[.FRAC] PID
 * LEVEL LOGGER MESSAGE" heads, their continuation lines, the traceback lines that
 * repeat a head's time, pid and logger). A source in which it meets any line it does
 * not vouch for (another layout, a JSON or syslog line, invalid UTF-8, a NUL, a "\r"
 * line end, an oversized line, a compressed stream, a read error) is handed back to
 * Python: ``fallback(n)`` re-reads the source with the Python reader from its start
 * and skips the n lists of records this reader already passed on, which are the same
 * lists (same content, same boundaries: a block of input at a time) as the Python
 * reader makes. What the other stages then see is the Python reader's output.
 *
 * Python keeps the parts that run once per hour, level or source: the start of an
 * hour in the source's zone and skew (``hour(date, hh)``), what is printed before and
 * after a line of a level (``style(level)``), opening files and the counters.
 *
 * merge(streams, out, window) -> list of (lines, records, continuation, bytes read)
 * or None per stream.  A stream is (read, hour, style, fallback, fd) for a source this
 * module reads (fd: a regular file's descriptor, read directly, or -1 to call ``read``
 * for each block), or an iterator of lists of (time, text) tuples (Python's items).
 * ``out`` is a file descriptor (int) or a callable taking bytes.
 */
#include "_cmerge.h"

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#define OUT_CHUNK (1 << 20) /* bytes per write to a callable */

/* -- arenas and items ------------------------------------------------------------------ */

/* Arenas written out are kept for the next blocks: fresh memory from the system
 * would be zeroed page by page, which costs more than filling it. Drained at the end
 * of merge(); the GIL serialises callers. */
#define POOL 256
#define POOL_CAP (1 << 20)
static Arena *pool[POOL];
static size_t npool;

Arena *arena_new(size_t cap) {
    if (npool) {
        Arena *a = pool[--npool];
        if (a->cap < cap) {
            char *data = realloc(a->data, cap);
            if (data == NULL) {
                free(a->data);
                free(a);
                return NULL;
            }
            a->data = data;
            a->cap = cap;
        }
        a->refs = 1;
        a->used = 0;
        return a;
    }
    Arena *a = malloc(sizeof(Arena));
    if (a == NULL) return NULL;
    a->data = malloc(cap ? cap : 1);
    if (a->data == NULL) {
        free(a);
        return NULL;
    }
    a->refs = 1;
    a->used = 0;
    a->cap = cap ? cap : 1;
    return a;
}

void arena_release(Arena *a) {
    if (a != NULL && --a->refs == 0) {
        if (npool < POOL && a->cap <= POOL_CAP) {
            pool[npool++] = a;
            return;
        }
        free(a->data);
        free(a);
    }
}

static void pool_drain(void) {
    while (npool) {
        Arena *a = pool[--npool];
        free(a->data);
        free(a);
    }
}

int arena_reserve(Arena *a, size_t more) {
    if (a->used + more <= a->cap) return 0;
    size_t cap = a->cap * 2;
    if (cap < a->used + more) cap = a->used + more;
    char *data = realloc(a->data, cap);
    if (data == NULL) return -1;
    a->data = data;
    a->cap = cap;
    return 0;
}


int items_reserve(Items *x, size_t n) {
    if (n <= x->cap) return 0;
    size_t cap = x->cap ? x->cap * 2 : 256;
    while (cap < n) cap *= 2;
    Item *v = realloc(x->v, cap * sizeof(Item));
    if (v == NULL) return -1;
    x->v = v;
    x->cap = cap;
    return 0;
}

int items_push(Items *x, Item item) {
    if (x->n == x->cap && items_reserve(x, x->n + 1) < 0) return -1;
    x->v[x->n++] = item;
    return 0;
}

int items_extend(Items *x, const Item *v, size_t n) {
    if (items_reserve(x, x->n + n) < 0) return -1;
    memcpy(x->v + x->n, v, n * sizeof(Item));
    x->n += n;
    return 0;
}

/* Drop items that will never be written (their references). */
void items_drop(Items *x, size_t from) {
    for (size_t i = from; i < x->n; i++) arena_release(x->v[i].arena);
    x->n = from;
}

/* Stable sort by time (list.sort with a key is stable: ties keep their order). The
 * lists are runs already in order (a batch after the held records of the one before;
 * the parts of each stream in a merge round), so this finds the runs and merges
 * neighbours until one is left, as a natural merge sort does: ties stay in order. */
static int items_sort(Items *x, Items *scratch) {
    size_t n = x->n, i;
    for (i = 1; i < n; i++)
        if (x->v[i].ts < x->v[i - 1].ts) break;
    if (i >= n) return 0;
    if (items_reserve(scratch, n) < 0) return -1;
    /* run boundaries, then passes merging pairs of neighbouring runs */
    size_t *cuts = malloc((n + 1) * sizeof(size_t)), runs = 0;
    if (cuts == NULL) return -1;
    cuts[runs++] = 0;
    for (i = 1; i < n; i++)
        if (x->v[i].ts < x->v[i - 1].ts) cuts[runs++] = i;
    cuts[runs] = n;
    Item *a = x->v, *b = scratch->v;
    while (runs > 1) {
        size_t merged = 0;
        for (size_t r = 0; r < runs; r += 2) {
            size_t lo = cuts[r], mid = cuts[r + 1], hi = r + 2 <= runs ? cuts[r + 2] : mid;
            size_t l = lo, k = lo, m = mid;
            if (r + 1 >= runs) { /* an odd run out: copied as it is */
                memcpy(b + lo, a + lo, (mid - lo) * sizeof(Item));
                cuts[merged++] = lo;
                continue;
            }
            while (l < mid && m < hi) b[k++] = (a[m].ts < a[l].ts) ? a[m++] : a[l++];
            if (l < mid) memcpy(b + k, a + l, (mid - l) * sizeof(Item));
            else if (m < hi) memcpy(b + k, a + m, (hi - m) * sizeof(Item));
            cuts[merged++] = lo;
        }
        cuts[merged] = n;
        runs = merged;
        Item *t = a;
        a = b;
        b = t;
    }
    free(cuts);
    if (a != x->v) memcpy(x->v, a, n * sizeof(Item));
    return 0;
}

/* -- output ---------------------------------------------------------------------------- */

#define IOV 1024   /* pieces per writev */
#define HOLD 4096  /* items written per writev, at most */

/* To a file descriptor, items go out with writev(2) straight from their arenas (no
 * copy), which are released once written; to a callable, in chunks of OUT_CHUNK. */
typedef struct {
    int fd;
    PyObject *call; /* when not writing to a file descriptor */
    char *buf;
    size_t n;
    struct iovec iov[IOV];
    int niov;
    Arena *held[HOLD];
    size_t nheld;
} Writer;

static void writer_release(Writer *w) {
    for (size_t i = 0; i < w->nheld; i++) arena_release(w->held[i]);
    w->nheld = 0;
    w->niov = 0;
}

static int writev_all(Writer *w) {
    struct iovec *iov = w->iov;
    int count = w->niov;
    while (count) {
        ssize_t done = writev(w->fd, iov, count);
        if (done < 0) {
            if (errno == EINTR) {
                if (PyErr_CheckSignals() < 0) return -1;
                continue;
            }
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                struct pollfd wait = {w->fd, POLLOUT, 0};
                poll(&wait, 1, -1);
                continue;
            }
            PyErr_SetFromErrno(PyExc_OSError);
            return -1;
        }
        while (count && (size_t)done >= iov->iov_len) {
            done -= (ssize_t)iov->iov_len;
            iov++;
            count--;
        }
        if (count) {
            iov->iov_base = (char *)iov->iov_base + done;
            iov->iov_len -= (size_t)done;
        }
    }
    return 0;
}

static int write_fd(int fd, const char *data, size_t size) {
    while (size) {
        ssize_t done = write(fd, data, size);
        if (done < 0) {
            if (errno == EINTR) {
                if (PyErr_CheckSignals() < 0) return -1;
                continue;
            }
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                struct pollfd wait = {fd, POLLOUT, 0};
                poll(&wait, 1, -1);
                continue;
            }
            PyErr_SetFromErrno(PyExc_OSError);
            return -1;
        }
        data += done;
        size -= (size_t)done;
    }
    return 0;
}

static int writer_emit(Writer *w, const char *data, size_t size) {
    if (w->call == NULL) return write_fd(w->fd, data, size);
    PyObject *chunk = PyBytes_FromStringAndSize(data, (Py_ssize_t)size);
    if (chunk == NULL) return -1;
    PyObject *r = PyObject_CallOneArg(w->call, chunk);
    Py_DECREF(chunk);
    if (r == NULL) return -1;
    Py_DECREF(r);
    return 0;
}

static int writer_flush(Writer *w) {
    if (w->call == NULL) {
        int r = w->niov ? writev_all(w) : 0;
        writer_release(w);
        return r;
    }
    if (w->n == 0) return 0;
    size_t n = w->n;
    w->n = 0;
    return writer_emit(w, w->buf, n);
}

/* Write one item and release it; after a failure (``*failed``), only release it. */
static inline void writer_item(Writer *w, const Item *it, int *failed) {
    if (w->call == NULL && !*failed) {
        char *data = it->arena->data + it->off;
        struct iovec *last = w->niov ? &w->iov[w->niov - 1] : NULL;
        if (last != NULL && (char *)last->iov_base + last->iov_len == data) {
            last->iov_len += it->len; /* the next record of the same list */
        } else {
            if (w->niov == IOV && writer_flush(w) < 0) {
                *failed = 1;
                arena_release(it->arena);
                return;
            }
            w->iov[w->niov].iov_base = data;
            w->iov[w->niov++].iov_len = it->len;
        }
        w->held[w->nheld++] = it->arena;
        if (w->nheld == HOLD && writer_flush(w) < 0) *failed = 1;
        return;
    }
    if (!*failed) {
        if (w->n + it->len > OUT_CHUNK) *failed = writer_flush(w) < 0;
        if (!*failed && it->len > OUT_CHUNK)
            *failed = writer_emit(w, it->arena->data + it->off, it->len) < 0;
        else if (!*failed) {
            memcpy(w->buf + w->n, it->arena->data + it->off, it->len);
            w->n += it->len;
        }
    }
    arena_release(it->arena);
}

/* Write the items in order, releasing them. */
static int writer_items(Writer *w, Items *x) {
    int failed = 0;
    for (size_t i = 0; i < x->n; i++) writer_item(w, &x->v[i], &failed);
    x->n = 0;
    return failed ? -1 : 0;
}

/* A part of a pending list: v[at:end], in order. */
typedef struct {
    const Item *v;
    size_t at, end;
} Run;

/* A heap entry: the time of a run's next item, and the run (ties: the earlier run). */
typedef struct {
    double ts;
    size_t run;
} Top;

static inline int top_before(const Top *a, const Top *b) {
    return a->ts < b->ts || (a->ts == b->ts && a->run < b->run);
}

static void sift_down(Top *heap, size_t n, size_t i) {
    Top moving = heap[i];
    for (;;) {
        size_t l = 2 * i + 1;
        if (l >= n) break;
        if (l + 1 < n && top_before(&heap[l + 1], &heap[l])) l++;
        if (!top_before(&heap[l], &moving)) break;
        heap[i] = heap[l];
        i = l;
    }
    heap[i] = moving;
}

/* Write the runs merged by time, ties in run order: what a stable sort of their
 * concatenation gives (merge._merged sorts it), in one pass. ``heap``: room for n. */
static int writer_runs(Writer *w, Run *runs, size_t n, Top *heap) {
    int failed = 0;
    if (n == 1) {
        for (size_t i = runs[0].at; i < runs[0].end; i++) writer_item(w, &runs[0].v[i], &failed);
        return failed ? -1 : 0;
    }
    for (size_t i = 0; i < n; i++) heap[i] = (Top){runs[i].v[runs[i].at].ts, i};
    for (size_t i = n / 2; i-- > 0;) sift_down(heap, n, i);
    size_t live = n;
    while (live) {
        Run *r = &runs[heap[0].run];
        writer_item(w, &r->v[r->at], &failed);
        if (++r->at == r->end)
            heap[0] = heap[--live];
        else
            heap[0].ts = r->v[r->at].ts;
        if (live) sift_down(heap, live, 0);
    }
    return failed ? -1 : 0;
}

/* The next list of a stream put in order within the window (merge._reordered). */
static int reordered_next(Stream *s, Items *out, size_t window, Items *scratch) {
    for (;;) {
        s->work.n = 0;
        if (items_extend(&s->work, s->held.v, s->held.n) < 0) return PyErr_NoMemory(), -1;
        size_t had = s->held.n;
        s->held.n = 0;
        int r = stream_next(s, &s->work);
        if (r < 0) {
            s->held.n = 0;
            items_drop(&s->work, 0);
            return -1;
        }
        if (r == 0) {
            s->work.n = had;
            if (had == 0) return 0;
            if (items_extend(out, s->work.v, had) < 0) return PyErr_NoMemory(), -1;
            s->work.n = 0;
            return 1;
        }
        if (items_sort(&s->work, scratch) < 0) return PyErr_NoMemory(), -1;
        size_t n = s->work.n;
        if (n > window) {
            if (items_extend(&s->held, s->work.v + (n - window), window) < 0 ||
                items_extend(out, s->work.v, n - window) < 0)
                return PyErr_NoMemory(), -1;
            s->work.n = 0;
            return 1;
        }
        if (items_extend(&s->held, s->work.v, n) < 0) return PyErr_NoMemory(), -1;
        s->work.n = 0;
    }
}

/* bisect_right (right) or bisect_left on v[lo:hi] by time. */
static size_t bisect(const Item *v, size_t lo, size_t hi, double x, int right) {
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (right ? (x < v[mid].ts) : !(v[mid].ts < x))
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

static int merge_streams(Stream *st, size_t count, size_t window, Writer *w) {
    Items ready = {0}, scratch = {0};
    int failed = 0;
    size_t *live = malloc((count ? count : 1) * sizeof(size_t));
    Top *heap = malloc((count ? count : 1) * sizeof(Top));
    Run *runs = malloc((count ? count : 1) * sizeof(Run));
    if (live == NULL || heap == NULL || runs == NULL) {
        free(live);
        free(heap);
        free(runs);
        return PyErr_NoMemory(), -1;
    }
    size_t nlive = count;
    for (size_t i = 0; i < count; i++) live[i] = i;
    if (count == 1) {
        int r;
        while ((r = reordered_next(&st[0], &ready, window, &scratch)) > 0) {
            if (writer_items(w, &ready) < 0) goto fail;
            if (PyErr_CheckSignals() < 0) goto fail;
        }
        if (r < 0) goto fail;
        goto done;
    }
    while (nlive) {
        for (size_t j = 0; j < nlive; j++) {
            Stream *s = &st[live[j]];
            while (s->start >= s->pending.n) {
                s->pending.n = 0;
                s->start = 0;
                int r = reordered_next(s, &s->pending, window, &scratch);
                if (r < 0) goto fail;
                if (r == 0) break;
            }
        }
        size_t kept = 0;
        for (size_t j = 0; j < nlive; j++)
            if (st[live[j]].pending.n) live[kept++] = live[j];
        nlive = kept;
        if (!nlive) break;
        size_t first = live[0];
        double watermark = st[first].pending.v[st[first].pending.n - 1].ts;
        for (size_t j = 1; j < nlive; j++) {
            Stream *s = &st[live[j]];
            double last = s->pending.v[s->pending.n - 1].ts;
            if (last < watermark) {
                watermark = last;
                first = live[j];
            }
        }
        /* each stream's part up to the watermark: runs in stream order */
        size_t nruns = 0;
        for (size_t j = 0; j < nlive; j++) {
            size_t index = live[j];
            Stream *s = &st[index];
            size_t cut = index == first ? s->pending.n
                                        : bisect(s->pending.v, s->start, s->pending.n, watermark,
                                                 index < first);
            if (cut > s->start) {
                runs[nruns++] = (Run){s->pending.v, s->start, cut};
                s->start = cut;
            }
        }
        if (writer_runs(w, runs, nruns, heap) < 0) goto fail;
        if (PyErr_CheckSignals() < 0) goto fail;
    }
done:
    if (writer_flush(w) < 0) goto fail;
    goto out;
fail:
    failed = 1;
    items_drop(&ready, 0);
out:
    free(ready.v);
    free(scratch.v);
    free(live);
    free(heap);
    free(runs);
    return failed ? -1 : 0;
}

static PyObject *merge(PyObject *self, PyObject *args) {
    PyObject *specs, *target;
    Py_ssize_t window;
    if (!PyArg_ParseTuple(args, "OOn:merge", &specs, &target, &window)) return NULL;
    if (window < 0) {
        PyErr_SetString(PyExc_ValueError, "window must be >= 0");
        return NULL;
    }
    PyObject *seq = PySequence_Fast(specs, "streams must be a sequence");
    if (seq == NULL) return NULL;
    size_t count = (size_t)PySequence_Fast_GET_SIZE(seq);
    Stream *st = calloc(count ? count : 1, sizeof(Stream));
    PyObject *result = NULL;
    Writer w;
    memset(&w, 0, sizeof(w));
    w.fd = -1;
    if (st == NULL) {
        PyErr_NoMemory();
        goto out;
    }
    for (size_t i = 0; i < count; i++) {
        PyObject *spec = PySequence_Fast_GET_ITEM(seq, i);
        Stream *s = &st[i];
        s->fd = -1;
        if (PyTuple_Check(spec) && PyTuple_GET_SIZE(spec) == 5) {
            s->read = PyTuple_GET_ITEM(spec, 0);
            s->hour = PyTuple_GET_ITEM(spec, 1);
            s->style = PyTuple_GET_ITEM(spec, 2);
            s->fallback = PyTuple_GET_ITEM(spec, 3);
            long fd = PyLong_AsLong(PyTuple_GET_ITEM(spec, 4));
            if (fd == -1 && PyErr_Occurred()) goto out;
            s->fd = (int)fd;
            s->arena = arena_new(BLOCK * 2);
            if (s->arena == NULL) {
                PyErr_NoMemory();
                goto out;
            }
        } else {
            s->iter = PyObject_GetIter(spec);
            if (s->iter == NULL) goto out;
            s->switched = 1;
        }
    }
    if (PyLong_Check(target)) {
        long fd = PyLong_AsLong(target);
        if (fd == -1 && PyErr_Occurred()) goto out;
        w.fd = (int)fd;
    } else
        w.call = target;
    w.buf = malloc(OUT_CHUNK);
    if (w.buf == NULL) {
        PyErr_NoMemory();
        goto out;
    }
    if (merge_streams(st, count, (size_t)window, &w) < 0) goto out;
    result = PyList_New((Py_ssize_t)count);
    if (result == NULL) goto out;
    for (size_t i = 0; i < count; i++) {
        Stream *s = &st[i];
        PyObject *entry;
        if (s->switched)
            entry = Py_NewRef(Py_None);
        else
            entry = Py_BuildValue("(LLLL)", s->lines, s->records, s->continued, s->consumed);
        if (entry == NULL) {
            Py_CLEAR(result);
            goto out;
        }
        PyList_SET_ITEM(result, (Py_ssize_t)i, entry);
    }
out:
    if (st != NULL) {
        for (size_t i = 0; i < count; i++) stream_free(&st[i]);
        free(st);
    }
    writer_release(&w);
    pool_drain();
    free(w.buf);
    Py_DECREF(seq);
    return result;
}

static PyMethodDef methods[] = {
    {"merge", merge, METH_VARARGS,
     "merge(streams, out, window): merge log sources by time into out (see the module doc)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_cmerge",
    "The compiled text merge of stacktender.logs.fastmerge (see fastmerge).", -1, methods,
};

PyMODINIT_FUNC PyInit__cmerge(void) { return PyModule_Create(&module); }
