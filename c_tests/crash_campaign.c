/*
 * crash_campaign: random structural operations killed with SIGKILL at random instants, and
 * readers in other processes racing the writer (issue #6, parts 1 and 6).
 *
 * A deterministic MODEL of the store (arrays a0..a5, int64 or float64, 1-D or 2-D with 1-3
 * columns) tags every row with a unique row id; element (row, col) of an array is a function of
 * the row's id and the column, so a mixture of two versions of an array, a torn row, a row that
 * came back after it was dropped or a row of the wrong array is visible in the data itself.
 * An op generator driven only by a seeded PRNG and the model (never by what the store returns)
 * produces saves (new arrays and overwrites, also changing shape and dtype), appends, row drops,
 * compactions (one array or all), clones, array drops and cache batches over 2-4 arrays (views
 * changed in place, longer or re-shaped arrays, new arrays, loaded-but-unsaved arrays; sometimes
 * with a 1 MB memory limit so arrays spill to staged files; sometimes aborted) and attribute
 * commits (issue #15): an int64 attribute "tag" set or deleted on an array or on the store, and
 * every cache batch sets the store's "tag" in its commit. The model tracks each tag (a dropped
 * array's goes with it, a clone copies it, a save over keeps it), and every observation below
 * compares the tags with the arrays: a tag of one commit with arrays of another matches neither
 * state. A few arrays are several MB, so kills also land inside data writes.
 *
 * Every trial forks a writer that opens the store (sometimes NPK_OPEN_DURABLE) and runs ops from
 * the current model; before op k it publishes "started k" in a shared page and after the call
 * returns "done k" (a failing call is a test failure); in a quarter of the trials it rests 0.5 ms
 * between ops, so kills also land after an op returned. The parent SIGKILLs it after a random
 * delay, replays the generator to get the state before op k (A) and after it (B), and checks:
 *   - a read-only open (no recovery) shows exactly A or B for ALL arrays jointly: same names,
 *     dtype, shape, physical rows and contents (npk_load, npk_view_open and npk_get_rows), and
 *     exactly B if op k had returned; every data file holds at least its rows;
 *   - a writer open (recovery) then shows the same state, and after its close no staged file,
 *     commit record or spare is left and every data file is exactly as long as its rows;
 *   - every CHECK_EVERY trials, and at the end, `npk check STORE` exits 0.
 * The next trial continues from the observed state, so the store accumulates a history.
 *
 * Part 6: in every other trial a READER child loops over npk_refresh (and sometimes a fresh
 * read-only open) and reads every array; each snapshot must be exactly a state S_j of the
 * writer's history (recomputed from the same seed), with j at least the reader's previous j
 * (snapshots never go back) and at least the state of the last op that had returned before the
 * refresh began, and at most the state after the op in flight. While the writer is alive, a
 * second writer open from another process must fail with NPK_LOCKED at once.
 *
 * Many arrays (issue #14): the store also holds FILLERS arrays (default 2,000) that no op touches,
 * named a<k>x<nnnn> so that they sort between the model's a0..a5 and every op's entry sits
 * among them in the catalogue (commits share unchanged entries; inserting and dropping model
 * arrays splits and merges the catalogue's chunks around them). Each filler holds two int64
 * derived from its index. Every observation requires all of them, no more, no fewer: the
 * trial's read-only and writer opens load every one; each reader snapshot loads a rotating
 * fiftieth of them.
 *
 * Usage: crash_campaign [TRIALS [SEED [FILLERS]]]   (defaults: a short run, seed 1, 2,000
 * fillers). A failure prints the trial, its seed, the op in flight and the arrays involved, and
 * keeps the store directory.
 */
#include "check.h"

#include <signal.h>
#include <sys/mman.h>

/* Messages are cut to their buffers on purpose. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wformat-truncation"
#endif

#ifndef NPK_BIN
#define NPK_BIN "npk"
#endif

#define NSLOT 6
#define MAXB 4
#define MAXIDX 8
#define DEFAULT_TRIALS 200
#define DEFAULT_FILLERS 2000
/* A reader snapshot loads the fillers whose index is its iteration modulo this. */
#define READER_FILLER_STRIDE 50
#define CHECK_EVERY 25
/* Above this many elements in the whole store, new arrays and appends are small and the
 * generator prefers shrinking ops. */
#define BIG_LIMIT 1500000u

/* ---- PRNG -------------------------------------------------------------------------------------*/

static uint64_t mix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

typedef struct {
    uint64_t s;
    int appends; /* gen_op: an append trial's op stream (see appends_trial) */
} rng_t;

static uint64_t rnd(rng_t *r)
{
    r->s += 0x9e3779b97f4a7c15ull;
    return mix64(r->s);
}

/* Uniform in [0, n), n > 0. */
static uint64_t below(rng_t *r, uint64_t n)
{
    return rnd(r) % n;
}

/* ---- the model --------------------------------------------------------------------------------*/

typedef struct {
    int used;
    npk_dtype dtype; /* NPK_INT64 or NPK_FLOAT64 */
    uint32_t ndim;   /* 1 or 2 */
    uint64_t cols;   /* 1 for ndim 1 */
    uint64_t n;      /* live rows */
    uint64_t cap;
    uint64_t *ids;   /* row id of every live row, in logical order */
    uint64_t phys;   /* rows in the data file, dropped ones included */
    int64_t attr;    /* the array's attribute "tag", 0 when it has none */
} marr;

typedef struct {
    marr a[NSLOT];
    uint64_t next_id;
    int64_t sattr; /* the store's attribute "tag", 0 when it has none */
} model;

/* The one attribute key of the campaign. */
#define TAG "tag"

static const char *const NAMES[NSLOT] = {"a0", "a1", "a2", "a3", "a4", "a5"};

/* ---- fillers: arrays no op touches ------------------------------------------------------------*/

static long g_fillers = DEFAULT_FILLERS;

/* Filler i is a<i % NSLOT>x<i / NSLOT>: after model array a<i % NSLOT>, before the next one. */
static void filler_name(long i, char *out, size_t n)
{
    snprintf(out, n, "a%ldx%04ld", i % NSLOT, i / NSLOT);
}

static void filler_values(long i, int64_t v[2])
{
    v[0] = (int64_t)mix64(0xf111e5ull + 2 * (uint64_t)i);
    v[1] = (int64_t)mix64(0xf111e5ull + 2 * (uint64_t)i + 1);
}

/* The filler index of `name`, or -1 if it is no filler's name. */
static long filler_index(const char *name)
{
    char canon[64];
    long slot, num;
    char x;
    if (sscanf(name, "a%ld%c%ld", &slot, &x, &num) != 3 || x != 'x' || slot < 0 ||
        slot >= NSLOT || num < 0)
        return -1;
    if (num * NSLOT + slot >= g_fillers)
        return -1;
    filler_name(num * NSLOT + slot, canon, sizeof canon);
    return strcmp(canon, name) == 0 ? num * NSLOT + slot : -1;
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (p == NULL) {
        fprintf(stderr, "out of memory (%zu bytes)\n", n);
        exit(2);
    }
    return p;
}

static void marr_reserve(marr *m, uint64_t n)
{
    if (n <= m->cap)
        return;
    m->cap = n < 16 ? 16 : n + n / 2;
    m->ids = (uint64_t *)realloc(m->ids, (size_t)m->cap * sizeof(uint64_t));
    if (m->ids == NULL) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
}

static void marr_clear(marr *m)
{
    free(m->ids);
    memset(m, 0, sizeof *m);
}

static void marr_copy(marr *dst, const marr *src)
{
    marr_clear(dst);
    *dst = *src;
    dst->ids = NULL;
    dst->cap = 0;
    if (src->used) {
        marr_reserve(dst, src->n);
        if (src->n)
            memcpy(dst->ids, src->ids, (size_t)src->n * sizeof(uint64_t));
    }
}

static void model_init(model *m)
{
    memset(m, 0, sizeof *m);
    m->next_id = 1;
}

static void model_free(model *m)
{
    int i;
    for (i = 0; i < NSLOT; i++)
        marr_clear(&m->a[i]);
}

static void model_copy(model *dst, const model *src)
{
    int i;
    for (i = 0; i < NSLOT; i++)
        marr_copy(&dst->a[i], &src->a[i]);
    dst->next_id = src->next_id;
    dst->sattr = src->sattr;
}

static int marr_equal(const marr *x, const marr *y)
{
    if (x->used != y->used)
        return 0;
    if (!x->used)
        return 1;
    return x->dtype == y->dtype && x->ndim == y->ndim && x->cols == y->cols && x->n == y->n &&
           x->phys == y->phys && x->attr == y->attr &&
           (x->n == 0 || memcmp(x->ids, y->ids, (size_t)x->n * sizeof(uint64_t)) == 0);
}

/* Equal as stored states (next_id is not stored). */
static int model_equal(const model *x, const model *y)
{
    int i;
    for (i = 0; i < NSLOT; i++)
        if (!marr_equal(&x->a[i], &y->a[i]))
            return 0;
    return x->sattr == y->sattr;
}

/* The 8 bytes of element (row id, col) in an array of `dt`. */
static uint64_t val_bits(npk_dtype dt, uint64_t id, uint64_t c)
{
    uint64_t v = id * 4 + c + 1;
    double d;
    if (dt == NPK_INT64)
        return v;
    d = (double)v + 0.5;
    memcpy(&v, &d, 8);
    return v;
}

/* What an element's bits say, for messages: "id 17 col 2" or a raw value. */
static void describe_bits(npk_dtype dt, uint64_t bits, char *out, size_t n)
{
    double d;
    uint64_t v;
    if (dt == NPK_INT64) {
        v = bits;
    } else {
        memcpy(&d, &bits, 8);
        if (!(d >= 1.5 && d < 1e15 && d - (double)(uint64_t)d == 0.5)) {
            snprintf(out, n, "%g (not a model value)", d);
            return;
        }
        v = (uint64_t)d;
    }
    if (v == 0) {
        snprintf(out, n, "0 (not a model value)");
        return;
    }
    snprintf(out, n, "row id %llu col %llu", (unsigned long long)((v - 1) / 4),
             (unsigned long long)((v - 1) % 4));
}

