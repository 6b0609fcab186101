/* One source read by the compiled merge (see _cmerge.c): blocks of input, lines in
 * oslo.log's default text layout, records rendered with their labels, and the hand-back
 * to the Python reader on any line this part does not vouch for. */
#include "_cmerge.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif
void stream_free(Stream *s) {
    Py_CLEAR(s->iter);
    free(s->buf);
    arena_release(s->arena);
    s->arena = NULL;
    for (int i = 0; i < s->nstyles; i++) {
        free(s->styles[i].prefix);
        free(s->styles[i].tail);
    }
    items_drop(&s->done, 0);
    items_drop(&s->held, 0);
    items_drop(&s->pending, s->start < s->pending.n ? s->start : s->pending.n);
    items_drop(&s->work, 0);
    free(s->done.v);
    free(s->held.v);
    free(s->pending.v);
    free(s->work.v);
}

static inline int is_digit(unsigned char c) { return c >= '0' && c <= '9'; }
static inline int is_upper(unsigned char c) { return c >= 'A' && c <= 'Z'; }

/* Any NUL or non-ASCII byte in p[:n]. */
static int odd_bytes(const unsigned char *p, size_t n) {
    const uint64_t high = 0x8080808080808080ULL, ones = 0x0101010101010101ULL;
    size_t i = 0;
#ifdef __SSE2__
    const __m128i zero = _mm_setzero_si128();
    for (; i + 64 <= n; i += 64) {
        __m128i a = _mm_loadu_si128((const __m128i *)(p + i));
        __m128i b = _mm_loadu_si128((const __m128i *)(p + i + 16));
        __m128i c = _mm_loadu_si128((const __m128i *)(p + i + 32));
        __m128i d = _mm_loadu_si128((const __m128i *)(p + i + 48));
        __m128i any = _mm_or_si128(_mm_or_si128(a, b), _mm_or_si128(c, d));
        __m128i min = _mm_min_epu8(_mm_min_epu8(a, b), _mm_min_epu8(c, d));
        if (_mm_movemask_epi8(any) | _mm_movemask_epi8(_mm_cmpeq_epi8(min, zero))) return 1;
    }
#endif
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        if ((w & high) | ((w - ones) & ~w & high)) return 1;
    }
    for (; i < n; i++)
        if (p[i] == 0 || p[i] >= 0x80) return 1;
    return 0;
}

/* Strict UTF-8 (as bytes.decode() checks it), without NUL and without U+FFFD (which
 * the Python reader writes for undecodable bytes and then hands to the full parser). */
static int clean_utf8(const unsigned char *p, size_t n) {
    size_t i = 0;
    while (i < n) {
        unsigned char c = p[i];
        if (c == 0) return 0;
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t need;
        unsigned char lo = 0x80, hi = 0xBF;
        if (c >= 0xC2 && c <= 0xDF) need = 1;
        else if (c == 0xE0) need = 2, lo = 0xA0;
        else if (c == 0xED) need = 2, hi = 0x9F;
        else if (c >= 0xE1 && c <= 0xEF) need = 2;
        else if (c == 0xF0) need = 3, lo = 0x90;
        else if (c == 0xF4) need = 3, hi = 0x8F;
        else if (c >= 0xF1 && c <= 0xF3) need = 3;
        else return 0;
        if (i + need >= n) return 0; /* cut short */
        if (p[i + 1] < lo || p[i + 1] > hi) return 0;
        for (size_t k = 2; k <= need; k++)
            if ((p[i + k] & 0xC0) != 0x80) return 0;
        if (c == 0xEF && p[i + 1] == 0xBF && p[i + 2] == 0xBD) return 0;
        i += need + 1;
    }
    return 1;
}

/* A head in oslo.log's default layout, as fastmerge vouches for one:
 * "YYYY-MM-DD HH:MM:SS[.F{1,9}] PID LEVEL LOGGER " and the message. */
typedef struct {
    size_t time_len, pid_at, pid_len, level_at, level_len, logger_at, logger_len, msg_at;
    int second;
    double frac;
} Head;

