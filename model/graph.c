/*
 * The resource graph and its scheduler. See graph.h.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dsvmops/error.h"
#include "graph.h"

typedef struct {
    size_t *items;
    size_t n;
    size_t cap;
} idx_list;

typedef struct {
    json_t *res;
    const char *id;
    idx_list deps;  /* what this node needs */
    idx_list rdeps; /* what needs this node */
} node;

struct dsvm_graph {
    node *nodes;
    size_t n;
    json_t *index; /* lower-cased ID -> node index */
};

struct dsvm_sched {
    const dsvm_graph *g;
    int reverse;
    dsvm_node_state *state;
    size_t *waiting; /* unfinished prerequisites per node */
    size_t *queue;   /* ready nodes, FIFO */
    size_t head, tail;
    size_t open; /* nodes pending or running */
};

static int idx_push(idx_list *l, size_t v)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 4;
        size_t *p = realloc(l->items, cap * sizeof(*p));

        if (!p)
            return DSVM_ENOMEM;
        l->items = p;
        l->cap = cap;
    }
    l->items[l->n++] = v;
    return 0;
}

static char *lower_dup(const char *s)
{
    char *d = strdup(s), *p;

    for (p = d; p && *p; p++)
        *p = (char)tolower((unsigned char)*p);
    return d;
}

int dsvm_graph_find(size_t *out, const dsvm_graph *graph, const char *id)
{
    char *key = lower_dup(id);
    json_t *v;

    if (!key)
        return dsvm_error_oom();
    v = json_object_get(graph->index, key);
    free(key);
    if (!v)
        return DSVM_ENOTFOUND;
    *out = (size_t)json_integer_value(v);
    return 0;
}

/* Name one cycle among the nodes Kahn's algorithm could not order: walk
 * unordered dependencies from any such node until a node repeats. */
static void report_cycle(const dsvm_graph *g, const size_t *indeg)
{
    size_t start = 0, i, cur, steps;
    char *seen = calloc(g->n, 1);

    while (start < g->n && indeg[start] == 0)
        start++;
    if (!seen || start == g->n) {
        free(seen);
        dsvm_error_set(DSVM_ERRCLASS_MANIFEST, "dependency cycle among resources");
        return;
    }
    cur = start;
    for (steps = 0; steps < g->n && !seen[cur]; steps++) {
        seen[cur] = 1;
        for (i = 0; i < g->nodes[cur].deps.n; i++) {
            size_t d = g->nodes[cur].deps.items[i];

            if (indeg[d] > 0) {
                cur = d;
                break;
            }
        }
    }
    free(seen);
    dsvm_error_set(DSVM_ERRCLASS_MANIFEST,
                   "dependency cycle through %s; break it by removing a reference or a "
                   "dependsOn entry",
                   g->nodes[cur].id);
}

/* Kahn's algorithm over "deps": refuse the graph when some node can never
 * be ordered. */
static int check_acyclic(const dsvm_graph *g)
{
    size_t *indeg = calloc(g->n ? g->n : 1, sizeof(size_t));
    size_t *queue = calloc(g->n ? g->n : 1, sizeof(size_t));
    size_t head = 0, tail = 0, i, j, done = 0;
    int rc = 0;

    if (!indeg || !queue) {
        free(indeg);
        free(queue);
        return dsvm_error_oom();
    }
    for (i = 0; i < g->n; i++) {
        indeg[i] = g->nodes[i].deps.n;
        if (indeg[i] == 0)
            queue[tail++] = i;
    }
    while (head < tail) {
        const node *nd = &g->nodes[queue[head++]];

        done++;
        for (j = 0; j < nd->rdeps.n; j++)
            if (--indeg[nd->rdeps.items[j]] == 0)
                queue[tail++] = nd->rdeps.items[j];
    }
    if (done != g->n) {
        report_cycle(g, indeg);
        rc = DSVM_EINVALID;
    }
    free(indeg);
    free(queue);
    return rc;
}

static int add_nodes(dsvm_graph *g, const json_t *resources)
{
    size_t i;

    for (i = 0; i < g->n; i++) {
        json_t *res = json_array_get(resources, i);
        const char *id = json_string_value(json_object_get(res, "id"));
        char *key;
        int rc;

        if (!id) {
            dsvm_error_set(DSVM_ERRCLASS_PROVIDER, "resource %zu has no id", i);
            return DSVM_EINVALID;
        }
        key = lower_dup(id);
        if (!key)
            return dsvm_error_oom();
        if (json_object_get(g->index, key)) {
            dsvm_error_set(DSVM_ERRCLASS_MANIFEST,
                           "two objects produce the same resource %s; rename one of them", id);
            free(key);
            return DSVM_EINVALID;
        }
        rc = json_object_set_new(g->index, key, json_integer((json_int_t)i));
        free(key);
        if (rc < 0)
            return dsvm_error_oom();
        g->nodes[i].res = json_incref(res);
        g->nodes[i].id = id;
    }
    return 0;
}