/* Rows [from, to) of the array, C order, into a new buffer. */
static void *materialize(const marr *m, uint64_t from, uint64_t to)
{
    uint64_t *buf = (uint64_t *)xmalloc((size_t)((to - from) * m->cols * 8));
    uint64_t r, c;
    for (r = from; r < to; r++)
        for (c = 0; c < m->cols; c++)
            buf[(r - from) * m->cols + c] = val_bits(m->dtype, m->ids[r], c);
    return buf;
}

static uint64_t model_elems(const model *m)
{
    uint64_t t = 0;
    int i;
    for (i = 0; i < NSLOT; i++)
        if (m->a[i].used)
            t += m->a[i].phys * m->a[i].cols;
    return t;
}

/* ---- ops --------------------------------------------------------------------------------------*/

enum { OP_SAVE_NEW, OP_SAVE_OVER, OP_APPEND, OP_DROP_ROWS, OP_COMPACT, OP_CLONE, OP_DROP, OP_BATCH,
       OP_ATTR, OP_KINDS };
static const char *const OP_NAMES[OP_KINDS] = {"save-new", "save-over", "append", "drop-rows",
                                               "compact",  "clone",     "drop",   "batch", "attr"};

/* Cache-batch entries: load + change rows through the view + save the view's pointer; save a
 * longer array (old rows + new ones); save a new dtype/shape; save a new array; load, scribble
 * on the view and never save it (must not be written). */
enum { BA_VIEW, BA_GROW, BA_REPLACE, BA_NEW, BA_UNSAVED };
static const char *const BA_NAMES[] = {"view", "grow", "replace", "new", "unsaved"};

typedef struct {
    int slot, action;
    npk_dtype dtype;
    uint32_t ndim;
    uint64_t cols, rows; /* new layout (REPLACE, NEW) or added rows (GROW) */
    int nrep;
    uint64_t rep[MAXIDX]; /* VIEW: logical rows given new ids */
} bent;

typedef struct {
    int kind;
    int slot, slot2; /* target; clone destination or second dropped array (-1 if none) */
    npk_dtype dtype;
    uint32_t ndim;
    uint64_t cols, rows; /* SAVE_*: new layout; APPEND: rows */
    int nidx;
    int64_t idx[MAXIDX]; /* DROP_ROWS: logical, some negative */
    int all;             /* COMPACT: every array (name NULL); ATTR: delete the tag */
    int nb;
    bent b[MAXB];
    uint64_t mem_mb;
    int abort_batch;
} op_t;

static void op_desc(const op_t *op, char *out, size_t n)
{
    size_t len;
    int i;
    switch (op->kind) {
    case OP_SAVE_NEW:
    case OP_SAVE_OVER:
        snprintf(out, n, "%s %s %s ndim %u rows %llu cols %llu", OP_NAMES[op->kind],
                 NAMES[op->slot], op->dtype == NPK_INT64 ? "int64" : "float64", op->ndim,
                 (unsigned long long)op->rows, (unsigned long long)op->cols);
        break;
    case OP_APPEND:
        snprintf(out, n, "append %s rows %llu", NAMES[op->slot], (unsigned long long)op->rows);
        break;
    case OP_DROP_ROWS:
        len = (size_t)snprintf(out, n, "drop-rows %s [", NAMES[op->slot]);
        for (i = 0; i < op->nidx && len < n; i++)
            len += (size_t)snprintf(out + len, n - len, "%s%lld", i ? "," : "",
                                    (long long)op->idx[i]);
        if (len < n)
            snprintf(out + len, n - len, "]");
        break;
    case OP_COMPACT:
        snprintf(out, n, "compact %s", op->all ? "(all)" : NAMES[op->slot]);
        break;
    case OP_CLONE:
        snprintf(out, n, "clone %s -> %s", NAMES[op->slot], NAMES[op->slot2]);
        break;
    case OP_DROP:
        snprintf(out, n, "drop %s%s%s", NAMES[op->slot], op->slot2 >= 0 ? " " : "",
                 op->slot2 >= 0 ? NAMES[op->slot2] : "");
        break;
    case OP_ATTR:
        snprintf(out, n, "attr %s %s", op->all ? "delete" : "set",
                 op->slot >= 0 ? NAMES[op->slot] : "(store)");
        break;
    default:
        len = (size_t)snprintf(out, n, "batch (mem %llu MB%s):", (unsigned long long)op->mem_mb,
                               op->abort_batch ? ", aborted" : "");
        for (i = 0; i < op->nb && len < n; i++)
            len += (size_t)snprintf(out + len, n - len, " %s %s rows %llu cols %llu",
                                    BA_NAMES[op->b[i].action], NAMES[op->b[i].slot],
                                    (unsigned long long)op->b[i].rows,
                                    (unsigned long long)op->b[i].cols);
        break;
    }
}

/* Rows for a new array or an append: mostly a few, sometimes none, sometimes a few MB. */
static uint64_t gen_rows(rng_t *r, const model *m, int may_be_empty)
{
    uint64_t x = below(r, 100);
    if (x < 7 && model_elems(m) < BIG_LIMIT)
        return 40000 + below(r, 120000);
    if (may_be_empty && x < 12)
        return 0;
    return 1 + below(r, 40);
}

static void gen_layout(rng_t *r, npk_dtype *dt, uint32_t *ndim, uint64_t *cols)
{
    *dt = below(r, 2) ? NPK_INT64 : NPK_FLOAT64;
    *ndim = below(r, 4) == 0 ? 1 : 2;
    *cols = *ndim == 1 ? 1 : 1 + below(r, 3);
}

static int pick_slot(rng_t *r, const model *m, int used, int nonempty)
{
    int cand[NSLOT], n = 0, i;
    for (i = 0; i < NSLOT; i++)
        if ((m->a[i].used != 0) == (used != 0) && (!nonempty || m->a[i].n > 0))
            cand[n++] = i;
    return n ? cand[below(r, (uint64_t)n)] : -1;
}

static int biggest_slot(const model *m)
{
    int i, best = -1;
    for (i = 0; i < NSLOT; i++)
        if (m->a[i].used && (best < 0 || m->a[i].phys * m->a[i].cols >
                                             m->a[best].phys * m->a[best].cols))
            best = i;
    return best;
}

/* A quarter of the trials (chosen by their seed) are append trials: small appends back to back,
 * commits that change only the catalogue and go through the writer's spare catalogue and
 * renameat2(RENAME_EXCHANGE) (an append to an array with dropped rows also stages its bitmap and
 * takes the record path). They take ~10-50 us each, so without such trials few kills would land
 * inside one; with them the exchange path gets at least as many in-flight kills as appends got
 * when each was a new catalogue renamed over the old one. */
static int appends_trial(uint64_t tseed)
{
    return mix64(tseed ^ 0x41505044u) % 4 == 0;
}

/* The next op, from the model and the PRNG only. */
static void gen_op(const model *m, rng_t *r, op_t *op)
{
    int used = 0, freec = 0, nonempty = 0, i;
    int w[OP_KINDS];
    int total = 0, k;
    uint64_t x;
    memset(op, 0, sizeof *op);
    op->slot2 = -1;
    for (i = 0; i < NSLOT; i++) {
        used += m->a[i].used != 0;
        nonempty += m->a[i].used && m->a[i].n > 0;
    }
    freec = NSLOT - used;

    /* A big store shrinks: the biggest array is overwritten small or dropped. */
    if (model_elems(m) >= BIG_LIMIT && below(r, 2) == 0) {
        op->slot = biggest_slot(m);
        if (below(r, 3) == 0) {
            op->kind = OP_DROP;
        } else {
            op->kind = OP_SAVE_OVER;
            gen_layout(r, &op->dtype, &op->ndim, &op->cols);
            op->rows = 1 + below(r, 40);
        }
        return;
    }

    if (r->appends && used) {
        op->kind = OP_APPEND;
        op->slot = pick_slot(r, m, 1, 0);
        op->rows = 1 + below(r, 40);
        return;
    }

    w[OP_SAVE_NEW] = freec ? (used < 2 ? 8 : 3) : 0;
    w[OP_SAVE_OVER] = used ? 3 : 0;
    w[OP_APPEND] = used ? 4 : 0;
    w[OP_DROP_ROWS] = nonempty ? 4 : 0;
    w[OP_COMPACT] = used ? 2 : 0;
    w[OP_CLONE] = used && freec ? 2 : 0;
    w[OP_DROP] = used ? (freec ? 1 : 2) : 0;
    w[OP_BATCH] = used ? 4 : 0;
    w[OP_ATTR] = 2;
    for (k = 0; k < OP_KINDS; k++)
        total += w[k];
    x = below(r, (uint64_t)total);
    for (k = 0; k < OP_KINDS; k++) {
        if (x < (uint64_t)w[k])
            break;
        x -= (uint64_t)w[k];
    }
    op->kind = k;

    switch (k) {
    case OP_SAVE_NEW:
    case OP_SAVE_OVER:
        op->slot = pick_slot(r, m, k == OP_SAVE_OVER, 0);
        if (k == OP_SAVE_OVER && below(r, 2) == 0) { /* same layout, new rows */
            op->dtype = m->a[op->slot].dtype;
            op->ndim = m->a[op->slot].ndim;
            op->cols = m->a[op->slot].cols;
        } else {
            gen_layout(r, &op->dtype, &op->ndim, &op->cols);
        }
        op->rows = gen_rows(r, m, 1);
        break;
    case OP_APPEND:
        op->slot = pick_slot(r, m, 1, 0);
        op->rows = gen_rows(r, m, 0);
        break;
    case OP_DROP_ROWS: {
        const marr *a;
        uint64_t pos[MAXIDX];
        int j;
        op->slot = pick_slot(r, m, 1, 1);
        a = &m->a[op->slot];
        if (a->n <= 6 && below(r, 6) == 0) { /* every row */
            op->nidx = (int)a->n;
            for (j = 0; j < op->nidx; j++)
                pos[j] = (uint64_t)j;
        } else {
            op->nidx = 1 + (int)below(r, a->n < 6 ? a->n : 6);
            for (j = 0; j < op->nidx; j++) {
                int dup;
                do {
                    int q;
                    pos[j] = below(r, a->n);
                    dup = 0;
                    for (q = 0; q < j; q++)
                        dup |= pos[q] == pos[j];
                } while (dup);
            }
        }
        for (j = 0; j < op->nidx; j++)
            op->idx[j] = below(r, 3) == 0 ? (int64_t)pos[j] - (int64_t)a->n : (int64_t)pos[j];
        break;
    }
    case OP_COMPACT:
        op->all = below(r, 3) == 0;
        op->slot = op->all ? -1 : pick_slot(r, m, 1, 0);
        break;
    case OP_CLONE:
        op->slot = pick_slot(r, m, 1, 0);
        op->slot2 = pick_slot(r, m, 0, 0);
        break;
    case OP_DROP:
        op->slot = pick_slot(r, m, 1, 0);
        if (used >= 2 && below(r, 3) == 0)
            do
                op->slot2 = pick_slot(r, m, 1, 0);
            while (op->slot2 == op->slot);
        break;
    case OP_ATTR: {
        const int64_t *tag;
        op->slot = used && below(r, 3) != 0 ? pick_slot(r, m, 1, 0) : -1;
        tag = op->slot >= 0 ? &m->a[op->slot].attr : &m->sattr;
        op->all = *tag != 0 && below(r, 4) == 0;
        break;
    }
    default: { /* OP_BATCH: 2-4 distinct arrays, existing ones or new names */
        int want = 2 + (int)below(r, 3), taken[NSLOT] = {0}, j;
        op->mem_mb = below(r, 5) < 2 ? 1 : 0;
        op->abort_batch = below(r, 7) == 0;
        for (j = 0; j < want; j++) {
            bent *e = &op->b[op->nb];
            int s;
            do
                s = (int)below(r, NSLOT);
            while (taken[s]);
            taken[s] = 1;
            e->slot = s;
            if (!m->a[s].used) {
                e->action = BA_NEW;
                gen_layout(r, &e->dtype, &e->ndim, &e->cols);
                e->rows = gen_rows(r, m, 1);
            } else {
                const marr *a = &m->a[s];
                x = below(r, 10);
                e->action = x < 4 ? BA_VIEW : x < 6 ? BA_GROW : x < 9 ? BA_REPLACE : BA_UNSAVED;
                if (e->action == BA_VIEW && a->n == 0)
                    e->action = BA_GROW;
                e->dtype = a->dtype;
                e->ndim = a->ndim;
                e->cols = a->cols;
                if (e->action == BA_VIEW) {
                    int q;
                    e->nrep = 1 + (int)below(r, a->n < MAXIDX ? a->n : MAXIDX);
                    for (q = 0; q < e->nrep; q++)
                        e->rep[q] = below(r, a->n);
                } else if (e->action == BA_GROW) {
                    e->rows = gen_rows(r, m, 0);
                } else if (e->action == BA_REPLACE) {
                    gen_layout(r, &e->dtype, &e->ndim, &e->cols);
                    e->rows = gen_rows(r, m, 1);
                }
            }
            op->nb++;
        }
        break;
    }
    }
}