static const double POW10[10] = {1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9};

/* Where the first byte <= ' ' in p[i:n] is (n if none), eight bytes at a time. */
static inline size_t space_or_control(const unsigned char *p, size_t i, size_t n) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        /* the lowest flagged byte is exact (bytes >= 0x80 are never flagged) */
        uint64_t low = (w - 0x2121212121212121ULL) & ~w & 0x8080808080808080ULL;
        if (low) return i + ((size_t)__builtin_ctzll(low) >> 3);
    }
#endif
    while (i < n && p[i] > ' ') i++;
    return i;
}

/* 1: a head; 0: not one (and no line fastmerge would take for a head either). */
static int parse_head(const unsigned char *p, size_t n, Head *h) {
#define D(i) is_digit(p[i])
    if (n < 20 || !(D(0) && D(1) && D(2) && D(3) && p[4] == '-' && D(5) && D(6) && p[7] == '-' &&
                    D(8) && D(9) && p[10] == ' ' && D(11) && D(12) && p[13] == ':' && D(14) &&
                    D(15) && p[16] == ':' && D(17) && D(18)))
        return 0;
#undef D
    int minute = (p[14] - '0') * 10 + (p[15] - '0'), sec = (p[17] - '0') * 10 + (p[18] - '0');
    if (minute > 59 || sec > 59) return 0;
    h->second = minute * 60 + sec;
    size_t i = 19;
    h->frac = 0.0;
    if (p[i] == '.') {
        size_t d = ++i;
        uint64_t m = 0;
        while (i < n && is_digit(p[i]) && i - d < 10) m = m * 10 + (uint64_t)(p[i++] - '0');
        if (i == d || i - d > 9) return 0;
        h->frac = (double)m / POW10[i - d];
    }
    h->time_len = i - 11;
    if (i >= n || p[i] != ' ') return 0;
    h->pid_at = ++i;
    while (i < n && is_digit(p[i])) i++;
    h->pid_len = i - h->pid_at;
    if (h->pid_len == 0 || i >= n || p[i] != ' ') return 0;
    h->level_at = ++i;
    while (i < n && is_upper(p[i])) i++;
    h->level_len = i - h->level_at;
    if (h->level_len == 0 || i >= n || p[i] != ' ') return 0;
    h->logger_at = ++i;
    for (;;) {
        i = space_or_control(p, i, n);
        if (i >= n) return 0; /* no message: the regex would take it, the split not */
        if (p[i] == ' ') break;
        if ((unsigned)(p[i] - '\t') <= '\r' - '\t') return 0; /* the regex's \S stops there */
        i++; /* other control bytes are \S */
    }
    h->logger_len = i - h->logger_at;
    if (h->logger_len == 0) return 0;
    h->msg_at = i + 1;
    return 1;
}

/* Whether a message starts with a request context ([-], [req-...], [None req-...],
 * [req-G req-R ...]): fastmerge._has_context. */
static int has_context(const unsigned char *m, size_t n) {
    if (n == 0 || m[0] != '[') return 0;
    if (n >= 11 && memcmp(m, "[instance: ", 11) == 0) return 0;
    const unsigned char *close = memchr(m, ']', n);
    if (close == NULL) return 0;
    const unsigned char *inner = m + 1;
    size_t len = (size_t)(close - inner);
    if (len == 1 && inner[0] == '-') return 1;
    const unsigned char *space = memchr(inner, ' ', len);
    size_t first = space ? (size_t)(space - inner) : len;
    if ((first == 4 && memcmp(inner, "None", 4) == 0) || first == 0) {
        if (space == NULL) return 0;
        const unsigned char *second = space + 1;
        size_t left = len - first - 1;
        return left >= 4 && memcmp(second, "req-", 4) == 0;
    }
    return first >= 4 && memcmp(inner, "req-", 4) == 0;
}

