/* armsim: lists: the OData $filter subset, keyset paging over the resources table with
 * nextLink, and in-memory pages. */
#include "rules.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void filter_clear(struct filter *f)
{
    for (size_t i = 0; i < f->n; i++) {
        free(f->field[i]);
        free(f->value[i]);
    }
    memset(f, 0, sizeof(*f));
}

/* Parses the OData subset ARM lists accept: clauses joined by "and", each
 * "field eq 'value'", plus atScope(). Returns -1 on anything else. */
static int filter_parse(const char *s, struct filter *f)
{
    const char *p = s;
    memset(f, 0, sizeof(*f));
    while (p && *p) {
        const char *q;
        size_t n;
        struct membuf v = {0};
        while (*p == ' ')
            p++;
        if (strncasecmp(p, "atScope()", 9) == 0) {
            f->at_scope = 1;
            p += 9;
        } else if (strncasecmp(p, "assignedTo('", 12) == 0 && strstr(p + 12, "')") && f->n < 8) {
            /* assignedTo('{principal}'): armsim knows no groups, so it is principalId */
            const char *end = strstr(p + 12, "')");
            f->field[f->n] = xstrdup("principalId");
            f->value[f->n++] = strndup(p + 12, (size_t)(end - p - 12));
            p = end + 2;
        } else {
            q = p;
            while (*q && (isalnum((unsigned char)*q) || *q == '.' || *q == '/'))
                q++;
            n = (size_t)(q - p);
            if (!n || f->n == 8 || strncasecmp(q, " eq '", 5) != 0)
                return -1;
            f->field[f->n] = strndup(p, n);
            q += 5;
            for (;;) {
                if (!*q) {
                    membuf_clear(&v);
                    free(f->field[f->n]);
                    f->field[f->n] = NULL;
                    return -1;
                }
                if (*q == '\'' && q[1] == '\'') {
                    membuf_append(&v, "'", 1);
                    q += 2;
                } else if (*q == '\'') {
                    q++;
                    break;
                } else {
                    membuf_append(&v, q, 1);
                    q++;
                }
            }
            if (!v.data)
                membuf_append(&v, "", 0);
            f->value[f->n++] = v.data;
            p = q;
        }
        while (*p == ' ')
            p++;
        if (!*p)
            break;
        if (strncasecmp(p, "and ", 4) != 0)
            return -1;
        p += 4;
    }
    return 0;
}

static int tags_match(json_t *tags, const char *name, const char *value)
{
    const char *k;
    json_t *v;
    json_object_foreach(tags, k, v)
    {
        if (strcasecmp(k, name) == 0 && (!value || ci_eq(json_string_value(v), value)))
            return 1;
    }
    return 0;
}

static int filter_match(const struct filter *f, json_t *b)
{
    const char *tag_name = NULL, *tag_value = NULL;
    for (size_t i = 0; i < f->n; i++) {
        const char *fld = f->field[i], *want = f->value[i];
        if (strcasecmp(fld, "tagName") == 0)
            tag_name = want;
        else if (strcasecmp(fld, "tagValue") == 0)
            tag_value = want;
        else if (strcasecmp(fld, "resourceType") == 0) {
            if (!ci_eq(json_string_value(json_object_get(b, "type")), want))
                return 0;
        } else if (strcasecmp(fld, "name") == 0 || strcasecmp(fld, "location") == 0) {
            if (!ci_eq(json_string_value(json_object_get(b, fld)), want))
                return 0;
        } else if (strcasecmp(fld, "principalId") == 0 ||
                   strcasecmp(fld, "policyDefinitionId") == 0) {
            char *path = xasprintf("properties.%s", fld);
            int ok = ci_eq(json_string_value(json_path_get(b, path)), want);
            free(path);
            if (!ok)
                return 0;
        }
    }
    if (tag_name && !tags_match(json_object_get(b, "tags"), tag_name, tag_value))
        return 0;
    return 1;
}

static char *url_escape(const char *s)
{
    struct membuf b = {0};
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (isalnum(ch) || ch == '-' || ch == '_' || ch == '.' || ch == '~' || ch == '/')
            membuf_append(&b, (const char *)&ch, 1);
        else {
            char hex[4];
            snprintf(hex, sizeof(hex), "%%%02X", ch);
            membuf_append(&b, hex, 3);
        }
    }
    if (!b.data)
        membuf_append(&b, "", 0);
    return b.data;
}

static char *next_link(struct ctx *c, struct call *k, const char *token)
{
    const char *flt = req_query(k->rq, "$filter");
    char *path = url_escape(k->rq->path), *tok = url_escape(token), *out;
    char *f = flt ? url_escape(flt) : NULL;
    out = xasprintf("%s%s?api-version=%s%s%s&%%24skiptoken=%s", c->base_url, path, k->api,
                    f ? "&%24filter=" : "", f ? f : "", tok);
    free(path);
    free(tok);
    free(f);
    return out;
}