static void set_new_array(model *m, int slot, npk_dtype dt, uint32_t ndim, uint64_t cols,
                          uint64_t rows)
{
    marr *a = &m->a[slot];
    uint64_t i;
    a->used = 1;
    a->dtype = dt;
    a->ndim = ndim;
    a->cols = cols;
    marr_reserve(a, rows);
    for (i = 0; i < rows; i++)
        a->ids[i] = m->next_id++;
    a->n = rows;
    a->phys = rows;
}

static void append_rows(model *m, int slot, uint64_t rows)
{
    marr *a = &m->a[slot];
    uint64_t i;
    marr_reserve(a, a->n + rows);
    for (i = 0; i < rows; i++)
        a->ids[a->n + i] = m->next_id++;
    a->n += rows;
}

/* The model after `op` commits (an aborted batch included: see step()). */
static void apply_op(model *m, const op_t *op)
{
    int i;
    switch (op->kind) {
    case OP_SAVE_NEW:
    case OP_SAVE_OVER:
        set_new_array(m, op->slot, op->dtype, op->ndim, op->cols, op->rows);
        break;
    case OP_APPEND:
        append_rows(m, op->slot, op->rows);
        m->a[op->slot].phys += op->rows;
        break;
    case OP_DROP_ROWS: {
        marr *a = &m->a[op->slot];
        unsigned char *gone = (unsigned char *)calloc((size_t)a->n + 1, 1);
        uint64_t src, dst = 0;
        for (i = 0; i < op->nidx; i++)
            gone[op->idx[i] < 0 ? (uint64_t)(op->idx[i] + (int64_t)a->n)
                                : (uint64_t)op->idx[i]] = 1;
        for (src = 0; src < a->n; src++)
            if (!gone[src])
                a->ids[dst++] = a->ids[src];
        a->n = dst;
        free(gone);
        break;
    }
    case OP_COMPACT:
        for (i = 0; i < NSLOT; i++)
            if (m->a[i].used && (op->all || i == op->slot))
                m->a[i].phys = m->a[i].n;
        break;
    case OP_CLONE:
        marr_copy(&m->a[op->slot2], &m->a[op->slot]);
        m->a[op->slot2].phys = m->a[op->slot2].n;
        break;
    case OP_DROP:
        marr_clear(&m->a[op->slot]);
        if (op->slot2 >= 0)
            marr_clear(&m->a[op->slot2]);
        break;
    case OP_ATTR: {
        int64_t *tag = op->slot >= 0 ? &m->a[op->slot].attr : &m->sattr;
        *tag = op->all ? 0 : (int64_t)m->next_id++;
        break;
    }
    default:
        for (i = 0; i < op->nb; i++) {
            const bent *e = &op->b[i];
            marr *a = &m->a[e->slot];
            int q;
            switch (e->action) {
            case BA_VIEW:
                for (q = 0; q < e->nrep; q++)
                    a->ids[e->rep[q]] = m->next_id++;
                a->phys = a->n;
                break;
            case BA_GROW:
                append_rows(m, e->slot, e->rows);
                a->phys = a->n;
                break;
            case BA_REPLACE:
            case BA_NEW:
                set_new_array(m, e->slot, e->dtype, e->ndim, e->cols, e->rows);
                break;
            default: /* BA_UNSAVED: not written */
                break;
            }
        }
        m->sattr = (int64_t)m->next_id++; /* in the batch's commit */
        break;
    }
}

/* The model after `op` returns OK. */
static void step(model *m, const op_t *op)
{
    if (op->kind == OP_BATCH && op->abort_batch)
        return;
    apply_op(m, op);
}

/* Replays ops 0..k-1 from `start`: *a = state before op k, *b = state after it, *op = op k.
 * k < 0 (killed before the first op): both are `start`. */
static void replay(const model *start, uint64_t seed, long k, model *a, model *b, op_t *op)
{
    rng_t r;
    long j;
    r.s = seed;
    r.appends = appends_trial(seed);
    model_copy(a, start);
    memset(op, 0, sizeof *op);
    op->kind = -1;
    for (j = 0; j < k; j++) {
        gen_op(a, &r, op);
        step(a, op);
    }
    model_copy(b, a);
    if (k >= 0) {
        gen_op(a, &r, op);
        step(b, op);
    }
}

/* ---- shared page ------------------------------------------------------------------------------*/

typedef struct {
    volatile int64_t started; /* op the writer is in (or past), -1 before the first */
    volatile int64_t done;    /* last op that returned OK, -1 if none */
    volatile int stop;        /* the parent tells the reader to finish */
    volatile int opened;      /* the writer's npk_open returned */
    volatile int64_t reader_checks, reader_distinct, reader_violations, reader_reopens;
    volatile int64_t reader_max_j;
    char msg[1024]; /* the writer's failure */
} shared_t;

static shared_t *g_sh;

#define BARRIER() __sync_synchronize()

/* ---- the writer child -------------------------------------------------------------------------*/

/* exec_op's status when the writer's own check failed (not a library call). */
#define WRITER_CHECK_FAILED (-1)

static void writer_fail(long k, const char *what, const op_t *op, npk_status st)
{
    char d[512];
    op_desc(op, d, sizeof d);
    if (st == WRITER_CHECK_FAILED)
        snprintf(g_sh->msg, sizeof g_sh->msg, "op %ld (%s): %s", k, d, what);
    else
        snprintf(g_sh->msg, sizeof g_sh->msg, "op %ld (%s): %s: %s: %s", k, d, what,
                 npk_status_str(st), npk_last_error());
    BARRIER();
    _exit(20);
}

static npk_status exec_batch(npk_store *s, const model *cur, const model *after, const op_t *op,
                             const char **what)
{
    npk_batch *b = NULL;
    npk_status st;
    int i;
    *what = "npk_batch_begin";
    if ((st = npk_batch_begin(s, op->mem_mb, &b)) != NPK_OK)
        return st;
    for (i = 0; i < op->nb; i++) {
        const bent *e = &op->b[i];
        const marr *old = &cur->a[e->slot], *nw = &after->a[e->slot];
        const char *name = NAMES[e->slot];
        npk_view v = NPK_VIEW_INIT;
        uint64_t shape[2];
        if (e->action == BA_VIEW || e->action == BA_UNSAVED) {
            void *want;
            *what = "npk_batch_load";
            if ((st = npk_batch_load(b, name, &v)) != NPK_OK)
                break;
            /* The batch must serve the committed content. */
            want = materialize(old, 0, old->n);
            if (v.dtype != old->dtype || v.ndim != old->ndim || v.shape[0] != old->n ||
                (old->ndim == 2 && v.shape[1] != old->cols) || v.nbytes != old->n * old->cols * 8 ||
                (v.nbytes && memcmp(v.data, want, (size_t)v.nbytes) != 0)) {
                free(want);
                *what = "npk_batch_load returned other content than the committed array";
                st = WRITER_CHECK_FAILED;
                break;
            }
            free(want);
            if (e->action == BA_UNSAVED) {
                if (v.nbytes)
                    memset(v.data, 0xab, (size_t)(v.nbytes < 64 ? v.nbytes : 64));
                continue;
            }
            {
                int q;
                for (q = 0; q < e->nrep; q++) {
                    void *row = materialize(nw, e->rep[q], e->rep[q] + 1);
                    memcpy((char *)v.data + e->rep[q] * old->cols * 8, row,
                           (size_t)old->cols * 8);
                    free(row);
                }
            }
            *what = "npk_batch_save (the view's own pointer)";
            if ((st = npk_batch_save(b, name, v.dtype, v.ndim, v.shape, v.data, NULL)) != NPK_OK)
                break;
        } else {
            void *buf = materialize(nw, 0, nw->n);
            shape[0] = nw->n;
            shape[1] = nw->cols;
            *what = "npk_batch_save";
            st = npk_batch_save(b, name, nw->dtype, nw->ndim, shape, buf, NULL);
            free(buf);
            if (st != NPK_OK)
                break;
        }
    }
    if (st != NPK_OK) {
        /* Keep the message of the failed call: npk_batch_abort may replace it. */
        static char keep[512];
        snprintf(keep, sizeof keep, "%s", st == WRITER_CHECK_FAILED ? "" : npk_last_error());
        npk_batch_abort(b);
        if (st != WRITER_CHECK_FAILED)
            fprintf(stderr, "  writer: %s: %s\n", *what, keep);
        return st;
    }
    *what = "npk_batch_attr_set";
    if ((st = npk_batch_attr_set(b, NULL, TAG, NPK_ATTR_INT64, &after->sattr, 1)) != NPK_OK) {
        fprintf(stderr, "  writer: %s: %s\n", *what, npk_last_error());
        npk_batch_abort(b);
        return st;
    }
    if (op->abort_batch) {
        *what = "npk_batch_abort";
        return npk_batch_abort(b);
    }
    *what = "npk_batch_end";
    return npk_batch_end(b);
}