/* The start of the hour in a line's first 13 bytes; 1 found, 0 no valid hour, -1 error. */
static int hour_of(Stream *s, const unsigned char *p, double *base) {
    for (int i = 0; i < s->nhours; i++) {
        if (memcmp(s->hours[i].key, p, 13) == 0) {
            *base = s->hours[i].base;
            return 1;
        }
    }
    PyObject *r = PyObject_CallFunction(s->hour, "s#s#", p, (Py_ssize_t)10, p + 11, (Py_ssize_t)2);
    if (r == NULL) return -1;
    if (r == Py_None) {
        Py_DECREF(r);
        return 0;
    }
    double value = PyFloat_AsDouble(r);
    Py_DECREF(r);
    if (value == -1.0 && PyErr_Occurred()) return -1;
    int slot = s->nhours < HOURS ? s->nhours++ : (s->next_hour++ % HOURS);
    memcpy(s->hours[slot].key, p, 13);
    s->hours[slot].base = value;
    *base = value;
    return 1;
}

/* What goes before and after a line of a level; NULL with no error: not cached here. */
static const Style *style_of(Stream *s, const unsigned char *level, size_t len) {
    for (int i = 0; i < s->nstyles; i++) {
        Style *st = &s->styles[i];
        if (st->level_len == len && memcmp(st->level, level, len) == 0) return st;
    }
    if (len >= LEVEL_MAX || s->nstyles >= STYLES) return NULL;
    PyObject *r = PyObject_CallFunction(s->style, "s#", level, (Py_ssize_t)len);
    if (r == NULL) return NULL;
    char *prefix, *tail;
    Py_ssize_t plen, tlen;
    if (!PyTuple_Check(r) || PyTuple_GET_SIZE(r) != 2 ||
        PyBytes_AsStringAndSize(PyTuple_GET_ITEM(r, 0), &prefix, &plen) < 0 ||
        PyBytes_AsStringAndSize(PyTuple_GET_ITEM(r, 1), &tail, &tlen) < 0) {
        if (!PyErr_Occurred()) PyErr_SetString(PyExc_TypeError, "style() must give (bytes, bytes)");
        Py_DECREF(r);
        return NULL;
    }
    Style *st = &s->styles[s->nstyles];
    st->prefix = malloc(plen ? (size_t)plen : 1);
    st->tail = malloc(tlen ? (size_t)tlen : 1);
    if (st->prefix == NULL || st->tail == NULL) {
        free(st->prefix);
        free(st->tail);
        Py_DECREF(r);
        PyErr_NoMemory();
        return NULL;
    }
    memcpy(st->prefix, prefix, (size_t)plen);
    memcpy(st->tail, tail, (size_t)tlen);
    st->prefix_len = (size_t)plen;
    st->tail_len = (size_t)tlen;
    memcpy(st->level, level, len);
    st->level_len = len;
    s->nstyles++;
    Py_DECREF(r);
    return st;
}

/* Append one line of the record in progress: prefix, line, tail, newline. */
static int render(Stream *s, const Style *st, const unsigned char *p, size_t n) {
    Arena *a = s->arena;
    if (arena_reserve(a, st->prefix_len + n + st->tail_len + 1) < 0) {
        PyErr_NoMemory();
        return -1;
    }
    char *out = a->data + a->used;
    memcpy(out, st->prefix, st->prefix_len);
    out += st->prefix_len;
    memcpy(out, p, n);
    out += n;
    memcpy(out, st->tail, st->tail_len);
    out += st->tail_len;
    *out++ = '\n';
    a->used = (size_t)(out - a->data);
    return 0;
}

/* Close the record in progress as an item of this block. */
static int finish_record(Stream *s) {
    Item it = {s->ts, s->arena, s->rec_start, s->arena->used - s->rec_start};
    if (items_push(&s->done, it) < 0) {
        PyErr_NoMemory();
        return -1;
    }
    s->arena->refs++;
    s->rec_start = s->arena->used;
    return 0;
}

enum { LINE_OK = 0, LINE_SWITCH = 1, LINE_ERROR = -1 };

