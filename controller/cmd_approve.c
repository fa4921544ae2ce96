/*
 * dsvmops approve: ask the running daemon to apply its pending plan
 * (reconcile.auto_apply: false), through POST /api/v1/approve on
 * server.listen, with the API token when one is configured.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "cli.h"
#include "config.h"
#include "dsvmops/error.h"
#include "fmt.h"

static void usage(FILE *f)
{
    fputs("usage: dsvmops approve -c CONFIG [--url URL] [--resume | --suspend]\n"
          "\n"
          "Approve the plan the daemon (dsvmops run) keeps waiting when\n"
          "reconcile.auto_apply is false: it applies it at once. The daemon is reached\n"
          "at server.listen; the API token is read from server.api_token_env\n"
          "(default DSVMOPS_API_TOKEN) or server.api_token_file when set.\n"
          "\n"
          "Options:\n"
          "  -c, --config FILE   controller configuration (dsvmops.yaml)\n"
          "      --url URL       the daemon's base URL (default http://<server.listen>)\n"
          "      --suspend       pause applies instead (drift checks go on)\n"
          "      --resume        allow applies again\n"
          "  -h, --help          show this help\n"
          "\n"
          "Exit status: 0 accepted, 1 error (daemon unreachable, refused, or nothing\n"
          "pending).\n",
          f);
}

static size_t collect(char *data, size_t size, size_t n, void *payload)
{
    FILE *f = payload;

    return fwrite(data, size, n, f) * size;
}

int dsvm_cmd_approve(int argc, char **argv)
{
    extern char **environ;
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'}, {"url", required_argument, NULL, 'u'},
        {"suspend", no_argument, NULL, 'S'},      {"resume", no_argument, NULL, 'R'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
    };
    const char *config_path = NULL, *base = NULL, *path = "/api/v1/approve", *body = "";
    dsvm_config *cfg = NULL;
    char *token = NULL, *url = NULL, *auth = NULL, *answer = NULL;
    size_t answer_len = 0;
    struct curl_slist *headers = NULL;
    FILE *out = NULL;
    CURL *h = NULL;
    long status = 0;
    int c, code = DSVM_EXIT_ERROR;
    CURLcode cc;

    optind = 1;
    while ((c = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'c':
            config_path = optarg;
            break;
        case 'u':
            base = optarg;
            break;
        case 'S':
            path = "/api/v1/suspend";
            body = "{\"suspend\": true}";
            break;
        case 'R':
            path = "/api/v1/suspend";
            body = "{\"suspend\": false}";
            break;
        case 'h':
            usage(stdout);
            return DSVM_EXIT_OK;
        default:
            usage(stderr);
            return DSVM_EXIT_ERROR;
        }
    }
    if (optind < argc || !config_path) {
        dsvm_cli_error("approve", "%s",
                       optind < argc ? "unexpected argument" : "-c CONFIG is required");
        return DSVM_EXIT_ERROR;
    }
    if (dsvm_config_load(&cfg, config_path, environ) < 0) {
        dsvm_cli_error("approve", "%s", dsvm_error_last()->message);
        return DSVM_EXIT_ERROR;
    }
    if (dsvm_config_read_secret(&token, &cfg->server.api_token, "server.api_token", environ) < 0)
        token = NULL; /* no token: the daemon serves loopback clients */
    url = base ? dsvm_fmt("%s%s", base, path) : dsvm_fmt("http://%s%s", cfg->server.listen, path);
    auth = token ? dsvm_fmt("Authorization: Bearer %s", token) : NULL;
    out = open_memstream(&answer, &answer_len);
    h = curl_easy_init();
    if (!url || !out || !h || (token && !auth)) {
        dsvm_cli_error("approve", "out of memory");
        goto done;
    }
    headers = curl_slist_append(headers, "Content-Type: application/json");
    if (auth)
        headers = curl_slist_append(headers, auth);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    cc = curl_easy_perform(h);
    fclose(out);
    out = NULL;
    if (cc != CURLE_OK) {
        dsvm_cli_error("approve", "cannot reach the daemon at %s: %s; is 'dsvmops run' running?",
                       url, curl_easy_strerror(cc));
        goto done;
    }
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    if (status >= 200 && status < 300) {
        printf("%s\n", answer ? answer : "");
        code = DSVM_EXIT_OK;
    } else {
        dsvm_cli_error("approve", "the daemon answered %ld: %s", status, answer ? answer : "");
    }
done:
    if (out)
        fclose(out);
    curl_slist_free_all(headers);
    curl_easy_cleanup(h);
    if (token)
        memset(token, 0, strlen(token));
    if (auth)
        memset(auth, 0, strlen(auth));
    free(token);
    free(auth);
    free(url);
    free(answer);
    dsvm_config_free(cfg);
    return code;
}