static npk_status exec_op(npk_store *s, const model *cur, const op_t *op, const char **what)
{
    model after;
    npk_status st = NPK_OK;
    uint64_t shape[2];
    const marr *a;
    void *buf;
    model_init(&after);
    model_copy(&after, cur);
    apply_op(&after, op);
    switch (op->kind) {
    case OP_SAVE_NEW:
    case OP_SAVE_OVER:
        a = &after.a[op->slot];
        buf = materialize(a, 0, a->n);
        shape[0] = a->n;
        shape[1] = a->cols;
        *what = "npk_save";
        st = npk_save(s, NAMES[op->slot], a->dtype, a->ndim, shape, buf, NULL);
        free(buf);
        break;
    case OP_APPEND:
        a = &after.a[op->slot];
        buf = materialize(a, cur->a[op->slot].n, a->n);
        shape[0] = op->rows;
        shape[1] = a->cols;
        *what = "npk_append";
        st = npk_append(s, NAMES[op->slot], a->dtype, a->ndim, shape, buf, NULL);
        free(buf);
        break;
    case OP_DROP_ROWS:
        *what = "npk_drop_rows";
        st = npk_drop_rows(s, NAMES[op->slot], op->idx, (uint64_t)op->nidx);
        break;
    case OP_COMPACT:
        *what = "npk_compact";
        st = npk_compact(s, op->all ? NULL : NAMES[op->slot]);
        break;
    case OP_CLONE:
        *what = "npk_clone";
        st = npk_clone(s, NAMES[op->slot], NAMES[op->slot2]);
        break;
    case OP_DROP: {
        const char *names[2];
        names[0] = NAMES[op->slot];
        names[1] = op->slot2 >= 0 ? NAMES[op->slot2] : NULL;
        *what = "npk_drop";
        st = npk_drop(s, names, op->slot2 >= 0 ? 2 : 1);
        break;
    }
    case OP_ATTR: {
        const char *owner = op->slot >= 0 ? NAMES[op->slot] : NULL;
        const int64_t tag = op->slot >= 0 ? after.a[op->slot].attr : after.sattr;
        *what = op->all ? "npk_attr_delete" : "npk_attr_set";
        st = op->all ? npk_attr_delete(s, owner, TAG)
                     : npk_attr_set(s, owner, TAG, NPK_ATTR_INT64, &tag, 1);
        break;
    }
    default:
        st = exec_batch(s, cur, &after, op, what);
        break;
    }
    model_free(&after);
    return st;
}

/* pause_us > 0: the writer rests between ops, so kills also land after an op returned. */
static void run_writer(const char *dir, const model *start, uint64_t seed, uint32_t flags,
                       long pause_us)
{
    npk_store *s = NULL;
    model cur;
    rng_t r;
    op_t op;
    long k;
    r.s = seed;
    r.appends = appends_trial(seed);
    model_init(&cur);
    model_copy(&cur, start);
    memset(&op, 0, sizeof op);
    op.kind = OP_COMPACT;
    op.all = 1;
    npk_status st;
    if ((st = npk_open(dir, flags, &s)) != NPK_OK)
        writer_fail(-1, "npk_open", &op, st);
    g_sh->opened = 1;
    BARRIER();
    for (k = 0; k < 1000000; k++) {
        const char *what = "";
        gen_op(&cur, &r, &op);
        g_sh->started = k;
        BARRIER();
        if ((st = exec_op(s, &cur, &op, &what)) != NPK_OK)
            writer_fail(k, what, &op, st);
        BARRIER();
        g_sh->done = k;
        BARRIER();
        step(&cur, &op);
        if (pause_us > 0)
            sleep_us(pause_us);
    }
    npk_close(s);
    _exit(0);
}

/* ---- observing a store ------------------------------------------------------------------------*/

typedef struct {
    char name[64];
    npk_array_info info;
    uint64_t *data; /* npk_load's copy */
    int64_t attr;   /* its "tag" attribute, 0 if none */
} oarr;

typedef struct {
    int n;
    oarr a[32];
    int64_t sattr; /* the store's "tag" attribute, 0 if none */
} obs;

/* The "tag" attribute of `array` (NULL: the store) into *tag, 0 when there is none. 1 on
 * success; 0 with *why. */
static int read_tag(npk_store *s, const char *array, int64_t *tag, char *why, size_t wn)
{
    uint64_t n = 0;
    npk_status st;
    *tag = 0;
    st = npk_attr_get(s, array, TAG, NPK_ATTR_INT64, tag, 1, &n);
    if (st == NPK_NOT_FOUND) {
        *tag = 0;
        return 1;
    }
    if (st != NPK_OK || n != 1) {
        snprintf(why, wn, "npk_attr_get(%s, tag): %s: %s", array ? array : "(store)",
                 npk_status_str(st), npk_last_error());
        return 0;
    }
    return 1;
}

static void obs_free(obs *o)
{
    int i;
    for (i = 0; i < o->n; i++)
        free(o->a[i].data);
    o->n = 0;
}

/* Filler `idx` (named p) holds its two int64. 1 if so; 0 with *why. */
static int check_filler(npk_store *s, const char *p, long idx, char *why, size_t wn)
{
    npk_array_info info = NPK_ARRAY_INFO_INIT;
    int64_t got[2], want[2];
    const uint64_t shape[1] = {2};
    npk_status st;
    filler_values(idx, want);
    if ((st = npk_info(s, p, &info)) != NPK_OK) {
        snprintf(why, wn, "filler npk_info(%s): %s: %s", p, npk_status_str(st), npk_last_error());
        return 0;
    }
    if (info.dtype != NPK_INT64 || info.ndim != 1 || info.shape[0] != 2 ||
        info.physical_rows != 2) {
        snprintf(why, wn, "filler %s: dtype %d ndim %u rows %llu, want int64 (2,)", p, info.dtype,
                 info.ndim, (unsigned long long)info.shape[0]);
        return 0;
    }
    if ((st = npk_load(s, p, NPK_INT64, 1, shape, got, NULL)) != NPK_OK) {
        snprintf(why, wn, "filler npk_load(%s): %s: %s", p, npk_status_str(st), npk_last_error());
        return 0;
    }
    if (got[0] != want[0] || got[1] != want[1]) {
        snprintf(why, wn, "filler %s holds other values than it was saved with", p);
        return 0;
    }
    return 1;
}

/* Reads every array of the handle's snapshot. `deep`: also compare npk_view_open and
 * npk_get_rows (first and last row) with npk_load. Every filler must be listed; those whose
 * index is `fill_offset` modulo `fill_every` are loaded. 1 on success; 0 with *why on any
 * failure. */
