/* Small helpers: buffers, time, identifiers, base64url and JSON paths. */
#define _GNU_SOURCE /* vasprintf, strcasestr */
#include "armsim.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/sha.h>

int membuf_append(struct membuf *b, const char *data, size_t len)
{
    if (b->len + len + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        char *p;
        while (cap < b->len + len + 1)
            cap *= 2;
        p = realloc(b->data, cap);
        if (!p)
            return -1;
        b->data = p;
        b->cap = cap;
    }
    memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
    return 0;
}

void membuf_clear(struct membuf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Formats a Unix time in milliseconds as ISO 8601 with a Z suffix; caller frees. */
char *iso_time(int64_t ms)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    char buf[64];
    gmtime_r(&t, &tm);
    strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
    return xasprintf("%s.%03dZ", buf, (int)(ms % 1000));
}

char *xstrdup(const char *s)
{
    char *p = strdup(s ? s : "");
    if (!p) {
        fprintf(stderr, "armsim: out of memory\n");
        abort();
    }
    return p;
}

char *xasprintf(const char *fmt, ...)
{
    va_list ap;
    char *out = NULL;
    int n;
    va_start(ap, fmt);
    n = vasprintf(&out, fmt, ap);
    va_end(ap);
    if (n < 0) {
        fprintf(stderr, "armsim: out of memory\n");
        abort();
    }
    return out;
}

char *lower_dup(const char *s)
{
    char *p = xstrdup(s);
    for (char *q = p; *q; q++)
        *q = (char)tolower((unsigned char)*q);
    return p;
}

int ci_eq(const char *a, const char *b)
{
    return a && b && strcasecmp(a, b) == 0;
}

/* xorshift64*; callers hold the context lock or own the context. */
uint64_t ctx_random(struct ctx *c)
{
    uint64_t x = c->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    c->rng = x;
    return x * 0x2545F4914F6CDD1DULL;
}

static void format_uuid(const unsigned char b[16], char out[37])
{
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
             b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
             b[14], b[15]);
}

void new_uuid(struct ctx *c, char out[37])
{
    unsigned char b[16];
    uint64_t a = ctx_random(c), d = ctx_random(c);
    memcpy(b, &a, 8);
    memcpy(b + 8, &d, 8);
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    format_uuid(b, out);
}

/* A stable UUID derived from a string (SHA-256, version 5 layout). */
void hash_uuid(const char *seed, char out[37])
{
    unsigned char md[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)seed, strlen(seed), md);
    md[6] = (unsigned char)((md[6] & 0x0f) | 0x50);
    md[8] = (unsigned char)((md[8] & 0x3f) | 0x80);
    format_uuid(md, out);
}

char *b64url_encode(const unsigned char *data, size_t len)
{
    char *out = malloc(4 * ((len + 2) / 3) + 1);
    int n;
    if (!out)
        abort();
    n = EVP_EncodeBlock((unsigned char *)out, data, (int)len);
    while (n > 0 && out[n - 1] == '=')
        n--;
    out[n] = '\0';
    for (int i = 0; i < n; i++) {
        if (out[i] == '+')
            out[i] = '-';
        else if (out[i] == '/')
            out[i] = '_';
    }
    return out;
}

/* Decodes base64url without padding; NULL when malformed. Caller frees. */
unsigned char *b64url_decode(const char *s, size_t len, size_t *out_len)
{
    size_t padded = (len + 3) / 4 * 4;
    char *tmp = malloc(padded + 1);
    unsigned char *out = NULL;
    int n;
    if (!tmp)
        return NULL;
    for (size_t i = 0; i < len; i++) {
        char ch = s[i];
        if (ch == '-')
            ch = '+';
        else if (ch == '_')
            ch = '/';
        else if (!isalnum((unsigned char)ch))
            goto out;
        tmp[i] = ch;
    }
    for (size_t i = len; i < padded; i++)
        tmp[i] = '=';
    tmp[padded] = '\0';
    out = malloc(padded / 4 * 3 + 1);
    if (!out)
        goto out;
    n = EVP_DecodeBlock(out, (unsigned char *)tmp, (int)padded);
    if (n < 0) {
        free(out);
        out = NULL;
        goto out;
    }
    n -= (int)(padded - len);
    out[n] = '\0';
    *out_len = (size_t)n;
out:
    free(tmp);
    return out;
}

