/*
 * Deterministic names: UUIDv5 for role assignments (RFC 4122 section 4.3,
 * SHA-1 from OpenSSL), short hashes for derived names such as the shared
 * Batch account, and base64 for boot scripts.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ctype.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

#include "dsvmops/error.h"
#include "azure.h"

/* The dsvmops role-assignment namespace:
 * UUIDv5(NameSpace_URL, "https://dsvmops.io/azure/roleAssignments")
 * = cba63792-4e93-58dc-898b-136abc24f98f. */
static const unsigned char role_assignment_ns[16] = {
    0xcb, 0xa6, 0x37, 0x92, 0x4e, 0x93, 0x58, 0xdc, 0x89, 0x8b, 0x13, 0x6a, 0xbc, 0x24, 0xf9, 0x8f};

int az_uuid5(char out[37], const unsigned char ns[16], const char *name, size_t len)
{
    unsigned char digest[SHA_DIGEST_LENGTH];
    unsigned char *buf = malloc(16 + len);
    size_t i, o = 0;

    if (!buf)
        return DSVM_ENOMEM;
    memcpy(buf, ns, 16);
    memcpy(buf + 16, name, len);
    SHA1(buf, 16 + len, digest);
    free(buf);
    digest[6] = (unsigned char)((digest[6] & 0x0f) | 0x50);
    digest[8] = (unsigned char)((digest[8] & 0x3f) | 0x80);
    for (i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[o++] = '-';
        snprintf(out + o, 3, "%02x", digest[i]);
        o += 2;
    }
    out[o] = '\0';
    return 0;
}

static void lower_into(char *dst, const char *src, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        dst[i] = (char)tolower((unsigned char)src[i]);
}

int az_role_assignment_name(char out[37], const char *scope, const char *role_guid,
                            const char *principal_ref)
{
    size_t ls = strlen(scope), lr = strlen(role_guid), lp = strlen(principal_ref);
    char *name = malloc(ls + lr + lp + 3);
    int rc;

    if (!name)
        return DSVM_ENOMEM;
    lower_into(name, scope, ls);
    name[ls] = '|';
    lower_into(name + ls + 1, role_guid, lr);
    name[ls + 1 + lr] = '|';
    memcpy(name + ls + lr + 2, principal_ref, lp);
    name[ls + lr + lp + 2] = '\0';
    rc = az_uuid5(out, role_assignment_ns, name, ls + lr + lp + 2);
    free(name);
    return rc;
}

void az_short_hash(char *out, size_t bytes, const char *text)
{
    unsigned char digest[SHA_DIGEST_LENGTH];
    size_t i;

    if (bytes > SHA_DIGEST_LENGTH)
        bytes = SHA_DIGEST_LENGTH;
    SHA1((const unsigned char *)text, strlen(text), digest);
    for (i = 0; i < bytes; i++)
        snprintf(out + 2 * i, 3, "%02x", digest[i]);
    out[2 * bytes] = '\0';
}

json_t *az_base64(const char *data, size_t len)
{
    size_t cap = 4 * ((len + 2) / 3) + 1;
    unsigned char *buf = malloc(cap);
    json_t *s;

    if (!buf)
        return NULL;
    EVP_EncodeBlock(buf, (const unsigned char *)data, (int)len);
    s = json_string((const char *)buf);
    free(buf);
    return s;
}