static int observe(npk_store *s, obs *o, int deep, long fill_every, long fill_offset, char *why,
                   size_t wn)
{
    size_t cap = 1024 + (size_t)g_fillers * 16;
    char *names = (char *)xmalloc(cap);
    uint64_t needed = 0, count = 0, i;
    long fillers = 0;
    const char *p;
    npk_status st;
    int ok = 0;
    o->n = 0;
    if (!read_tag(s, NULL, &o->sattr, why, wn))
        goto out;
    st = npk_list(s, names, cap, &needed, &count);
    if (st != NPK_OK) {
        snprintf(why, wn, "npk_list: %s: %s", npk_status_str(st), npk_last_error());
        goto out;
    }
    if (count > 32 + (uint64_t)g_fillers) {
        snprintf(why, wn, "npk_list: %llu arrays", (unsigned long long)count);
        goto out;
    }
    for (i = 0, p = names; i < count; i++, p += strlen(p) + 1) {
        oarr *a = &o->a[o->n];
        uint64_t nelem = 1, esz, d;
        long fi = filler_index(p);
        if (fi >= 0) {
            /* npk_list is sorted and names are unique: counting them finds a missing one. */
            fillers++;
            if (fi % fill_every == fill_offset && !check_filler(s, p, fi, why, wn))
                goto out;
            continue;
        }
        if (o->n == 32) {
            snprintf(why, wn, "npk_list: more than 32 arrays besides the fillers");
            goto out;
        }
        snprintf(a->name, sizeof a->name, "%s", p);
        a->data = NULL;
        a->info.struct_size = sizeof a->info;
        if ((st = npk_info(s, p, &a->info)) != NPK_OK) {
            snprintf(why, wn, "npk_info(%s): %s: %s", p, npk_status_str(st), npk_last_error());
            goto out;
        }
        esz = npk_dtype_size(a->info.dtype);
        if (a->info.ndim > 2 || esz != 8) {
            snprintf(why, wn, "%s: dtype %d ndim %u is not a model layout", p, a->info.dtype,
                     a->info.ndim);
            goto out;
        }
        for (d = 0; d < a->info.ndim; d++)
            nelem *= a->info.shape[d];
        if (a->info.nbytes != nelem * 8) {
            snprintf(why, wn, "%s: npk_info nbytes %llu for %llu elements", p,
                     (unsigned long long)a->info.nbytes, (unsigned long long)nelem);
            goto out;
        }
        a->data = (uint64_t *)xmalloc((size_t)nelem * 8);
        o->n++;
        if (!read_tag(s, p, &a->attr, why, wn))
            goto out;
        if ((st = npk_load(s, p, a->info.dtype, a->info.ndim, a->info.shape, a->data, NULL)) !=
            NPK_OK) {
            snprintf(why, wn, "npk_load(%s): %s: %s", p, npk_status_str(st), npk_last_error());
            goto out;
        }
        if (deep) {
            npk_view v = NPK_VIEW_INIT;
            int same;
            uint64_t rows = a->info.ndim ? a->info.shape[0] : 1;
            if ((st = npk_view_open(s, p, &v)) != NPK_OK) {
                snprintf(why, wn, "npk_view_open(%s): %s: %s", p, npk_status_str(st),
                         npk_last_error());
                goto out;
            }
            same = v.dtype == a->info.dtype && v.ndim == a->info.ndim &&
                   v.nbytes == a->info.nbytes && v.shape[0] == a->info.shape[0] &&
                   (v.ndim < 2 || v.shape[1] == a->info.shape[1]) &&
                   (v.nbytes == 0 || memcmp(v.data, a->data, (size_t)v.nbytes) == 0);
            npk_view_release(&v);
            if (!same) {
                snprintf(why, wn, "%s: npk_view_open differs from npk_load", p);
                goto out;
            }
            if (rows > 0 && a->info.ndim >= 1) {
                const int64_t idx[2] = {0, -1};
                uint64_t shape[2], rowlen = nelem / rows;
                uint64_t got[6];
                shape[0] = 2;
                shape[1] = a->info.ndim == 2 ? a->info.shape[1] : 1;
                if ((st = npk_get_rows(s, p, idx, 2, a->info.dtype, a->info.ndim, shape, got,
                                       NULL)) != NPK_OK) {
                    snprintf(why, wn, "npk_get_rows(%s, [0,-1]): %s: %s", p, npk_status_str(st),
                             npk_last_error());
                    goto out;
                }
                if (memcmp(got, a->data, (size_t)rowlen * 8) != 0 ||
                    memcmp(got + rowlen, a->data + (rows - 1) * rowlen, (size_t)rowlen * 8) != 0) {
                    snprintf(why, wn, "%s: npk_get_rows([0,-1]) differs from npk_load", p);
                    goto out;
                }
            }
        }
    }
    if (fillers != g_fillers) {
        snprintf(why, wn, "npk_list shows %ld fillers, want %ld", fillers, g_fillers);
        goto out;
    }
    ok = 1;
out:
    free(names);
    return ok;
}

static int slot_of(const char *name)
{
    int i;
    for (i = 0; i < NSLOT; i++)
        if (strcmp(name, NAMES[i]) == 0)
            return i;
    return -1;
}

/* Does observed array `o` equal model array `m`? On a difference, *why says the first one. */
static int match_arr(const oarr *o, const marr *m, char *why, size_t wn)
{
    uint64_t r, c;
    if (o->info.dtype != m->dtype || o->info.ndim != m->ndim) {
        snprintf(why, wn, "dtype %d ndim %u, want dtype %d ndim %u", o->info.dtype, o->info.ndim,
                 m->dtype, m->ndim);
        return 0;
    }
    if (o->info.shape[0] != m->n || (m->ndim == 2 && o->info.shape[1] != m->cols)) {
        snprintf(why, wn, "shape (%llu,%llu), want (%llu,%llu)",
                 (unsigned long long)o->info.shape[0],
                 (unsigned long long)(m->ndim == 2 ? o->info.shape[1] : 1),
                 (unsigned long long)m->n, (unsigned long long)m->cols);
        return 0;
    }
    for (r = 0; r < m->n; r++)
        for (c = 0; c < m->cols; c++) {
            uint64_t got = o->data[r * m->cols + c], want = val_bits(m->dtype, m->ids[r], c);
            if (got != want) {
                char d[96];
                describe_bits(m->dtype, got, d, sizeof d);
                snprintf(why, wn, "row %llu col %llu holds %s, want row id %llu (of %llu rows)",
                         (unsigned long long)r, (unsigned long long)c, d,
                         (unsigned long long)m->ids[r], (unsigned long long)m->n);
                return 0;
            }
        }
    if (o->info.physical_rows != m->phys) {
        snprintf(why, wn, "physical_rows %llu, want %llu (contents equal)",
                 (unsigned long long)o->info.physical_rows, (unsigned long long)m->phys);
        return 0;
    }
    if (o->attr != m->attr) {
        snprintf(why, wn, "attribute tag %lld, want %lld (contents equal)", (long long)o->attr,
                 (long long)m->attr);
        return 0;
    }
    return 1;
}

/* Per slot: 1 if the observation equals the model there (both absent counts as equal), else 0
 * with why[slot]. Unknown names make the whole match fail. Returns 1 if every slot matches. */
static int match_state(const obs *o, const model *m, int res[NSLOT], char why[NSLOT][256],
                       char *extra, size_t en)
{
    int i, all = 1;
    extra[0] = '\0';
    for (i = 0; i < NSLOT; i++) {
        res[i] = !m->a[i].used;
        snprintf(why[i], 256, "%s", m->a[i].used ? "missing" : "");
    }
    for (i = 0; i < o->n; i++) {
        int sl = slot_of(o->a[i].name);
        if (sl < 0) {
            snprintf(extra, en, "unexpected array \"%s\"", o->a[i].name);
            all = 0;
            continue;
        }
        if (!m->a[sl].used) {
            res[sl] = 0;
            snprintf(why[sl], 256, "present, want absent");
        } else {
            res[sl] = match_arr(&o->a[i], &m->a[sl], why[sl], 256);
        }
    }
    for (i = 0; i < NSLOT; i++)
        all &= res[i];
    if (o->sattr != m->sattr) {
        snprintf(extra, en, "store attribute tag %lld, want %lld", (long long)o->sattr,
                 (long long)m->sattr);
        all = 0;
    }
    return all;
}

static void print_model(const char *label, const model *m)
{
    int i;
    fprintf(stderr, "    %s:", label);
    for (i = 0; i < NSLOT; i++)
        if (m->a[i].used)
            fprintf(stderr, " %s %s (%llu,%llu) phys %llu%s tag %lld;", NAMES[i],
                    m->a[i].dtype == NPK_INT64 ? "i8" : "f8", (unsigned long long)m->a[i].n,
                    (unsigned long long)m->a[i].cols, (unsigned long long)m->a[i].phys,
                    m->a[i].ndim == 1 ? " 1-D" : "", (long long)m->a[i].attr);
    fprintf(stderr, " store tag %lld\n", (long long)m->sattr);
}

static void print_obs(const char *label, const obs *o)
{
    int i;
    fprintf(stderr, "    %s:", label);
    for (i = 0; i < o->n; i++)
        fprintf(stderr, " %s dtype %d (%llu,%llu) phys %llu;", o->a[i].name, o->a[i].info.dtype,
                (unsigned long long)o->a[i].info.shape[0],
                (unsigned long long)(o->a[i].info.ndim == 2 ? o->a[i].info.shape[1] : 1),
                (unsigned long long)o->a[i].info.physical_rows);
    fputc('\n', stderr);
}

/* ---- fingerprints (the reader) ----------------------------------------------------------------*/

static uint64_t hstep(uint64_t h, uint64_t x)
{
    return mix64(h ^ x) + 0x2545f4914f6cdd1dull;
}

static uint64_t hash_header(int slot, npk_dtype dt, uint32_t ndim, uint64_t rows, uint64_t cols,
                            uint64_t phys)
{
    uint64_t h = hstep(0x1234567ull, (uint64_t)slot);
    h = hstep(h, (uint64_t)dt);
    h = hstep(h, ndim);
    h = hstep(h, rows);
    h = hstep(h, cols);
    return hstep(h, phys);
}

static uint64_t hash_marr(const marr *m, int slot)
{
    uint64_t h = hash_header(slot, m->dtype, m->ndim, m->n, m->cols, m->phys), r, c;
    h = hstep(h, (uint64_t)m->attr);
    for (r = 0; r < m->n; r++)
        for (c = 0; c < m->cols; c++)
            h = hstep(h, val_bits(m->dtype, m->ids[r], c));
    return h;
}

static uint64_t hash_oarr(const oarr *o, int slot)
{
    uint64_t cols = o->info.ndim == 2 ? o->info.shape[1] : 1, rows = o->info.shape[0], i;
    uint64_t h = hash_header(slot, o->info.dtype, o->info.ndim, rows, cols, o->info.physical_rows);
    h = hstep(h, (uint64_t)o->attr);
    for (i = 0; i < rows * cols; i++)
        h = hstep(h, o->data[i]);
    return h;
}

static uint64_t combine(const uint64_t per[NSLOT], const int used[NSLOT], int64_t sattr)
{
    uint64_t h = hstep(99, (uint64_t)sattr);
    int i;
    for (i = 0; i < NSLOT; i++)
        h = hstep(h, used[i] ? per[i] : 0);
    return h;
}

/* Slots an op may change (their hash is recomputed). */
static unsigned touched(const op_t *op)
{
    int i;
    unsigned t = 0;
    switch (op->kind) {
    case OP_COMPACT:
        return op->all ? (1u << NSLOT) - 1 : 1u << op->slot;
    case OP_BATCH:
        for (i = 0; i < op->nb; i++)
            t |= 1u << op->b[i].slot;
        return t;
    case OP_ATTR: /* the store's own tag is hashed apart from the slots */
        return op->slot >= 0 ? 1u << op->slot : 0;
    default:
        t = 1u << op->slot;
        if (op->slot2 >= 0)
            t |= 1u << op->slot2;
        return t;
    }
}

typedef struct {
    model cur;
    rng_t r;
    uint64_t per[NSLOT];
    uint64_t *h; /* h[j]: fingerprint of S_j */
    long nh, cap;
} history;

static void hist_push(history *H)
{
    int used[NSLOT], i;
    for (i = 0; i < NSLOT; i++)
        used[i] = H->cur.a[i].used;
    if (H->nh == H->cap) {
        H->cap = H->cap ? H->cap * 2 : 64;
        H->h = (uint64_t *)realloc(H->h, (size_t)H->cap * sizeof(uint64_t));
    }
    H->h[H->nh++] = combine(H->per, used, H->cur.sattr);
}

