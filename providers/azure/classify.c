/*
 * What an ARM answer means (design rule 7, arm-wire.md A.4): a table from
 * (status, error.code) to DSVM_ANSWER_*, then the status class. A 200
 * answer is described as {"itemsAt": "value", "nextLinkAt": "nextLink"}
 * (the host reads the page itself, one parse per answer); error answers are
 * parsed into {"error": {"code", "message"}} for the host's log and plan.
 */
#include <string.h>
#include <strings.h>

#include "dsvmops/error.h"
#include "azure.h"

typedef struct {
    int32_t status; /* 0: any status */
    const char *code;
    int32_t answer;
} az_code_rule;

/* First match wins; codes compare case-insensitively. */
static const az_code_rule code_rules[] = {
    {409, "RoleAssignmentExists", DSVM_ANSWER_ALREADY_DONE},
    {409, "AnotherOperationInProgress", DSVM_ANSWER_RETRY},
    {409, "RetryableErrorDueToAnotherOperation", DSVM_ANSWER_RETRY},
    {400, "PrincipalNotFound", DSVM_ANSWER_RETRY},
    {404, "PrincipalNotFound", DSVM_ANSWER_RETRY},
    {404, "ResourceGroupNotFound", DSVM_ANSWER_ABSENT},
    {404, "ResourceNotFound", DSVM_ANSWER_ABSENT},
    {404, "ParentResourceNotFound", DSVM_ANSWER_ABSENT},
};

static int32_t class_of_status(int32_t status)
{
    if (status == 200 || status == 204)
        return DSVM_ANSWER_OK;
    if (status == 201 || status == 202)
        return DSVM_ANSWER_ACCEPTED;
    if (status == 404)
        return DSVM_ANSWER_ABSENT;
    if (status == 429 || status >= 500)
        return DSVM_ANSWER_RETRY;
    return DSVM_ANSWER_FATAL;
}

static int32_t class_of(int32_t status, const char *code)
{
    size_t i;

    for (i = 0; code && i < sizeof(code_rules) / sizeof(code_rules[0]); i++)
        if ((code_rules[i].status == 0 || code_rules[i].status == status) &&
            strcasecmp(code_rules[i].code, code) == 0)
            return code_rules[i].answer;
    return class_of_status(status);
}

int az_classify(int32_t *out_class, json_t **doc, int32_t status, const char *body, size_t body_len)
{
    json_t *answer, *err, *page = NULL;
    const char *code = NULL;

    /* A success is not parsed here: ARM's pages keep their items in
     * "value" and the next page in "nextLink", so the host is told where
     * to look and parses each answer once. */
    if (status == 200) {
        *doc = json_pack("{s:s,s:s}", "itemsAt", "value", "nextLinkAt", "nextLink");
        if (!*doc)
            return DSVM_ENOMEM;
        *out_class = DSVM_ANSWER_OK;
        return 0;
    }
    answer = body_len ? json_loadb(body, body_len, 0, NULL) : NULL;
    err = json_object_get(answer, "error");
    if (json_is_object(err))
        code = json_string_value(json_object_get(err, "code"));
    else if (json_is_string(err))
        code = json_string_value(err); /* OAuth-style answers */
    if (status >= 300) {
        json_t *msg = json_is_object(err) ? json_object_get(err, "message") : NULL;

        page = json_pack("{s:{s:s,s:s}}", "error", "code", code ? code : "", "message",
                         json_is_string(msg) ? json_string_value(msg) : "");
        if (!page) {
            json_decref(answer);
            return DSVM_ENOMEM;
        }
    }
    *out_class = class_of(status, code);
    *doc = page;
    json_decref(answer);
    return 0;
}