/* One line (without its newline); ``odd``: it may hold NUL or non-ASCII bytes. */
static int take_line(Stream *s, const unsigned char *p, size_t n, int odd) {
    if (n > MAX_LINE) return LINE_SWITCH;
    if (n && p[n - 1] == '\r') return LINE_SWITCH;
    if (odd && !clean_utf8(p, n)) return LINE_SWITCH;
    unsigned char first = n ? p[0] : 0;
    if (is_digit(first)) {
        Head h;
        if (parse_head(p, n, &h)) {
            double base;
            int found = hour_of(s, p, &base);
            if (found < 0) return LINE_ERROR;
            if (found == 0) return LINE_SWITCH;
            s->lines++;
            if (s->has_rec && h.level_len == 5 && memcmp(p + h.level_at, "ERROR", 5) == 0) {
                /* a traceback line under its head: same date, time, pid and logger */
                const unsigned char *head = (const unsigned char *)s->arena->data + s->rec_start + s->head_at;
                if (h.time_len == s->time_len && h.pid_len == s->pid_len &&
                    h.logger_len == s->logger_len && memcmp(p, head, 11 + h.time_len) == 0 &&
                    memcmp(p + h.pid_at, head + s->pid_at, h.pid_len) == 0 &&
                    memcmp(p + h.logger_at, head + s->logger_at, h.logger_len) == 0 &&
                    !has_context(p + h.msg_at, n - h.msg_at)) {
                    s->continued++;
                    return render(s, s->rec_style, p, n);
                }
            }
            const Style *st = style_of(s, p + h.level_at, h.level_len);
            if (st == NULL) {
                s->lines--;
                return PyErr_Occurred() ? LINE_ERROR : LINE_SWITCH;
            }
            if (s->has_rec && finish_record(s) < 0) return LINE_ERROR;
            s->has_rec = 1;
            s->records++;
            s->ts = base + (double)h.second + h.frac;
            s->rec_style = st;
            s->head_at = st->prefix_len;
            s->time_len = h.time_len;
            s->pid_at = h.pid_at;
            s->pid_len = h.pid_len;
            s->logger_at = h.logger_at;
            s->logger_len = h.logger_len;
            return render(s, st, p, n);
        }
        /* what could be a head or a syslog line in another layout */
        if (n >= 11 && is_digit(p[1]) && is_digit(p[2]) && is_digit(p[3]) && p[4] == '-')
            return LINE_SWITCH;
    } else if (first == '{') {
        if (odd) return LINE_SWITCH; /* rstrip() strips non-ASCII spaces too */
        size_t end = n;
        while (end && (p[end - 1] == ' ' || (p[end - 1] >= '\t' && p[end - 1] <= '\r') ||
                       (p[end - 1] >= 0x1c && p[end - 1] <= 0x1f)))
            end--;
        if (end && p[end - 1] == '}') return LINE_SWITCH; /* JSON */
    } else if (is_upper(first)) {
        /* "Nov 25 " or "Nov  5 ": what may start a syslog line */
        if (n >= 7 && p[1] >= 'a' && p[1] <= 'z' && p[2] >= 'a' && p[2] <= 'z' && p[3] == ' ' &&
            (p[4] == ' ' || is_digit(p[4])) && is_digit(p[5]) && p[6] == ' ')
            return LINE_SWITCH;
    }
    if (!s->has_rec) return LINE_SWITCH; /* a line before any record: the full parser's */
    s->lines++;
    s->continued++;
    return render(s, s->rec_style, p, n);
}

/* The lines of buf[:blen] that end there; what follows the last newline is kept. */
static int take_lines(Stream *s) {
    const unsigned char *data = (const unsigned char *)s->buf;
    size_t pos = 0, n = s->blen;
    int odd = odd_bytes(data, n);
    for (;;) {
        const unsigned char *nl = memchr(data + pos, '\n', n - pos);
        if (nl == NULL) break;
        size_t end = (size_t)(nl - data);
        int r = take_line(s, data + pos, end - pos, odd && odd_bytes(data + pos, end - pos));
        if (r != LINE_OK) return r;
        pos = end + 1;
    }
    if (n - pos > MAX_LINE) return LINE_SWITCH;
    memmove(s->buf, s->buf + pos, n - pos);
    s->blen = n - pos;
    return LINE_OK;
}