static void hist_init(history *H, const model *start, uint64_t seed)
{
    int i;
    memset(H, 0, sizeof *H);
    model_init(&H->cur);
    model_copy(&H->cur, start);
    H->r.s = seed;
    H->r.appends = appends_trial(seed);
    for (i = 0; i < NSLOT; i++)
        H->per[i] = H->cur.a[i].used ? hash_marr(&H->cur.a[i], i) : 0;
    hist_push(H);
}

/* Computes states up to S_j. */
static void hist_extend(history *H, long j)
{
    while (H->nh <= j) {
        op_t op;
        unsigned t;
        int i;
        gen_op(&H->cur, &H->r, &op);
        step(&H->cur, &op);
        t = op.kind == OP_BATCH && op.abort_batch ? 0 : touched(&op);
        for (i = 0; i < NSLOT; i++)
            if (t & (1u << i))
                H->per[i] = H->cur.a[i].used ? hash_marr(&H->cur.a[i], i) : 0;
        hist_push(H);
    }
}

/* The reader child: loops until told to stop, then checks once more and exits. */
static void run_reader(const char *dir, const model *start, uint64_t seed, uint64_t rseed)
{
    npk_store *s = NULL;
    history H;
    rng_t r;
    long last_j = 0, iter = 0, prev_j = -1;
    int stopping = 0;
    r.s = rseed;
    r.appends = 0;
    hist_init(&H, start, seed);
    if (npk_open(dir, NPK_OPEN_READ_ONLY, &s) != NPK_OK) {
        fprintf(stderr, "  reader: npk_open: %s\n", npk_last_error());
        g_sh->reader_violations++;
        _exit(1);
    }
    for (;; iter++) {
        int64_t d, started;
        npk_status st;
        obs o;
        char why[512];
        uint64_t per[NSLOT] = {0}, fp;
        int used[NSLOT] = {0}, i, ok;
        long lo, hi, j;
        if (!stopping && g_sh->stop)
            stopping = 1;
        BARRIER();
        d = g_sh->done;
        BARRIER();
        if (iter > 0 && below(&r, 8) == 0) {
            npk_close(s);
            s = NULL;
            st = npk_open(dir, NPK_OPEN_READ_ONLY, &s);
            g_sh->reader_reopens++;
        } else {
            st = npk_refresh(s);
        }
        if (st != NPK_OK) {
            fprintf(stderr, "  reader: %s: %s: %s\n", s ? "npk_refresh" : "npk_open",
                    npk_status_str(st), npk_last_error());
            g_sh->reader_violations++;
            _exit(1);
        }
        ok = observe(s, &o, below(&r, 4) == 0, READER_FILLER_STRIDE, iter % READER_FILLER_STRIDE,
                     why, sizeof why);
        BARRIER();
        started = g_sh->started;
        if (!ok) {
            fprintf(stderr, "  reader: snapshot %ld: %s\n", iter, why);
            g_sh->reader_violations++;
            obs_free(&o);
            npk_close(s);
            _exit(1);
        }
        ok = 1;
        for (i = 0; i < o.n; i++) {
            int sl = slot_of(o.a[i].name);
            if (sl < 0) {
                ok = 0;
                break;
            }
            used[sl] = 1;
            per[sl] = hash_oarr(&o.a[i], sl);
        }
        fp = combine(per, used, o.sattr);
        lo = last_j > d + 1 ? last_j : (long)(d + 1);
        hi = (long)started + 1;
        hist_extend(&H, hi);
        for (j = lo; ok && j <= hi; j++)
            if (H.h[j] == fp)
                break;
        if (!ok || j > hi) {
            /* Which state is it, if any? For the message. */
            long any = -1;
            hist_extend(&H, hi + 1);
            for (j = 0; j < H.nh; j++)
                if (H.h[j] == fp)
                    any = j;
            fprintf(stderr,
                    "  reader: snapshot %ld is not a state S_j with %ld <= j <= %ld (last op "
                    "done %lld, started %lld); %s S_%ld\n",
                    iter, lo, hi, (long long)d, (long long)started,
                    any < 0 ? "it is no state of the history up to" : "it equals",
                    any < 0 ? H.nh - 1 : any);
            print_obs("reader saw", &o);
            print_model("model S_hi", &H.cur);
            g_sh->reader_violations++;
            obs_free(&o);
            npk_close(s);
            _exit(1);
        }
        obs_free(&o);
        g_sh->reader_checks++;
        if (j != prev_j)
            g_sh->reader_distinct++;
        if (j > g_sh->reader_max_j)
            g_sh->reader_max_j = j;
        prev_j = j;
        last_j = j;
        if (stopping)
            break;
    }
    npk_close(s);
    _exit(0);
}

/* ---- negative controls: the comparisons can fail ----------------------------------------------*/

/* Observation of model array `m` as slot `slot`, as observe() would build it. */
static void obs_add(obs *o, const model *m, int slot)
{
    oarr *a = &o->a[o->n++];
    const marr *x = &m->a[slot];
    memset(a, 0, sizeof *a);
    snprintf(a->name, sizeof a->name, "%s", NAMES[slot]);
    a->info.dtype = x->dtype;
    a->info.ndim = x->ndim;
    a->info.shape[0] = x->n;
    a->info.shape[1] = x->ndim == 2 ? x->cols : 0;
    a->info.nbytes = x->n * x->cols * 8;
    a->info.physical_rows = x->phys;
    a->data = (uint64_t *)materialize(x, 0, x->n);
    a->attr = x->attr;
    o->sattr = m->sattr;
}

static uint64_t fp_obs(const obs *o)
{
    uint64_t per[NSLOT] = {0};
    int used[NSLOT] = {0}, i;
    for (i = 0; i < o->n; i++) {
        int sl = slot_of(o->a[i].name);
        used[sl] = 1;
        per[sl] = hash_oarr(&o->a[i], sl);
    }
    return combine(per, used, o->sattr);
}

static uint64_t fp_model(const model *m)
{
    uint64_t per[NSLOT] = {0};
    int used[NSLOT] = {0}, i;
    for (i = 0; i < NSLOT; i++)
        if ((used[i] = m->a[i].used) != 0)
            per[i] = hash_marr(&m->a[i], i);
    return combine(per, used, m->sattr);
}

/* A mixture of two states of a batch, a torn row and a resurrected dropped row must match
 * neither state, for the parent's comparison and for the reader's fingerprints. */
static void selftest(void)
{
    model A, B, C;
    op_t op;
    obs o;
    int resA[NSLOT], resB[NSLOT];
    char whyA[NSLOT][256], whyB[NSLOT][256], extra[256];
    SECTION("self-test of the comparisons");
    model_init(&A);
    model_init(&B);
    model_init(&C);
    set_new_array(&A, 0, NPK_INT64, 2, 3, 5);
    set_new_array(&A, 1, NPK_FLOAT64, 1, 1, 4);
    memset(&op, 0, sizeof op);
    op.kind = OP_BATCH; /* a0: row 2 changed through the view; a1: two rows longer */
    op.nb = 2;
    op.b[0].slot = 0;
    op.b[0].action = BA_VIEW;
    op.b[0].nrep = 1;
    op.b[0].rep[0] = 2;
    op.b[1].slot = 1;
    op.b[1].action = BA_GROW;
    op.b[1].rows = 2;
    model_copy(&B, &A);
    step(&B, &op);

    /* Positive controls: each state matches itself, and its fingerprint. */
    o.n = 0;
    obs_add(&o, &A, 0);
    obs_add(&o, &A, 1);
    CHECK(match_state(&o, &A, resA, whyA, extra, sizeof extra));
    CHECK(!match_state(&o, &B, resB, whyB, extra, sizeof extra));
    CHECK(fp_obs(&o) == fp_model(&A) && fp_obs(&o) != fp_model(&B));
    obs_free(&o);

    /* A mixture: a0 new, a1 old. */
    obs_add(&o, &B, 0);
    obs_add(&o, &A, 1);
    CHECK(!match_state(&o, &A, resA, whyA, extra, sizeof extra));
    CHECK(!match_state(&o, &B, resB, whyB, extra, sizeof extra));
    CHECK(!resA[0] && resB[0] && resA[1] && !resB[1]);
    CHECK(fp_obs(&o) != fp_model(&A) && fp_obs(&o) != fp_model(&B));
    obs_free(&o);

    /* A torn row: new state, one element of a0 old. */
    obs_add(&o, &B, 0);
    obs_add(&o, &B, 1);
    o.a[0].data[2 * 3 + 1] = val_bits(NPK_INT64, A.a[0].ids[2], 1);
    CHECK(!match_state(&o, &A, resA, whyA, extra, sizeof extra));
    CHECK(!match_state(&o, &B, resB, whyB, extra, sizeof extra));
    CHECK(strstr(whyB[0], "row 2 col 1") != NULL);
    CHECK(fp_obs(&o) != fp_model(&A) && fp_obs(&o) != fp_model(&B));
    obs_free(&o);

    /* A dropped row back: C is A without row 1 of a0; the store shows row 1 instead of row 4. */
    memset(&op, 0, sizeof op);
    op.kind = OP_DROP_ROWS;
    op.slot = 0;
    op.slot2 = -1;
    op.nidx = 1;
    op.idx[0] = 1;
    model_copy(&C, &A);
    step(&C, &op);
    obs_add(&o, &C, 0);
    obs_add(&o, &C, 1);
    CHECK(match_state(&o, &C, resA, whyA, extra, sizeof extra));
    o.a[0].data[3 * 3 + 0] = val_bits(NPK_INT64, A.a[0].ids[1], 0);
    CHECK(!match_state(&o, &C, resA, whyA, extra, sizeof extra));
    CHECK(!match_state(&o, &A, resB, whyB, extra, sizeof extra));
    CHECK(fp_obs(&o) != fp_model(&C) && fp_obs(&o) != fp_model(&A));
    obs_free(&o);

    /* Attributes of another commit: B's arrays with A's store tag, then with a0's tag of A. */
    CHECK(A.sattr != B.sattr);
    obs_add(&o, &B, 0);
    obs_add(&o, &B, 1);
    CHECK(match_state(&o, &B, resB, whyB, extra, sizeof extra));
    o.sattr = A.sattr;
    CHECK(!match_state(&o, &A, resA, whyA, extra, sizeof extra));
    CHECK(!match_state(&o, &B, resB, whyB, extra, sizeof extra));
    CHECK(strstr(extra, "store attribute tag") != NULL);
    CHECK(fp_obs(&o) != fp_model(&A) && fp_obs(&o) != fp_model(&B));
    o.sattr = B.sattr;
    o.a[0].attr = B.a[0].attr + 1;
    CHECK(!match_state(&o, &B, resB, whyB, extra, sizeof extra));
    CHECK(strstr(whyB[0], "attribute tag") != NULL);
    CHECK(fp_obs(&o) != fp_model(&B));
    obs_free(&o);
    model_free(&A);
    model_free(&B);
    model_free(&C);
}

