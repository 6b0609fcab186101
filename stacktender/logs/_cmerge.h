/* What the two halves of the compiled merge share (see _cmerge.c): the memory
 * records are rendered into, and the state of one source. */
#ifndef STACKTENDER_CMERGE_H
#define STACKTENDER_CMERGE_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stddef.h>

#define BLOCK 65536        /* sources.BLOCK: bytes per read */
#define MAX_LINE (1 << 20) /* sources.MAX_LINE: longer lines are the Python path's */
#define HOURS 8
#define STYLES 16
#define LEVEL_MAX 32

/* -- arenas and items ------------------------------------------------------------------ */

/* Rendered records' bytes; freed when the last item in it has been written. */
typedef struct {
    size_t refs, used, cap;
    char *data;
} Arena;

/* One record: its time and its labelled lines, each with its newline. */
typedef struct {
    double ts;
    Arena *arena; /* one reference per item */
    size_t off, len;
} Item;

typedef struct {
    Item *v;
    size_t n, cap;
} Items;

Arena *arena_new(size_t cap);
void arena_release(Arena *a);
int arena_reserve(Arena *a, size_t more);
int items_reserve(Items *x, size_t n);
int items_push(Items *x, Item item);
int items_extend(Items *x, const Item *v, size_t n);
void items_drop(Items *x, size_t from);

typedef struct {
    char key[13]; /* "YYYY-MM-DD HH" */
    double base;
} Hour;

typedef struct {
    char level[LEVEL_MAX];
    size_t level_len;
    char *prefix, *tail;
    size_t prefix_len, tail_len;
} Style;

enum { READING, CLOSING, FINAL, DONE };

typedef struct {
    /* (read, hour, style, fallback) or an iterator; NULL once done with */
    PyObject *read, *hour, *style, *fallback, *iter;
    int fd; /* a regular file's, read directly; else -1 and ``read`` is called */
    int phase;
    int started, switched;
    char *buf; /* the start of a line whose end is in a later block, then a block */
    size_t blen, bcap;
    long long consumed, lines, records, continued, batches;
    /* the record in progress: its bytes are arena->data[rec_start:used] */
    Arena *arena;
    size_t rec_start;
    int has_rec;
    double ts;
    const Style *rec_style;
    /* its head line's fields, as offsets from the start of the line */
    size_t head_at, time_len, pid_at, pid_len, logger_at, logger_len;
    Hour hours[HOURS];
    int nhours, next_hour;
    Style styles[STYLES];
    int nstyles;
    Items done; /* records completed in this block */
    /* merge state */
    Items held, pending, work;
    size_t start;
} Stream;

/* The next list of records of a source (fastmerge._items), appended to out:
 * 1, 0 at its end, -1 error (_cmerge_read.c). */
int stream_next(Stream *s, Items *out);
void stream_free(Stream *s);

#endif