/* Answers a page of an in-memory list; the skip token is an offset. Steals items. */
void list_page(struct ctx *c, struct call *k, json_t *items, struct resp *r)
{
    const char *tok = req_query(k->rq, "$skiptoken");
    size_t from = tok ? strtoul(tok, NULL, 10) : 0, n = json_array_size(items);
    json_t *page = json_array(), *out;
    for (size_t i = from; i < n && i < from + c->page_size; i++)
        json_array_append(page, json_array_get(items, i));
    out = json_pack("{s:o}", "value", page);
    if (from + c->page_size < n) {
        char num[32];
        char *nl;
        snprintf(num, sizeof(num), "%zu", from + c->page_size);
        nl = next_link(c, k, num);
        json_object_set_new(out, "nextLink", json_string(nl));
        free(nl);
    }
    json_decref(items);
    resp_json(r, 200, out);
}

static int scope_related(const char *scope, const char *want, int at_scope)
{
    size_t ls = strlen(scope), lw = strlen(want);
    if (ls == lw && strcasecmp(scope, want) == 0)
        return 1;
    if (ls < lw && strncasecmp(scope, want, ls) == 0 && (want[ls] == '/' || ls == 1))
        return 1;
    if (!at_scope && lw < ls && strncasecmp(scope, want, lw) == 0 && scope[lw] == '/')
        return 1;
    return 0;
}

static json_t *generic_view(json_t *b)
{
    static const char *const keys[] = {"id",  "name",     "type",      "location", "tags", "kind",
                                       "sku", "identity", "managedBy", "plan",     NULL};
    json_t *o = json_object();
    for (int i = 0; keys[i]; i++) {
        json_t *v = json_object_get(b, keys[i]);
        if (v)
            json_object_set(o, keys[i], v);
    }
    return o;
}

/* Runs a keyset-paged list over the resources table. The SQL's last parameter is the
 * "id > ?" bound of the page. */
void list_sql(struct ctx *c, struct call *k, struct list_q *q, struct resp *r)
{
    sqlite3_stmt *st = store_stmt(c, q->sql);
    const char *tok = req_query(k->rq, "$skiptoken");
    json_t *page = json_array(), *out;
    char *last = NULL;
    int more = 0;
    size_t i;
    for (i = 0; i < q->nargs; i++)
        sqlite3_bind_text(st, (int)i + 1, lower_dup(q->args[i]), -1, free);
    sqlite3_bind_text(st, (int)i + 1, tok ? tok : "", -1, SQLITE_TRANSIENT);
    while (sqlite3_step(st) == SQLITE_ROW) {
        json_t *b = json_loads((const char *)sqlite3_column_text(st, 0), 0, NULL);
        const struct rtype *t = q->t;
        if (!b)
            continue;
        if (!filter_match(&q->f, b) ||
            (q->scope &&
             !scope_related(sor(json_string_value(json_path_get(b, "properties.scope")), ""),
                            q->scope, q->f.at_scope))) {
            json_decref(b);
            continue;
        }
        if (json_array_size(page) == c->page_size) {
            more = 1;
            json_decref(b);
            break;
        }
        if (!t)
            t = rules_find(sor(json_string_value(json_object_get(b, "type")), ""));
        json_array_append_new(page, q->view == VIEW_GENERIC ? generic_view(b) : res_render(t, b));
        free(last);
        last = xstrdup((const char *)sqlite3_column_text(st, 1));
        json_decref(b);
    }
    sqlite3_reset(st);
    out = json_pack("{s:o}", "value", page);
    if (more && last) {
        char *nl = next_link(c, k, last);
        json_object_set_new(out, "nextLink", json_string(nl));
        free(nl);
    }
    free(last);
    resp_json(r, 200, out);
}

const char q_sub[] = "SELECT body, id FROM resources WHERE type = ? AND sub = ? AND id > ?"
                     " ORDER BY id";
const char q_rg[] = "SELECT body, id FROM resources WHERE type = ? AND sub = ? AND rg = ?"
                    " AND id > ? ORDER BY id";
const char q_parent[] = "SELECT body, id FROM resources WHERE parent = ? AND type = ?"
                        " AND id > ? ORDER BY id";
const char q_gen_sub[] = "SELECT body, id FROM resources WHERE sub = ? AND listed = 1"
                         " AND id > ? ORDER BY id";
const char q_gen_rg[] = "SELECT body, id FROM resources WHERE sub = ? AND listed = 1"
                        " AND rg = ? AND id > ? ORDER BY id";

int parse_filter(struct call *k, struct filter *f, struct resp *r)
{
    const char *flt = req_query(k->rq, "$filter");
    if (flt && filter_parse(flt, f) < 0) {
        filter_clear(f);
        resp_error(r, 400, "InvalidFilterInQueryString",
                   "Invalid $filter '%s'. armsim supports clauses \"field eq 'value'\" joined by "
                   "\"and\", and atScope().",
                   flt);
        return -1;
    }
    return 0;
}