/* ---- the campaign -----------------------------------------------------------------------------*/

typedef struct {
    long old_[OP_KINDS], new_[OP_KINDS], same[OP_KINDS], returned[OP_KINDS];
    long append_trials;
    long before_first, finished, ops, durable, reader_trials, reader_checks, reader_distinct,
        reader_reopens, lock_probes, npk_checks, records, big_in_flight, mixed, torn, lost,
        orphans;
} stats;

static int leftovers(const char *dir, int after_writer_close, char *out, size_t n)
{
    char *listing = dir_listing(dir);
    int bad = strstr(listing, ".npk-stage-") != NULL || strstr(listing, ".npk.commit") != NULL ||
              (after_writer_close && strstr(listing, ".npk-spare-") != NULL);
    snprintf(out, n, "%s", listing);
    free(listing);
    return bad;
}

/* Every data file is as long as its rows (exact after a writer's recovery, at least before). */
static int data_files_ok(const char *dir, const model *m, int exact, char *why, size_t wn)
{
    int i;
    for (i = 0; i < NSLOT; i++) {
        char fname[64];
        long long size, want;
        if (!m->a[i].used)
            continue;
        snprintf(fname, sizeof fname, "data_%s.npkd", NAMES[i]);
        size = file_size(path_in(dir, fname));
        want = (long long)(m->a[i].phys * m->a[i].cols * 8);
        if (exact ? size != want : size < want) {
            snprintf(why, wn, "%s is %lld bytes, want %s%lld (physical rows %llu x %llu x 8)",
                     fname, size, exact ? "" : ">= ", want, (unsigned long long)m->a[i].phys,
                     (unsigned long long)m->a[i].cols);
            return 0;
        }
    }
    return 1;
}

