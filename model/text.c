/*
 * Small text checks used by validation: edit distance for "did you mean",
 * CIDR / GUID / duration / FQDN syntax, secret-looking keys and UTF-8.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "internal.h"

/*
 * Levenshtein distance. Inputs are cut at 64 characters: suggestions only
 * matter for short identifiers, and this keeps the table on the stack.
 */
size_t text_edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    size_t prev[65], cur[65];
    size_t i, j;

    if (la > 64)
        la = 64;
    if (lb > 64)
        lb = 64;
    for (j = 0; j <= lb; j++)
        prev[j] = j;
    for (i = 1; i <= la; i++) {
        cur[0] = i;
        for (j = 1; j <= lb; j++) {
            size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
            size_t best = prev[j - 1] + cost;

            if (prev[j] + 1 < best)
                best = prev[j] + 1;
            if (cur[j - 1] + 1 < best)
                best = cur[j - 1] + 1;
            cur[j] = best;
        }
        memcpy(prev, cur, (lb + 1) * sizeof(prev[0]));
    }
    return prev[lb];
}

const char *text_suggest(const char *word, const char *const *cands, size_t n)
{
    const char *best = NULL;
    size_t best_d = (size_t)-1;
    size_t wl = strlen(word);
    size_t limit = wl < 6 ? 1 : wl / 3;
    size_t i;

    for (i = 0; i < n; i++) {
        size_t d, cl = strlen(cands[i]);

        if (strcasecmp(word, cands[i]) == 0)
            return cands[i];
        /* the distance is at least the difference in length */
        if ((cl > wl ? cl - wl : wl - cl) > limit)
            continue;
        d = text_edit_distance(word, cands[i]);
        if (d < best_d) {
            best_d = d;
            best = cands[i];
        }
    }
    /* close enough: at most a third of the word (one edit for short words) */
    return best && best_d <= limit ? best : NULL;
}

bool text_is_cidr(const char *s, uint32_t *addr, unsigned *bits)
{
    uint32_t a = 0;
    unsigned part, b;
    const char *p = s;

    for (part = 0; part < 4; part++) {
        unsigned v = 0, digits = 0;

        while (*p >= '0' && *p <= '9' && digits < 4) {
            v = v * 10 + (unsigned)(*p - '0');
            p++;
            digits++;
        }
        if (digits == 0 || digits > 3 || v > 255)
            return false;
        a = (a << 8) | v;
        if (part < 3) {
            if (*p != '.')
                return false;
            p++;
        }
    }
    if (*p != '/')
        return false;
    p++;
    if (!(*p >= '0' && *p <= '9'))
        return false;
    b = 0;
    while (*p >= '0' && *p <= '9' && b <= 32) {
        b = b * 10 + (unsigned)(*p - '0');
        p++;
    }
    if (*p || b > 32)
        return false;
    if (addr)
        *addr = a;
    if (bits)
        *bits = b;
    return true;
}

bool text_is_guid(const char *s)
{
    static const int groups[] = {8, 4, 4, 4, 12};
    size_t g;
    int i;

    for (g = 0; g < 5; g++) {
        for (i = 0; i < groups[g]; i++, s++)
            if (!isxdigit((unsigned char)*s))
                return false;
        if (g < 4 && *s++ != '-')
            return false;
    }
    return *s == '\0';
}

/* "30s", "5m", "1h", "2d", or combinations such as "1h30m". */
bool text_is_duration(const char *s, uint64_t *seconds)
{
    uint64_t total = 0;

    if (!*s)
        return false;
    while (*s) {
        uint64_t v = 0, unit;
        int digits = 0;

        while (*s >= '0' && *s <= '9') {
            if (++digits > 9)
                return false;
            v = v * 10 + (uint64_t)(*s - '0');
            s++;
        }
        if (!digits)
            return false;
        switch (*s) {
        case 's':
            unit = 1;
            break;
        case 'm':
            unit = 60;
            break;
        case 'h':
            unit = 3600;
            break;
        case 'd':
            unit = 86400;
            break;
        default:
            return false;
        }
        s++;
        total += v * unit;
    }
    if (seconds)
        *seconds = total;
    return true;
}

bool text_is_fqdn(const char *s)
{
    size_t label = 0, labels = 0, len = 0;
    char prev = '.';

    for (; *s; s++, len++) {
        char ch = *s;

        if (ch == '.') {
            if (label == 0 || prev == '-')
                return false;
            label = 0;
            labels++;
        } else if (isalnum((unsigned char)ch) || (ch == '-' && label > 0)) {
            if (++label > 63)
                return false;
        } else {
            return false;
        }
        prev = ch;
    }
    if (label == 0 || prev == '-')
        return false;
    return labels >= 1 && len <= 253;
}

/*
 * A key looks like it holds a secret when, lower-cased and stripped of
 * separators, it contains "password"/"passwd" or ends in a secret word
 * ("secret", "token", "key", ...). Public keys (sshPublicKey) and keyVault
 * are not secrets.
 */
bool text_key_is_secret(const char *key)
{
    static const char *const suffixes[] = {
        "secret", "token", "credential", "credentials", "connectionstring",
        "key",    "pwd",   "passphrase", "sastoken",    "sas",
    };
    size_t len = strlen(key), n = 0, i;
    bool secret = false;
    char *buf = malloc(len + 1);

    if (!buf)
        return false;
    for (i = 0; i < len; i++) {
        if (key[i] == '_' || key[i] == '-' || key[i] == '.' || key[i] == ' ')
            continue;
        buf[n++] = (char)tolower((unsigned char)key[i]);
    }
    buf[n] = '\0';
    if (strcmp(buf, "keyvault") == 0 || (n >= 9 && strcmp(buf + n - 9, "publickey") == 0))
        goto out;
    secret = strstr(buf, "password") || strstr(buf, "passwd");
    for (i = 0; !secret && i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
        size_t sl = strlen(suffixes[i]);

        secret = n >= sl && strcmp(buf + n - sl, suffixes[i]) == 0;
    }
out:
    free(buf);
    return secret;
}

/* Strict UTF-8: no overlongs, no surrogates, nothing above U+10FFFF. */
bool text_is_utf8(const char *s, size_t n, size_t *bad_at)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;

    while (i < n) {
        unsigned char c = p[i];
        size_t len;
        uint32_t cp;
        size_t k;

        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xC2 && c <= 0xDF) {
            len = 2;
            cp = c & 0x1F;
        } else if (c >= 0xE0 && c <= 0xEF) {
            len = 3;
            cp = c & 0x0F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            len = 4;
            cp = c & 0x07;
        } else {
            goto bad;
        }
        if (i + len > n)
            goto bad;
        for (k = 1; k < len; k++) {
            if ((p[i + k] & 0xC0) != 0x80)
                goto bad;
            cp = (cp << 6) | (p[i + k] & 0x3F);
        }
        if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            goto bad;
        i += len;
    }
    return true;
bad:
    if (bad_at)
        *bad_at = i;
    return false;
}
