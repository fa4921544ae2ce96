/*
 * Fuzz target: what dsvmops makes of an ARM answer. The input is an HTTP
 * answer without its status line's text:
 *
 *     202
 *     Azure-AsyncOperation: https://management.azure.com/...
 *     Retry-After: 5
 *
 *     {"status": "InProgress"}
 *
 * The status line, "Name: value" header lines up to an empty line, then
 * the body (any bytes). It drives the pure functions the HTTP engine, the
 * LRO poller and the Azure provider use on answers:
 *   - dsvm_http_parse_error_body, dsvm_http_retryable (error answers);
 *   - dsvm_lro_parse_body as a monitor and as a resource, and
 *     dsvm_lro_is_terminal on the state found;
 *   - dsvm_http_parse_retry_after on Retry-After, and dsvm_http_check_url,
 *     dsvm_http_redact_url and dsvm_http_subscription_of on Location and
 *     Azure-AsyncOperation (the poll URLs come from the answer); a
 *     redacted URL must hold no password and no value of a secret query
 *     key (check_redacted());
 *   - az_classify (the provider's status/error-code table), and for a 200
 *     list page what the host does with it: each item of "value" by its id
 *     (az_type_of_id) and "nextLink".
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "azure.h"
#include "http.h"
#include "lro.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A URL redacted for a log carries no password, and no value of a query
 * key that is a secret in ARM and storage URLs. */
static void check_redacted(const char *red)
{
    static const char *const secret_keys[] = {"sig",           "token",    "code",
                                              "client_secret", "password", NULL};
    const char *p = strchr(red, '?'), *amp, *eq;
    CURLU *u = curl_url();
    char *pw = NULL;
    size_t len, i;

    if (u && curl_url_set(u, CURLUPART_URL, red, CURLU_NON_SUPPORT_SCHEME) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_PASSWORD, &pw, 0) == CURLUE_OK && pw && *pw)
        abort();
    curl_free(pw);
    curl_url_cleanup(u);
    for (p = p ? p + 1 : NULL; p && *p && *p != '#'; p = *amp == '&' ? amp + 1 : NULL) {
        amp = p + strcspn(p, "&#");
        eq = memchr(p, '=', (size_t)(amp - p));
        if (!eq)
            continue;
        len = (size_t)(eq - p);
        for (i = 0; secret_keys[i]; i++)
            if (strlen(secret_keys[i]) == len && strncasecmp(p, secret_keys[i], len) == 0 &&
                ((size_t)(amp - eq - 1) != 8 || strncmp(eq + 1, "REDACTED", 8) != 0))
                abort();
    }
}

/* Everything dsvmops does with a URL it got from an answer. */
static void check_url(const char *url)
{
    char *s = NULL;

    dsvm_http_check_url(url, 0);
    dsvm_http_check_url(url, DSVM_HTTP_IMDS);
    if (dsvm_http_redact_url(&s, url) == 0) {
        check_redacted(s);
        free(s);
    }
    s = NULL;
    if (dsvm_http_subscription_of(&s, url) == 0)
        free(s);
}

static void header(const char *name, const char *value)
{
    int64_t ms;

    if (strcasecmp(name, "Retry-After") == 0)
        dsvm_http_parse_retry_after(&ms, value, (time_t)1764000000);
    else if (strcasecmp(name, "Location") == 0 || strcasecmp(name, "Azure-AsyncOperation") == 0)
        check_url(value);
}

/* A list page, as the engine reads it after az_classify said where to look. */
static void list_page(const json_t *doc, const char *body, size_t len)
{
    const char *items_at = json_string_value(json_object_get(doc, "itemsAt"));
    const char *next_at = json_string_value(json_object_get(doc, "nextLinkAt"));
    json_t *answer = json_loadb(body, len, 0, NULL), *items, *item, *next;
    size_t i;

    items = items_at ? json_object_get(answer, items_at) : NULL;
    next = json_object_get(answer, next_at ? next_at : "nextLink");
    json_array_foreach(items, i, item)
    {
        json_t *type = az_type_of_id(json_string_value(json_object_get(item, "id")));

        if (json_is_string(type))
            az_type_find(json_string_value(type));
        json_decref(type);
    }
    if (json_is_string(next))
        check_url(json_string_value(next));
    json_decref(answer);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *end = data + size, *body = data;
    char *head, *line, *next, *colon;
    const char *code, *message;
    dsvm_lro_body lb;
    json_t *j, *doc = NULL;
    int32_t klass;
    long status;
    size_t body_len;

    /* the head ends at the first empty line */
    while (body < end && !(*body == '\n' && body > data && body[-1] == '\n'))
        body++;
    head = fuzz_strndup(data, (size_t)(body - data));
    if (body < end)
        body++;
    body_len = (size_t)(end - body);

    status = strtol(head, &next, 10);
    if (status < 0 || status > 999)
        status = 0;
    for (line = strchr(head, '\n'); line; line = next) {
        *line++ = '\0';
        next = strchr(line, '\n');
        if (next)
            *next = '\0';
        colon = strchr(line, ':');
        if (colon) {
            *colon++ = '\0';
            while (*colon == ' ')
                colon++;
            header(line, colon);
        }
        if (next)
            *next = '\n';
    }

    j = dsvm_http_parse_error_body(&code, &message, (const char *)body, body_len);
    dsvm_http_retryable(0, status, code);
    json_decref(j);
    j = dsvm_lro_parse_body(&lb, (const char *)body, body_len, 1);
    dsvm_lro_is_terminal(lb.state);
    json_decref(j);
    j = dsvm_lro_parse_body(&lb, (const char *)body, body_len, 0);
    dsvm_lro_is_terminal(lb.state);
    json_decref(j);

    if (az_classify(&klass, &doc, (int32_t)status, (const char *)body, body_len) == 0) {
        if (klass == DSVM_ANSWER_OK && doc)
            list_page(doc, (const char *)body, body_len);
        json_decref(doc);
    }
    free(head);
    return 0;
}