static int run_npk_check(const char *dir)
{
    char cmd[8400];
    int rc;
    snprintf(cmd, sizeof cmd, "'%s' check '%s' >/dev/null 2>&1", NPK_BIN, dir);
    rc = system(cmd);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

/* Roughly how many data bytes the op writes. */
static uint64_t op_bytes(const model *m, const op_t *op)
{
    uint64_t b = 0;
    int i;
    switch (op->kind) {
    case OP_SAVE_NEW:
    case OP_SAVE_OVER:
    case OP_APPEND:
        return op->rows * (op->kind == OP_APPEND ? m->a[op->slot].cols : op->cols) * 8;
    case OP_COMPACT:
        for (i = 0; i < NSLOT; i++)
            if (m->a[i].used && (op->all || i == op->slot) && m->a[i].phys != m->a[i].n)
                b += m->a[i].n * m->a[i].cols * 8;
        return b;
    case OP_CLONE:
        return m->a[op->slot].n * m->a[op->slot].cols * 8;
    case OP_BATCH:
        for (i = 0; i < op->nb; i++) {
            const bent *e = &op->b[i];
            const marr *a = &m->a[e->slot];
            if (e->action == BA_VIEW)
                b += a->n * a->cols * 8;
            else if (e->action == BA_GROW)
                b += (a->n + e->rows) * a->cols * 8;
            else if (e->action != BA_UNSAVED)
                b += e->rows * e->cols * 8;
        }
        return b;
    default:
        return 0;
    }
}

/* One trial from `*cur`; on success *cur becomes the observed state. Returns 0 when the store no
 * longer matches the model (the campaign cannot continue). */
static int trial(const char *dir, long t, uint64_t base_seed, model *cur, stats *S)
{
    uint64_t tseed = mix64(base_seed * 1000003u + (uint64_t)t);
    rng_t tr;
    uint32_t flags;
    int with_reader, probe_lock, status = 0, rstatus = 0, okA, okB, resA[NSLOT], resB[NSLOT], i;
    long delay_us, k, pause_us;
    int kill_in_open;
    pid_t wpid, rpid = -1;
    model A, B;
    op_t op;
    obs o;
    char whyA[NSLOT][256], whyB[NSLOT][256], extra[256], why[1024], desc[600];
    const model *chosen;
    int went_new, ret, record;
    npk_store *s = NULL;

    tr.s = tseed ^ 0x5bd1e995u;
    tr.appends = 0;
    flags = below(&tr, 6) == 0 ? NPK_OPEN_DURABLE : 0;
    pause_us = below(&tr, 4) == 0 ? 500 : 0;
    with_reader = t % 2 == 1;
    probe_lock = t % 3 == 0;
    {
        uint64_t x = below(&tr, 100);
        kill_in_open = x < 10;
        if (x < 10)
            delay_us = (long)below(&tr, 2000);
        else if (x < 80)
            delay_us = (long)below(&tr, 30000);
        else
            delay_us = 30000 + (long)below(&tr, 90000);
        /* An append trial's ops are short: a kill within a few ms lands among the first ones. */
        if (appends_trial(tseed)) {
            delay_us = (long)below(&tr, 4000);
            kill_in_open = 0;
        }
    }
    S->append_trials += appends_trial(tseed);
    S->durable += flags != 0;

    memset((void *)g_sh, 0, sizeof *g_sh);
    g_sh->started = -1;
    g_sh->done = -1;
    BARRIER();
    fflush(stdout);
    fflush(stderr);
    if (with_reader) {
        rpid = fork();
        if (rpid < 0) {
            perror("fork");
            exit(2);
        }
        if (rpid == 0)
            run_reader(dir, cur, tseed, tseed ^ 0xabcdefu);
        S->reader_trials++;
    }
    wpid = fork();
    if (wpid < 0) {
        perror("fork");
        exit(2);
    }
    if (wpid == 0)
        run_writer(dir, cur, tseed, flags, pause_us);
    if (!kill_in_open) {
        /* The delay counts from the end of the writer's open, whose length grows with the
         * fillers; the shortest delays (10% of other than append trials) still kill it during
         * its open. */
        double give_up = now_s() + 120;
        for (;;) {
            siginfo_t info;
            BARRIER();
            if (g_sh->opened || now_s() > give_up)
                break;
            memset(&info, 0, sizeof info);
            if (waitid(P_PID, (id_t)wpid, &info, WEXITED | WNOHANG | WNOWAIT) == 0 &&
                info.si_pid == wpid)
                break;
            sleep_us(100);
        }
    }
    sleep_us(delay_us);

    /* A second writer, in this process, while the child writer holds the lock. */
    if (probe_lock) {
        BARRIER();
        if (g_sh->started >= 0 && waitpid(wpid, &status, WNOHANG) == 0) {
            npk_store *w2 = (npk_store *)0x1;
            SECTION("second writer while the writer child works");
            if (!CHECK_ERR(npk_open(dir, 0, &w2), NPK_LOCKED, dir))
                fprintf(stderr, "    trial %ld (seed %#llx)\n", t, (unsigned long long)tseed);
            CHECK(w2 == (npk_store *)0x1);
            if (w2 != (npk_store *)0x1)
                npk_close(w2);
            S->lock_probes++;
        }
    }
    kill(wpid, SIGKILL);
    waitpid(wpid, &status, 0);
    BARRIER();
    g_sh->stop = 1;
    BARRIER();
    if (rpid > 0) {
        waitpid(rpid, &rstatus, 0);
        SECTION("reader during the writer's commits");
        CHECK_MSG(WIFEXITED(rstatus) && WEXITSTATUS(rstatus) == 0 && g_sh->reader_violations == 0,
                  "trial %ld (seed %#llx): reader status %#x, %lld violations", t,
                  (unsigned long long)tseed, rstatus, (long long)g_sh->reader_violations);
        S->reader_checks += (long)g_sh->reader_checks;
        S->reader_distinct += (long)g_sh->reader_distinct;
        S->reader_reopens += (long)g_sh->reader_reopens;
    }

    SECTION("killed writer");
    if (!CHECK_MSG(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
                   "trial %ld (seed %#llx): writer status %#x: %s", t, (unsigned long long)tseed,
                   status, g_sh->msg[0] ? g_sh->msg : "(no message)"))
        return 0;

    k = (long)g_sh->started;
    ret = g_sh->done == g_sh->started && k >= 0;
    S->ops += ret ? k + 1 : k;
    model_init(&A);
    model_init(&B);
    replay(cur, tseed, k, &A, &B, &op);
    if (k >= 0)
        op_desc(&op, desc, sizeof desc);
    else
        snprintf(desc, sizeof desc, "(killed before the first op)");

    /* 1. Read-only open: no recovery, exactly A or B. */
    SECTION("read-only open after the kill");
    if (!CHECK_OK(npk_open(dir, NPK_OPEN_READ_ONLY, &s))) {
        fprintf(stderr, "    trial %ld (seed %#llx) op %ld %s\n", t, (unsigned long long)tseed, k,
                desc);
        model_free(&A);
        model_free(&B);
        return 0;
    }
    if (!CHECK_MSG(observe(s, &o, 1, 1, 0, why, sizeof why), "trial %ld (seed %#llx) op %ld %s: %s", t,
                   (unsigned long long)tseed, k, desc, why)) {
        obs_free(&o);
        npk_close(s);
        model_free(&A);
        model_free(&B);
        return 0;
    }
    npk_close(s);
    okA = match_state(&o, &A, resA, whyA, extra, sizeof extra);
    okB = match_state(&o, &B, resB, whyB, extra, sizeof extra);
    if (!CHECK_MSG(ret ? okB : okA || okB,
                   "trial %ld (seed %#llx): killed %s op %ld: %s; the store is %s", t,
                   (unsigned long long)tseed, ret ? "after" : "during", k, desc,
                   ret ? "not the new state" : "neither the old nor the new state")) {
        int mixed = 1;
        for (i = 0; i < NSLOT; i++) {
            if (!resA[i] || !resB[i])
                fprintf(stderr, "    %s: vs old: %s; vs new: %s\n", NAMES[i],
                        resA[i] ? "equal" : whyA[i], resB[i] ? "equal" : whyB[i]);
            mixed &= resA[i] || resB[i];
        }
        if (extra[0])
            fprintf(stderr, "    %s\n", extra);
        if (okA) {
            S->lost++;
            fprintf(stderr, "    LOST: the store shows the state before an op that returned\n");
        } else if (mixed && !extra[0]) {
            S->mixed++;
            fprintf(stderr, "    MIXED: every array is old or new, but not all the same\n");
        } else {
            S->torn++;
            fprintf(stderr, "    an array is neither old nor new\n");
        }
        print_obs("store", &o);
        print_model("old", &A);
        print_model("new", &B);
        fprintf(stderr, "    store kept at %s\n", dir);
        obs_free(&o);
        model_free(&A);
        model_free(&B);
        return 0;
    }
    obs_free(&o);
    went_new = !okA;
    chosen = okA ? &A : &B;
    /* With a commit record on disk, readers read the record's staged files, and the data files
     * are renamed only by the next writer; otherwise each holds at least its rows. */
    record = path_exists(path_in(dir, ".npk.commit"));
    S->records += record;
    if (!record)
        CHECK_MSG(data_files_ok(dir, chosen, 0, why, sizeof why), "trial %ld op %ld %s: %s", t,
                  k, desc, why);

    /* 2. Writer open (recovery): the same state; after close, no leftovers. */
    SECTION("writer open after the kill");
    if (!CHECK_OK(npk_open(dir, 0, &s))) {
        model_free(&A);
        model_free(&B);
        return 0;
    }
    if (!CHECK_MSG(observe(s, &o, 1, 1, 0, why, sizeof why), "trial %ld (seed %#llx) op %ld %s: %s", t,
                   (unsigned long long)tseed, k, desc, why)) {
        obs_free(&o);
        npk_close(s);
        model_free(&A);
        model_free(&B);
        return 0;
    }
    okA = match_state(&o, chosen, resA, whyA, extra, sizeof extra);
    if (!CHECK_MSG(okA, "trial %ld (seed %#llx) op %ld %s: the writer open shows another state "
                        "than the read-only open (%s)",
                   t, (unsigned long long)tseed, k, desc, went_new ? "new" : "old")) {
        for (i = 0; i < NSLOT; i++)
            if (!resA[i])
                fprintf(stderr, "    %s: %s\n", NAMES[i], whyA[i]);
        obs_free(&o);
        npk_close(s);
        model_free(&A);
        model_free(&B);
        return 0;
    }
    obs_free(&o);
    CHECK_OK(npk_close(s));
    SECTION("store after the recovering writer closed");
    CHECK_MSG(!leftovers(dir, 1, why, sizeof why), "trial %ld op %ld %s: leftover files:\n%s", t,
              k, desc, why);
    CHECK_MSG(data_files_ok(dir, chosen, 1, why, sizeof why), "trial %ld op %ld %s: %s", t, k,
              desc, why);
    /* Orphans: data files of arrays the state lacks. A new array's data file is written under
     * its own name before the catalogue names it, and a drop unlinks its file after the catalogue
     * drops it, so a kill in flight may leave one, which nothing reads and the name's next save
     * replaces. A new orphan must be a name the op in flight creates or drops. */
    {
        static unsigned prev_orphans;
        unsigned orphans = 0, fresh;
        for (i = 0; i < NSLOT; i++) {
            char fname[64];
            snprintf(fname, sizeof fname, "data_%s.npkd", NAMES[i]);
            if (!chosen->a[i].used && path_exists(path_in(dir, fname)))
                orphans |= 1u << i;
        }
        fresh = orphans & ~prev_orphans;
        prev_orphans = orphans;
        if (fresh) {
            int may = k >= 0 && !ret &&
                      (op.kind == OP_SAVE_NEW || op.kind == OP_CLONE || op.kind == OP_DROP ||
                       op.kind == OP_BATCH);
            S->orphans++;
            CHECK_MSG(may && (fresh & ~touched(&op)) == 0,
                      "trial %ld op %ld %s: orphan data file(s) (slots %#x) the op cannot leave", t,
                      k, desc, fresh);
        }
    }
    if (t % CHECK_EVERY == CHECK_EVERY - 1) {
        int rc = run_npk_check(dir);
        CHECK_MSG(rc == 0, "trial %ld: npk check %s exited %d", t, dir, rc);
        S->npk_checks++;
    }

    if (k >= 0 && !ret && op_bytes(&A, &op) >= (1u << 20))
        S->big_in_flight++;
    if (k < 0)
        S->before_first++;
    else if (ret)
        S->returned[op.kind]++;
    else if (model_equal(&A, &B))
        S->same[op.kind]++;
    else if (went_new)
        S->new_[op.kind]++;
    else
        S->old_[op.kind]++;
    model_copy(cur, chosen);
    model_free(&A);
    model_free(&B);
    return 1;
}

/* Trials whose kill landed inside an op that changes the store, by what the store then showed. */
static void in_flight_totals(const stats *S, long *old_total, long *new_total)
{
    int k;
    *old_total = *new_total = 0;
    for (k = 0; k < OP_KINDS; k++) {
        *old_total += S->old_[k];
        *new_total += S->new_[k];
    }
}

/* The coverage check wants kills that resolved both ways. They land where the random delays
 * put them, and on a machine busy enough that no delay hit an op, more trials (from the same
 * seed) are run rather than failing; the bound only guards against a hang. */
static int need_more_trials(long t, long trials, const stats *S)
{
    long old_total, new_total;
    if (t < trials)
        return 1;
    in_flight_totals(S, &old_total, &new_total);
    return trials >= 40 && (old_total == 0 || new_total == 0) && t < trials + 500;
}

int main(int argc, char **argv)
{
    long trials = argc > 1 ? strtol(argv[1], NULL, 0) : DEFAULT_TRIALS, t;
    uint64_t seed = argc > 2 ? strtoull(argv[2], NULL, 0) : 1;
    char *tmp;
    char dir[4096];
    model cur;
    stats S;
    double t0;
    int k, ok = 1;
    long old_total, new_total;

    if (argc > 3)
        g_fillers = strtol(argv[3], NULL, 0);
    check_begin(argv[0]);
    selftest();
    tmp = make_tmpdir(NULL);
    snprintf(dir, sizeof dir, "%s/store", tmp);
    g_sh = (shared_t *)mmap(NULL, sizeof(shared_t), PROT_READ | PROT_WRITE,
                            MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (g_sh == MAP_FAILED) {
        perror("mmap");
        return 2;
    }
    memset(&S, 0, sizeof S);
    model_init(&cur);
    {
        npk_store *s = NULL;
        npk_batch *b = NULL;
        long i;
        SECTION("create");
        if (!CHECK_OK(npk_open(dir, NPK_OPEN_CREATE, &s)))
            return check_end();
        if (!CHECK_OK(npk_batch_begin(s, 0, &b)))
            return check_end();
        for (i = 0; i < g_fillers; i++) {
            char name[64];
            int64_t v[2];
            const uint64_t shape[1] = {2};
            filler_name(i, name, sizeof name);
            filler_values(i, v);
            if (!CHECK_OK(npk_batch_save(b, name, NPK_INT64, 1, shape, v, NULL)))
                return check_end();
        }
        CHECK_OK(npk_batch_end(b));
        CHECK_OK(npk_close(s));
    }
    printf("crash_campaign: %ld trials, seed %llu, %ld fillers, store %s\n", trials,
           (unsigned long long)seed, g_fillers, dir);
    t0 = now_s();
    for (t = 0; ok && need_more_trials(t, trials, &S); t++)
        ok = trial(dir, t, seed, &cur, &S);
    if (ok) {
        int rc = run_npk_check(dir);
        SECTION("final npk check");
        CHECK_MSG(rc == 0, "npk check %s exited %d", dir, rc);
        S.npk_checks++;
    }

    printf("crash_campaign: %ld trials (%ld asked for) in %.1f s (seed %llu), %ld ops run by the "
           "killed writers (%ld trials durable, %ld append trials)\n",
           t, trials, now_s() - t0, (unsigned long long)seed, S.ops, S.durable, S.append_trials);
    printf("  killed before the first op: %ld; with the op in flight writing >= 1 MiB: %ld; "
           "commit record found after the kill (rolled forward by the writer open): %ld; "
           "orphan data files left by an op in flight (a new array's before its commit, a "
           "dropped one's after): %ld\n",
           S.before_first, S.big_in_flight, S.records, S.orphans);
    printf("  %-10s %6s %6s %6s %9s\n", "op", "old", "new", "same", "returned");
    for (k = 0; k < OP_KINDS; k++)
        printf("  %-10s %6ld %6ld %6ld %9ld\n", OP_NAMES[k], S.old_[k], S.new_[k], S.same[k],
               S.returned[k]);
    in_flight_totals(&S, &old_total, &new_total);
    printf("  (old/new: killed with the op in flight and the store showed the state before/after "
           "it, never a mixture; same: the op changes nothing visible; returned: killed after the "
           "op returned, the new state was required)\n");
    printf("  in flight: %ld old, %ld new, %ld mixed, %ld neither; returned but lost: %ld; "
           "readers: %ld trials, %ld "
           "snapshots checked (%ld distinct, %ld fresh opens); second-writer probes refused: "
           "%ld; npk check runs: %ld\n",
           old_total, new_total, S.mixed, S.torn, S.lost, S.reader_trials, S.reader_checks,
           S.reader_distinct, S.reader_reopens, S.lock_probes, S.npk_checks);
    SECTION("coverage");
    if (ok && trials >= 40) {
        CHECK_MSG(old_total > 0 && new_total > 0,
                  "kills never resolved both ways (%ld old, %ld new)", old_total, new_total);
        CHECK_MSG(S.reader_checks > 0, "the readers checked no snapshot");
    }
    model_free(&cur);
    if (check_failed_ == 0)
        remove_tree(tmp);
    else
        fprintf(stderr, "crash_campaign: store kept in %s\n", tmp);
    free(tmp);
    return check_end();
}