static int add_edges(dsvm_graph *g)
{
    size_t i, j;

    for (i = 0; i < g->n; i++) {
        json_t *deps = json_object_get(g->nodes[i].res, "dependsOn");

        for (j = 0; j < json_array_size(deps); j++) {
            const char *dep = json_string_value(json_array_get(deps, j));
            size_t d = 0;
            int rc;

            if (!dep)
                continue;
            rc = dsvm_graph_find(&d, g, dep);
            if (rc == DSVM_ENOTFOUND)
                continue;
            if (rc < 0)
                return rc;
            if (d == i) {
                dsvm_error_set(DSVM_ERRCLASS_MANIFEST, "%s depends on itself", g->nodes[i].id);
                return DSVM_EINVALID;
            }
            if (idx_push(&g->nodes[i].deps, d) < 0 || idx_push(&g->nodes[d].rdeps, i) < 0)
                return dsvm_error_oom();
        }
    }
    return 0;
}

int dsvm_graph_new(dsvm_graph **out, const json_t *resources)
{
    dsvm_graph *g = calloc(1, sizeof(*g));
    int rc;

    if (!g)
        return dsvm_error_oom();
    g->n = json_array_size(resources);
    g->nodes = calloc(g->n ? g->n : 1, sizeof(node));
    g->index = json_object();
    if (!g->nodes || !g->index) {
        dsvm_graph_free(g);
        return dsvm_error_oom();
    }
    rc = add_nodes(g, resources);
    if (rc == 0)
        rc = add_edges(g);
    if (rc == 0)
        rc = check_acyclic(g);
    if (rc < 0) {
        dsvm_graph_free(g);
        return rc;
    }
    *out = g;
    return 0;
}

void dsvm_graph_free(dsvm_graph *graph)
{
    size_t i;

    if (!graph)
        return;
    for (i = 0; graph->nodes && i < graph->n; i++) {
        json_decref(graph->nodes[i].res);
        free(graph->nodes[i].deps.items);
        free(graph->nodes[i].rdeps.items);
    }
    free(graph->nodes);
    json_decref(graph->index);
    free(graph);
}

size_t dsvm_graph_size(const dsvm_graph *graph)
{
    return graph->n;
}

const json_t *dsvm_graph_resource(const dsvm_graph *graph, size_t i)
{
    return i < graph->n ? graph->nodes[i].res : NULL;
}

void dsvm_graph_closure(const dsvm_graph *graph, size_t i, unsigned char *selected)
{
    size_t j;

    if (selected[i])
        return;
    selected[i] = 1;
    for (j = 0; j < graph->nodes[i].deps.n; j++)
        dsvm_graph_closure(graph, graph->nodes[i].deps.items[j], selected);
}

size_t dsvm_graph_depth(const dsvm_graph *graph)
{
    dsvm_sched *s = NULL;
    size_t *depth, best = 0, i = 0, j;

    depth = calloc(graph->n ? graph->n : 1, sizeof(size_t));
    if (!depth || dsvm_sched_new(&s, graph, 0, NULL) < 0) {
        free(depth);
        return 0;
    }
    /* Ready order is a topological order: each node's depth is one more
     * than its deepest prerequisite's. */
    while (dsvm_sched_next(&i, s) == 0) {
        size_t d = 0;

        for (j = 0; j < graph->nodes[i].deps.n; j++)
            if (depth[graph->nodes[i].deps.items[j]] > d)
                d = depth[graph->nodes[i].deps.items[j]];
        depth[i] = d + 1;
        if (depth[i] > best)
            best = depth[i];
        dsvm_sched_done(s, i, 1);
    }
    dsvm_sched_free(s);
    free(depth);
    return best;
}