/* Pass this block's records on: the record in progress moves to a new arena. */
static int end_block(Stream *s, Items *out) {
    if (s->done.n == 0) return 0;
    Arena *old = s->arena;
    size_t keep = old->used - s->rec_start;
    Arena *fresh = arena_new(keep > BLOCK ? keep * 2 : BLOCK * 2);
    if (fresh == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    memcpy(fresh->data, old->data + s->rec_start, keep);
    fresh->used = keep;
    s->arena = fresh;
    s->rec_start = 0;
    arena_release(old);
    if (items_extend(out, s->done.v, s->done.n) < 0) {
        PyErr_NoMemory();
        return -1;
    }
    s->done.n = 0;
    s->batches++;
    return 1;
}

/* read(2) of a block from a regular file into buf; as read1 of Python's file object
 * does it (one read of BLOCK bytes). The size read, or -1 (errno set). */
static ssize_t read_fd(Stream *s) {
    if (s->blen + BLOCK > s->bcap) {
        size_t cap = s->bcap ? s->bcap : BLOCK * 2;
        while (cap < s->blen + BLOCK) cap *= 2;
        char *buf = realloc(s->buf, cap);
        if (buf == NULL) {
            errno = ENOMEM;
            return -1;
        }
        s->buf = buf;
        s->bcap = cap;
    }
    for (;;) {
        ssize_t size = read(s->fd, s->buf + s->blen, BLOCK);
        if (size >= 0 || errno != EINTR) return size;
    }
}

/* Append the next block to buf; 1 read, 0 end of input, 2 hand over, -1 error. */
static int read_block(Stream *s) {
    for (;;) {
        if (s->fd >= 0) {
            ssize_t got = read_fd(s);
            if (got < 0) {
                if (errno == ENOMEM) return PyErr_NoMemory(), -1;
                return 2; /* the Python reader reports what it can read and why not */
            }
            s->blen += (size_t)got;
            s->consumed += got;
            if (s->started) return got ? 1 : 0;
            if (got && s->blen < 6) continue;
            goto first;
        }
        PyObject *data = PyObject_CallFunction(s->read, "n", (Py_ssize_t)BLOCK);
        if (data == NULL) {
            /* the Python reader reports what it can read and why not */
            if (PyErr_ExceptionMatches(PyExc_Exception)) {
                PyErr_Clear();
                return 2;
            }
            return -1;
        }
        Py_buffer view;
        if (PyObject_GetBuffer(data, &view, PyBUF_SIMPLE) < 0) {
            Py_DECREF(data);
            return -1;
        }
        size_t size = (size_t)view.len;
        if (s->blen + size > s->bcap) {
            size_t cap = s->bcap ? s->bcap : BLOCK * 2;
            while (cap < s->blen + size) cap *= 2;
            char *buf = realloc(s->buf, cap);
            if (buf == NULL) {
                PyBuffer_Release(&view);
                Py_DECREF(data);
                PyErr_NoMemory();
                return -1;
            }
            s->buf = buf;
            s->bcap = cap;
        }
        memcpy(s->buf + s->blen, view.buf, size);
        s->blen += size;
        s->consumed += (long long)size;
        PyBuffer_Release(&view);
        Py_DECREF(data);
        if (s->started) return size ? 1 : 0;
        /* the first block: as sources._Blocks, gather 6 bytes to tell compression */
        if (size && s->blen < 6) continue;
    first:
        s->started = 1;
        const char *b = s->buf;
        size_t n = s->blen;
        if ((n >= 2 && memcmp(b, "\x1f\x8b", 2) == 0) || (n >= 3 && memcmp(b, "BZh", 3) == 0) ||
            (n >= 6 && memcmp(b, "\xfd" "7zXZ\x00", 6) == 0))
            return 2;
        return n ? 1 : 0;
    }
}

static int switch_to_python(Stream *s) {
    items_drop(&s->done, 0);
    arena_release(s->arena);
    s->arena = NULL;
    PyObject *iter = PyObject_CallFunction(s->fallback, "L", s->batches);
    if (iter == NULL) return -1;
    s->iter = PyObject_GetIter(iter);
    Py_DECREF(iter);
    if (s->iter == NULL) return -1;
    s->switched = 1;
    return 0;
}

/* The next list of Python's items, appended to out; 1, 0 at the end, -1 error. */
static int python_next(Stream *s, Items *out) {
    PyObject *batch = PyIter_Next(s->iter);
    if (batch == NULL) {
        if (PyErr_Occurred()) return -1;
        Py_CLEAR(s->iter);
        s->phase = DONE;
        return 0;
    }
    PyObject *seq = PySequence_Fast(batch, "items must be lists");
    Py_DECREF(batch);
    if (seq == NULL) return -1;
    Py_ssize_t count = PySequence_Fast_GET_SIZE(seq);
    PyObject **v = PySequence_Fast_ITEMS(seq);
    size_t total = 0;
    for (Py_ssize_t i = 0; i < count; i++) {
        Py_ssize_t len;
        if (!PyTuple_Check(v[i]) || PyTuple_GET_SIZE(v[i]) != 2 ||
            PyUnicode_AsUTF8AndSize(PyTuple_GET_ITEM(v[i], 1), &len) == NULL) {
            if (!PyErr_Occurred()) PyErr_SetString(PyExc_TypeError, "items are (time, text)");
            Py_DECREF(seq);
            return -1;
        }
        total += (size_t)len + 1;
    }
    Arena *a = arena_new(total);
    if (a == NULL || items_reserve(out, out->n + (size_t)count) < 0) {
        arena_release(a);
        Py_DECREF(seq);
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < count; i++) {
        Py_ssize_t len;
        const char *text = PyUnicode_AsUTF8AndSize(PyTuple_GET_ITEM(v[i], 1), &len);
        double ts = PyFloat_AsDouble(PyTuple_GET_ITEM(v[i], 0));
        if (ts == -1.0 && PyErr_Occurred()) {
            arena_release(a);
            Py_DECREF(seq);
            return -1;
        }
        Item it = {ts, a, a->used, (size_t)len + 1};
        memcpy(a->data + a->used, text, (size_t)len);
        a->data[a->used + (size_t)len] = '\n';
        a->used += (size_t)len + 1;
        a->refs++;
        out->v[out->n++] = it;
    }
    arena_release(a);
    Py_DECREF(seq);
    return 1;
}

/* The next list of records of a stream (fastmerge._items), appended to out:
 * 1, 0 at its end, -1 error. */
int stream_next(Stream *s, Items *out) {
    for (;;) {
        if (s->iter != NULL) return python_next(s, out);
        int r;
        switch (s->phase) {
        case READING:
            r = read_block(s);
            if (r < 0) return -1;
            if (r == 2) goto hand_over;
            if (r == 0) {
                s->phase = CLOSING;
                continue;
            }
            r = take_lines(s);
            if (r == LINE_ERROR) return -1;
            if (r == LINE_SWITCH) goto hand_over;
            r = end_block(s, out);
            if (r != 0) return r;
            continue;
        case CLOSING: /* a last line without its newline */
            s->phase = FINAL;
            if (s->blen == 0) continue;
            r = take_line(s, (const unsigned char *)s->buf, s->blen,
                          odd_bytes((const unsigned char *)s->buf, s->blen));
            s->blen = 0;
            if (r == LINE_ERROR) return -1;
            if (r == LINE_SWITCH) goto hand_over;
            r = end_block(s, out);
            if (r != 0) return r;
            continue;
        case FINAL:
            s->phase = DONE;
            if (!s->has_rec) return 0;
            if (finish_record(s) < 0) return -1;
            return end_block(s, out);
        default:
            return 0;
        }
    hand_over:
        if (switch_to_python(s) < 0) return -1;
    }
}