/* Dotted path lookup ("properties.osProfile.adminPassword"); borrowed reference. */
json_t *json_path_get(json_t *root, const char *path)
{
    json_t *cur = root;
    const char *p = path;
    while (cur && *p) {
        const char *dot = strchr(p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen(p);
        char *key = strndup(p, n);
        cur = json_is_object(cur) ? json_object_get(cur, key) : NULL;
        free(key);
        p = dot ? dot + 1 : p + n;
    }
    return cur;
}

/* Sets a dotted path, creating objects on the way; steals value. */
int json_path_set(json_t *root, const char *path, json_t *value)
{
    json_t *cur = root;
    const char *p = path;
    for (;;) {
        const char *dot = strchr(p, '.');
        char *key;
        if (!json_is_object(cur)) {
            json_decref(value);
            return -1;
        }
        if (!dot)
            return json_object_set_new(cur, p, value);
        key = strndup(p, (size_t)(dot - p));
        if (!json_is_object(json_object_get(cur, key)))
            json_object_set_new(cur, key, json_object());
        cur = json_object_get(cur, key);
        free(key);
        p = dot + 1;
    }
}

/* Deletes a dotted path; a "[]" segment applies the rest to each array element. */
void json_path_del(json_t *root, const char *path)
{
    const char *dot = strchr(path, '.');
    char *key;
    json_t *child;
    if (!json_is_object(root))
        return;
    if (!dot) {
        json_object_del(root, path);
        return;
    }
    key = strndup(path, (size_t)(dot - path));
    child = json_object_get(root, key);
    free(key);
    if (strncmp(dot + 1, "[].", 3) == 0) {
        size_t i;
        json_t *el;
        json_array_foreach(child, i, el)
        {
            json_path_del(el, dot + 4);
        }
        return;
    }
    json_path_del(child, dot + 1);
}

/* RFC 7386 JSON merge patch, in place. */
void json_merge_patch(json_t *target, json_t *patch)
{
    const char *k;
    json_t *v;
    json_object_foreach(patch, k, v)
    {
        json_t *cur = json_object_get(target, k);
        if (json_is_null(v))
            json_object_del(target, k);
        else if (json_is_object(v) && json_is_object(cur))
            json_merge_patch(cur, v);
        else if (json_is_object(v)) {
            json_t *o = json_object();
            json_merge_patch(o, v);
            json_object_set_new(target, k, o);
        } else
            json_object_set_new(target, k, json_deep_copy(v));
    }
}

/* Adds keys of defaults that target lacks, recursively into objects. */
void json_merge_missing(json_t *target, json_t *defaults)
{
    const char *k;
    json_t *v;
    if (!json_is_object(target))
        return;
    json_object_foreach(defaults, k, v)
    {
        json_t *cur = json_object_get(target, k);
        if (!cur)
            json_object_set_new(target, k, json_deep_copy(v));
        else if (json_is_object(cur) && json_is_object(v))
            json_merge_missing(cur, v);
    }
}

static int hexval(int ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    ch = tolower(ch);
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    return -1;
}

/* Percent- and plus-decoding of a form value; caller frees. */
char *url_decode(const char *s, size_t len)
{
    char *out = malloc(len + 1);
    size_t j = 0;
    if (!out)
        abort();
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '+')
            out[j++] = ' ';
        else if (s[i] == '%' && i + 2 < len && hexval((unsigned char)s[i + 1]) >= 0 &&
                 hexval((unsigned char)s[i + 2]) >= 0) {
            out[j++] =
                (char)(hexval((unsigned char)s[i + 1]) * 16 + hexval((unsigned char)s[i + 2]));
            i += 2;
        } else
            out[j++] = s[i];
    }
    out[j] = '\0';
    return out;
}
