/*
 * YAML to node trees, with libyaml's event API.
 *
 * Building our own tree (instead of libyaml's document API) lets every limit
 * be checked as events arrive: nesting depth, scalar size, and alias
 * expansion. An alias does not copy its anchor's subtree; it points at it,
 * and the subtree's weight (its node count, aliases expanded) is charged to
 * the document. That stops a "billion laughs" input after a few events with
 * bounded memory, and bounds every later walk of the tree.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#include "internal.h"

typedef struct {
    ynode *node;
    ynode **kids;
    size_t n, cap;
    char *anchor;
} frame;

typedef struct {
    load_ctx *c;
    arena *nodes;
    frame *frames;
    unsigned depth;
    ynode *root;
    uint64_t doc_weight;
    uint64_t alias_weight;
    json_t *anchors; /* name -> index in anchor_nodes */
    ynode **anchor_nodes;
    size_t n_anchors, cap_anchors;
} builder;

static void at_mark(load_ctx *c, const yaml_mark_t *m, const char *hint, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void at_mark(load_ctx *c, const yaml_mark_t *m, const char *hint, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    diags_vadd(c->diags, c->file_id, (uint32_t)m->line + 1, (uint32_t)m->column + 1, hint, fmt, ap);
    va_end(ap);
}

static int remember_anchor(builder *b, const char *name, ynode *node)
{
    json_t *idx;

    if (b->n_anchors == b->cap_anchors) {
        size_t cap = b->cap_anchors ? b->cap_anchors * 2 : 16;
        ynode **a = realloc(b->anchor_nodes, cap * sizeof(*a));

        if (!a)
            return -1;
        b->anchor_nodes = a;
        b->cap_anchors = cap;
    }
    idx = json_integer((json_int_t)b->n_anchors);
    if (!idx || json_object_set_new(b->anchors, name, idx) != 0)
        return -1;
    b->anchor_nodes[b->n_anchors++] = node;
    return 0;
}

/* Attach a finished node to the open collection (or make it the root). */
static int attach(builder *b, ynode *node)
{
    frame *f;

    if (b->depth == 0) {
        b->root = node;
        return 0;
    }
    f = &b->frames[b->depth - 1];
    if (f->n == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 8;
        ynode **k = realloc(f->kids, cap * sizeof(*k));

        if (!k)
            return -1;
        f->kids = k;
        f->cap = cap;
    }
    f->kids[f->n++] = node;
    f->node->weight += node->weight;
    if (node->height + 1 > f->node->height)
        f->node->height = node->height + 1;
    return 0;
}

static ynode *new_node(builder *b, int type, const yaml_mark_t *m)
{
    ynode *n = arena_alloc(b->nodes, sizeof(*n));

    if (!n)
        return NULL;
    n->type = (uint8_t)type;
    n->line = (uint32_t)m->line + 1;
    n->col = (uint32_t)m->column + 1;
    n->weight = 1;
    n->height = type == YN_SCALAR ? 0 : 1;
    return n;
}

static void reset_document(builder *b)
{
    json_object_clear(b->anchors);
    b->n_anchors = 0;
    b->root = NULL;
    b->doc_weight = 0;
    b->alias_weight = 0;
}

static bool is_empty_document(const ynode *root)
{
    return !root || ynode_is_null(root);
}

static bool is_merge_key(const ynode *k)
{
    return k->type == YN_SCALAR && k->plain && strcmp(k->s, "<<") == 0;
}

static bool has_key(ynode *const *kids, size_t n, json_t *set, const char *key)
{
    size_t i;

    if (set)
        return json_object_get(set, key) != NULL;
    for (i = 0; i < n; i++)
        if (kids[2 * i]->type == YN_SCALAR && strcmp(kids[2 * i]->s, key) == 0)
            return true;
    return false;
}

/*
 * YAML merge keys: "<<: *base" (or "<<: [*a, *b]") adds the entries of the
 * merged mappings whose keys the mapping does not set itself; earlier merged
 * mappings win over later ones. Merged entries are shared, not copied, and
 * keep their own positions. Returns 0, 1 after reporting an error, or -1.
 */
static int apply_merges(load_ctx *c, arena *nodes, ynode *map)
{
    size_t i, j, n_src = 0, total = 0, n = 0;
    ynode **kids;
    json_t *set = NULL;

    for (i = 0; i < map->n; i++) {
        const ynode *k = map->kids[2 * i], *v = map->kids[2 * i + 1];

        if (!is_merge_key(k))
            continue;
        if (v->type == YN_MAP) {
            total += v->n;
        } else if (v->type == YN_SEQ) {
            for (j = 0; j < v->n; j++) {
                if (v->kids[j]->type != YN_MAP) {
                    diags_add(c->diags, c->file_id, v->kids[j]->line, v->kids[j]->col, NULL,
                              "a merge key (<<) takes a mapping or a list of mappings");
                    return 1;
                }
                total += v->kids[j]->n;
            }
        } else {
            diags_add(c->diags, c->file_id, v->line, v->col, NULL,
                      "a merge key (<<) takes a mapping or a list of mappings");
            return 1;
        }
        n_src++;
    }
    if (n_src == 0)
        return 0;
    total += map->n;
    kids = arena_alloc_raw(nodes, 2 * total * sizeof(*kids));
    if (!kids)
        return -1;
    if (total > 16) {
        set = json_object();
        if (!set)
            return -1;
    }
    /* the mapping's own entries first */
    for (i = 0; i < map->n; i++) {
        ynode *k = map->kids[2 * i];

        if (is_merge_key(k))
            continue;
        kids[2 * n] = k;
        kids[2 * n + 1] = map->kids[2 * i + 1];
        n++;
        if (set && k->type == YN_SCALAR)
            json_object_set_new(set, k->s, json_true());
    }
    /* then each merged mapping's entries, unless already set */
    for (i = 0; i < map->n; i++) {
        const ynode *k = map->kids[2 * i], *v = map->kids[2 * i + 1];
        size_t m, n_maps = v->type == YN_SEQ ? v->n : 1;

        if (!is_merge_key(k))
            continue;
        for (m = 0; m < n_maps; m++) {
            const ynode *src = v->type == YN_SEQ ? v->kids[m] : v;

            for (j = 0; j < src->n; j++) {
                ynode *sk = src->kids[2 * j];

                if (sk->type == YN_SCALAR && has_key(kids, n, set, sk->s))
                    continue;
                kids[2 * n] = sk;
                kids[2 * n + 1] = src->kids[2 * j + 1];
                n++;
                if (set && sk->type == YN_SCALAR)
                    json_object_set_new(set, sk->s, json_true());
            }
        }
    }
    json_decref(set);
    map->kids = kids;
    map->n = (uint32_t)n;
    return 0;
}

/*
 * Parse `buf` into documents and call on_doc for each non-empty one. Errors
 * (syntax or limits) are reported as diagnostics; parsing of the file stops
 * at the first one, since libyaml cannot resume after an error. Returns 0,
 * 1 when the file had an error, or -1 when out of memory.
 */
int yaml_parse_buffer(load_ctx *c, arena *nodes, const char *buf, size_t len, size_t *n_docs,
                      doc_fn on_doc, void *payload)
{
    const dsvm_limits *lim = c->limits;
    yaml_parser_t parser;
    yaml_event_t ev;
    builder b;
    int rc = 0;
    bool done = false;

    memset(&b, 0, sizeof(b));
    b.c = c;
    b.nodes = nodes;
    b.frames = calloc(lim->max_depth + 1, sizeof(*b.frames));
    b.anchors = json_object();
    if (!b.frames || !b.anchors || !yaml_parser_initialize(&parser)) {
        free(b.frames);
        json_decref(b.anchors);
        return -1;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
    yaml_parser_set_encoding(&parser, YAML_UTF8_ENCODING);

    while (!done) {
        ynode *node = NULL;
        const char *anchor = NULL;

        if (!yaml_parser_parse(&parser, &ev)) {
            if (parser.error == YAML_MEMORY_ERROR) {
                rc = -1;
            } else {
                const yaml_mark_t *m =
                    parser.problem_mark.line || parser.problem_mark.column || !parser.context
                        ? &parser.problem_mark
                        : &parser.context_mark;
                if (parser.context)
                    at_mark(c, m, NULL, "YAML syntax error: %s %s",
                            parser.problem ? parser.problem : "invalid YAML", parser.context);
                else
                    at_mark(c, m, NULL, "YAML syntax error: %s",
                            parser.problem ? parser.problem : "invalid YAML");
                rc = 1;
            }
            break;
        }
        switch (ev.type) {
        case YAML_STREAM_END_EVENT:
            done = true;
            break;
        case YAML_DOCUMENT_START_EVENT:
            reset_document(&b);
            if (++*n_docs > lim->max_documents) {
                at_mark(c, &ev.start_mark, "split the repository or raise the limit",
                        "too many documents: the limit is %zu", lim->max_documents);
                rc = 1;
                done = true;
            }
            break;
        case YAML_DOCUMENT_END_EVENT:
            if (!is_empty_document(b.root)) {
                int r = on_doc(c, b.root, payload);

                if (r < 0) {
                    rc = -1;
                    done = true;
                }
            }
            reset_document(&b);
            break;
        case YAML_SCALAR_EVENT:
            if (ev.data.scalar.length > lim->max_scalar_bytes) {
                at_mark(c, &ev.start_mark, NULL,
                        "scalar of %zu bytes is longer than the limit of %zu bytes",
                        ev.data.scalar.length, lim->max_scalar_bytes);
                rc = 1;
                done = true;
                break;
            }
            if (++b.doc_weight > lim->max_document_nodes) {
                at_mark(c, &ev.start_mark, NULL, "document has more than %zu nodes",
                        lim->max_document_nodes);
                rc = 1;
                done = true;
                break;
            }
            node = new_node(&b, YN_SCALAR, &ev.start_mark);
            if (node)
                node->s =
                    arena_strndup(nodes, (const char *)ev.data.scalar.value, ev.data.scalar.length);
            if (!node || !node->s) {
                rc = -1;
                done = true;
                break;
            }
            node->len = (uint32_t)ev.data.scalar.length;
            /* "!!str 42" is a string, like "42" */
            node->plain = ev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
                          !(ev.data.scalar.tag &&
                            strcmp((const char *)ev.data.scalar.tag, YAML_STR_TAG) == 0);
            anchor = (const char *)ev.data.scalar.anchor;
            break;
        case YAML_SEQUENCE_START_EVENT:
        case YAML_MAPPING_START_EVENT: {
            frame *f;

            if (b.depth >= lim->max_depth) {
                at_mark(c, &ev.start_mark, NULL, "nesting deeper than the limit of %u levels",
                        lim->max_depth);
                rc = 1;
                done = true;
                break;
            }
            f = &b.frames[b.depth];
            f->node =
                new_node(&b, ev.type == YAML_MAPPING_START_EVENT ? YN_MAP : YN_SEQ, &ev.start_mark);
            if (!f->node) {
                rc = -1;
                done = true;
                break;
            }
            f->n = 0;
            free(f->anchor);
            f->anchor = NULL;
            anchor = ev.type == YAML_MAPPING_START_EVENT
                         ? (const char *)ev.data.mapping_start.anchor
                         : (const char *)ev.data.sequence_start.anchor;
            if (anchor) {
                f->anchor = strdup(anchor);
                if (!f->anchor) {
                    rc = -1;
                    done = true;
                    break;
                }
            }
            anchor = NULL;
            b.depth++;
            if (++b.doc_weight > lim->max_document_nodes) {
                at_mark(c, &ev.start_mark, NULL, "document has more than %zu nodes",
                        lim->max_document_nodes);
                rc = 1;
                done = true;
            }
            break;
        }
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT: {
            frame *f = &b.frames[b.depth - 1];

            node = f->node;
            node->n = (uint32_t)(node->type == YN_MAP ? f->n / 2 : f->n);
            if (f->n) {
                node->kids = arena_alloc_raw(nodes, f->n * sizeof(*node->kids));
                if (!node->kids) {
                    rc = -1;
                    done = true;
                    break;
                }
                memcpy(node->kids, f->kids, f->n * sizeof(*node->kids));
            }
            if (node->type == YN_MAP) {
                int m = apply_merges(c, nodes, node);

                if (m) {
                    rc = m;
                    done = true;
                    break;
                }
            }
            b.depth--;
            anchor = f->anchor;
            break;
        }
        case YAML_ALIAS_EVENT: {
            json_t *idx = json_object_get(b.anchors, (const char *)ev.data.alias.anchor);

            if (!idx) {
                at_mark(c, &ev.start_mark,
                        "define the anchor with &name earlier in the same document",
                        "unknown alias *%s", (const char *)ev.data.alias.anchor);
                rc = 1;
                done = true;
                break;
            }
            node = b.anchor_nodes[json_integer_value(idx)];
            if (b.depth + node->height > lim->max_depth) {
                at_mark(c, &ev.start_mark, NULL,
                        "nesting deeper than the limit of %u levels (through an alias)",
                        lim->max_depth);
                rc = 1;
                done = true;
                break;
            }
            b.alias_weight += node->weight;
            b.doc_weight += node->weight;
            if (b.alias_weight > lim->max_alias_nodes) {
                at_mark(c, &ev.start_mark, "expand the aliases by hand or use fewer of them",
                        "alias expansion exceeds the limit of %zu nodes", lim->max_alias_nodes);
                rc = 1;
                done = true;
                break;
            }
            if (b.doc_weight > lim->max_document_nodes) {
                at_mark(c, &ev.start_mark, NULL, "document has more than %zu nodes",
                        lim->max_document_nodes);
                rc = 1;
                done = true;
                break;
            }
            if (attach(&b, node) < 0) {
                rc = -1;
                done = true;
            }
            node = NULL;
            break;
        }
        default:
            break;
        }
        if (node && !done) {
            if (anchor && remember_anchor(&b, anchor, node) < 0) {
                rc = -1;
                done = true;
            } else if (attach(&b, node) < 0) {
                rc = -1;
                done = true;
            }
        }
        yaml_event_delete(&ev);
    }

    for (unsigned i = 0; i <= lim->max_depth; i++) {
        free(b.frames[i].kids);
        free(b.frames[i].anchor);
    }
    free(b.frames);
    free(b.anchor_nodes);
    json_decref(b.anchors);
    yaml_parser_delete(&parser);
    return rc;
}
