/*
 * Typing of YAML nodes. Plain (unquoted) scalars follow the YAML 1.2 core
 * schema: null, true/false, integers and floats; quoted scalars are always
 * strings.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

bool ynode_is_null(const ynode *n)
{
    if (n->type != YN_SCALAR || !n->plain)
        return false;
    return n->len == 0 || strcmp(n->s, "~") == 0 || strcmp(n->s, "null") == 0 ||
           strcmp(n->s, "Null") == 0 || strcmp(n->s, "NULL") == 0;
}

int ynode_bool(const ynode *n, bool *out)
{
    if (n->type != YN_SCALAR || !n->plain)
        return -1;
    if (strcmp(n->s, "true") == 0 || strcmp(n->s, "True") == 0 || strcmp(n->s, "TRUE") == 0) {
        *out = true;
        return 0;
    }
    if (strcmp(n->s, "false") == 0 || strcmp(n->s, "False") == 0 || strcmp(n->s, "FALSE") == 0) {
        *out = false;
        return 0;
    }
    return -1;
}

int ynode_int(const ynode *n, int64_t *out)
{
    const char *s;
    char *end;
    long long v;
    int base = 10;

    if (n->type != YN_SCALAR || !n->plain || n->len == 0)
        return -1;
    s = n->s;
    if (s[0] == '0' && (s[1] == 'x' || s[1] == 'o')) {
        base = s[1] == 'x' ? 16 : 8;
        s += 2;
        if (!*s)
            return -1;
    } else {
        const char *p = s;

        if (*p == '-' || *p == '+')
            p++;
        if (!*p)
            return -1;
        for (; *p; p++)
            if (*p < '0' || *p > '9')
                return -1;
    }
    errno = 0;
    v = strtoll(s, &end, base);
    if (errno || *end)
        return -1;
    *out = (int64_t)v;
    return 0;
}

static bool is_float(const ynode *n)
{
    const char *p = n->s;
    bool digits = false;

    if (n->type != YN_SCALAR || !n->plain || n->len == 0)
        return false;
    if (strcmp(p, ".inf") == 0 || strcmp(p, "-.inf") == 0 || strcmp(p, "+.inf") == 0 ||
        strcmp(p, ".nan") == 0 || strcmp(p, ".NaN") == 0)
        return true;
    if (*p == '-' || *p == '+')
        p++;
    while (*p >= '0' && *p <= '9') {
        p++;
        digits = true;
    }
    if (*p == '.') {
        p++;
        while (*p >= '0' && *p <= '9') {
            p++;
            digits = true;
        }
    }
    if (!digits)
        return false;
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '-' || *p == '+')
            p++;
        if (!(*p >= '0' && *p <= '9'))
            return false;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    return *p == '\0';
}

const char *ynode_type_name(const ynode *n)
{
    bool b;
    int64_t i;

    switch (n->type) {
    case YN_MAP:
        return "a mapping";
    case YN_SEQ:
        return "a list";
    default:
        break;
    }
    if (ynode_is_null(n))
        return "null";
    if (ynode_bool(n, &b) == 0)
        return "a boolean";
    if (ynode_int(n, &i) == 0)
        return "an integer";
    if (is_float(n))
        return "a number";
    return "a string";
}

const ynode *ynode_get(const ynode *map, const char *key, const ynode **key_out)
{
    size_t i;

    if (!map || map->type != YN_MAP)
        return NULL;
    for (i = 0; i < map->n; i++) {
        const ynode *k = map->kids[2 * i];

        if (k->type == YN_SCALAR && strcmp(k->s, key) == 0) {
            if (key_out)
                *key_out = k;
            return map->kids[2 * i + 1];
        }
    }
    return NULL;
}

/* Convert a node to JSON. Recursion depth is bounded by the nesting limit. */
json_t *ynode_to_json(const ynode *n)
{
    json_t *j;
    size_t i;

    if (n->type == YN_MAP) {
        j = json_object();
        if (!j)
            return NULL;
        for (i = 0; i < n->n; i++) {
            const ynode *k = n->kids[2 * i];
            json_t *v;

            if (k->type != YN_SCALAR)
                continue;
            v = ynode_to_json(n->kids[2 * i + 1]);
            if (!v || json_object_set_new(j, k->s, v) != 0) {
                json_decref(j);
                return NULL;
            }
        }
        return j;
    }
    if (n->type == YN_SEQ) {
        j = json_array();
        if (!j)
            return NULL;
        for (i = 0; i < n->n; i++) {
            json_t *v = ynode_to_json(n->kids[i]);

            if (!v || json_array_append_new(j, v) != 0) {
                json_decref(j);
                return NULL;
            }
        }
        return j;
    }
    {
        bool b;
        int64_t iv;

        if (ynode_is_null(n))
            return json_null();
        if (ynode_bool(n, &b) == 0)
            return json_boolean(b);
        if (ynode_int(n, &iv) == 0)
            return json_integer((json_int_t)iv);
        if (is_float(n) && n->s[0] != '.' && strstr(n->s, ".inf") == NULL)
            return json_real(strtod(n->s, NULL));
        return json_stringn(n->s, n->len);
    }
}