static void dot_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            fputc('\\', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

int dsvm_graph_render_dot(char **out, const dsvm_graph *graph)
{
    char *buf = NULL;
    size_t len = 0, i, j;
    FILE *f = open_memstream(&buf, &len);

    if (!f)
        return dsvm_error_oom();
    fputs("digraph dsvmops {\n  rankdir=LR;\n  node [shape=box, fontname=\"Helvetica\"];\n", f);
    for (i = 0; i < graph->n; i++) {
        const char *type = json_string_value(json_object_get(graph->nodes[i].res, "type"));
        const char *object = json_string_value(json_object_get(graph->nodes[i].res, "object"));
        const char *name = strrchr(graph->nodes[i].id, '/');
        const char *tshort = type ? strrchr(type, '/') : NULL;
        char *label;
        size_t n;

        name = name ? name + 1 : graph->nodes[i].id;
        tshort = tshort ? tshort + 1 : (type ? type : "?");
        n = strlen(tshort) + strlen(name) + (object ? strlen(object) : 0) + 8;
        label = malloc(n);
        if (!label) {
            fclose(f);
            free(buf);
            return dsvm_error_oom();
        }
        snprintf(label, n, "%s\\n%s%s%s", tshort, name, object ? "\\n" : "", object ? object : "");
        fprintf(f, "  n%zu [label=\"%s\", tooltip=", i, label);
        dot_string(f, graph->nodes[i].id);
        fputs("];\n", f);
        free(label);
    }
    for (i = 0; i < graph->n; i++)
        for (j = 0; j < graph->nodes[i].deps.n; j++)
            fprintf(f, "  n%zu -> n%zu;\n", graph->nodes[i].deps.items[j], i);
    fputs("}\n", f);
    if (fclose(f) != 0) {
        free(buf);
        return dsvm_error_oom();
    }
    *out = buf;
    return 0;
}

/* Prerequisites of a node in schedule order: its dependencies, or for a
 * reverse schedule the nodes that depend on it. */
static const idx_list *prereqs(const dsvm_sched *s, size_t i)
{
    return s->reverse ? &s->g->nodes[i].rdeps : &s->g->nodes[i].deps;
}

static const idx_list *followers(const dsvm_sched *s, size_t i)
{
    return s->reverse ? &s->g->nodes[i].deps : &s->g->nodes[i].rdeps;
}

int dsvm_sched_new(dsvm_sched **out, const dsvm_graph *graph, int reverse,
                   const unsigned char *selected)
{
    dsvm_sched *s = calloc(1, sizeof(*s));
    size_t n = graph->n ? graph->n : 1, i, j;

    if (!s)
        return dsvm_error_oom();
    s->g = graph;
    s->reverse = reverse;
    s->state = calloc(n, sizeof(*s->state));
    s->waiting = calloc(n, sizeof(size_t));
    s->queue = calloc(n, sizeof(size_t));
    if (!s->state || !s->waiting || !s->queue) {
        dsvm_sched_free(s);
        return dsvm_error_oom();
    }
    for (i = 0; i < graph->n; i++)
        s->state[i] = !selected || selected[i] ? DSVM_NODE_PENDING : DSVM_NODE_SKIPPED;
    for (i = 0; i < graph->n; i++) {
        const idx_list *p = prereqs(s, i);

        if (s->state[i] == DSVM_NODE_SKIPPED)
            continue;
        s->open++;
        for (j = 0; j < p->n; j++)
            if (s->state[p->items[j]] != DSVM_NODE_SKIPPED)
                s->waiting[i]++;
        if (s->waiting[i] == 0)
            s->queue[s->tail++] = i;
    }
    *out = s;
    return 0;
}

void dsvm_sched_free(dsvm_sched *sched)
{
    if (!sched)
        return;
    free(sched->state);
    free(sched->waiting);
    free(sched->queue);
    free(sched);
}

int dsvm_sched_next(size_t *out, dsvm_sched *sched)
{
    size_t i;

    while (sched->head < sched->tail) {
        i = sched->queue[sched->head++];
        if (sched->state[i] != DSVM_NODE_PENDING)
            continue;
        sched->state[i] = DSVM_NODE_RUNNING;
        *out = i;
        return 0;
    }
    return DSVM_ENOTFOUND;
}

/* Mark everything downstream of `i` as blocked, depth-first with an
 * explicit stack (each node enters it at most once). */
static void block_followers(dsvm_sched *s, size_t i)
{
    size_t *stack = malloc((s->g->n ? s->g->n : 1) * sizeof(size_t));
    size_t top = 0, j;

    if (!stack)
        return;
    stack[top++] = i;
    while (top > 0) {
        const idx_list *f = followers(s, stack[--top]);

        for (j = 0; j < f->n; j++) {
            size_t k = f->items[j];

            if (s->state[k] != DSVM_NODE_PENDING)
                continue;
            s->state[k] = DSVM_NODE_BLOCKED;
            s->open--;
            stack[top++] = k;
        }
    }
    free(stack);
}

void dsvm_sched_done(dsvm_sched *sched, size_t i, int ok)
{
    const idx_list *f;
    size_t j;

    if (i >= sched->g->n || sched->state[i] != DSVM_NODE_RUNNING)
        return;
    sched->open--;
    if (!ok) {
        sched->state[i] = DSVM_NODE_FAILED;
        block_followers(sched, i);
        return;
    }
    sched->state[i] = DSVM_NODE_DONE;
    f = followers(sched, i);
    for (j = 0; j < f->n; j++) {
        size_t k = f->items[j];

        if (sched->state[k] == DSVM_NODE_PENDING && --sched->waiting[k] == 0)
            sched->queue[sched->tail++] = k;
    }
}

int dsvm_sched_finished(const dsvm_sched *sched)
{
    return sched->open == 0;
}

dsvm_node_state dsvm_sched_state(const dsvm_sched *sched, size_t i)
{
    return sched->state[i];
}
