/*
 * The armsim process fixture. Control requests use a plain blocking curl
 * easy handle: they are test plumbing, not the code under test.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <curl/curl.h>

#include "armsim_fixture.h"

int armsim_start(armsim *a, const char *const *args)
{
    char *argv[32];
    char line[512];
    int pipefd[2], n = 0;
    pid_t parent = getpid();
    FILE *f;

    memset(a, 0, sizeof(*a));
    argv[n++] = (char *)DSVM_ARMSIM;
    argv[n++] = (char *)"--listen";
    argv[n++] = (char *)"127.0.0.1:0";
    while (args && *args && n < 30)
        argv[n++] = (char *)*args++;
    argv[n] = NULL;
    if (pipe(pipefd) < 0)
        return -1;
    a->pid = fork();
    if (a->pid < 0) {
        close(pipefd[0]);
        close(pipefd[1]);
        return -1;
    }
    if (a->pid == 0) {
        /* die with the test, even when an assertion skips armsim_stop() */
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != parent)
            _exit(127);
        dup2(pipefd[1], STDOUT_FILENO);
        close(pipefd[0]);
        close(pipefd[1]);
        execv(DSVM_ARMSIM, argv);
        _exit(127);
    }
    close(pipefd[1]);
    f = fdopen(pipefd[0], "r");
    if (!f || !fgets(line, sizeof(line), f) || strncmp(line, "armsim listening on ", 20) != 0) {
        if (f)
            fclose(f);
        armsim_stop(a);
        return -1;
    }
    /* armsim writes nothing more to stdout that we need */
    fclose(f);
    line[strcspn(line, "\r\n")] = '\0';
    a->url = strdup(line + 20);
    return a->url ? 0 : -1;
}

void armsim_stop(armsim *a)
{
    int status;

    if (a->pid > 0) {
        kill(a->pid, SIGTERM);
        while (waitpid(a->pid, &status, 0) < 0 && errno == EINTR)
            ;
    }
    a->pid = 0;
    free(a->url);
    a->url = NULL;
}

static size_t collect(char *data, size_t size, size_t nmemb, void *userp)
{
    char **buf = userp;
    size_t old = *buf ? strlen(*buf) : 0, n = size * nmemb;
    char *g = realloc(*buf, old + n + 1);

    if (!g)
        return 0;
    memcpy(g + old, data, n);
    g[old + n] = '\0';
    *buf = g;
    return n;
}

static char *control(const armsim *a, const char *method, const char *path, const char *body)
{
    CURL *e = curl_easy_init();
    char url[512];
    char *out = NULL;
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    long status = 0;

    snprintf(url, sizeof(url), "%s%s", a->url, path);
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
    if (body)
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
    /* control calls are test plumbing: a TLS armsim uses a throw-away certificate */
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &out);
    if (curl_easy_perform(e) != CURLE_OK)
        goto fail;
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    if (status >= 300)
        goto fail;
    curl_slist_free_all(h);
    curl_easy_cleanup(e);
    return out ? out : strdup("");
fail:
    free(out);
    curl_slist_free_all(h);
    curl_easy_cleanup(e);
    return NULL;
}

json_t *armsim_stats(const armsim *a)
{
    char *s = control(a, "GET", "/_armsim/stats", NULL);
    json_t *j = s ? json_loads(s, 0, NULL) : NULL;

    free(s);
    return j;
}

long long armsim_stat(const armsim *a, const char *path)
{
    json_t *root = armsim_stats(a), *j = root;
    char *copy = strdup(path), *save = NULL, *tok;
    long long v;

    for (tok = strtok_r(copy, ".", &save); tok && j; tok = strtok_r(NULL, ".", &save))
        j = json_object_get(j, tok);
    v = json_is_integer(j) ? (long long)json_integer_value(j) : 0;
    free(copy);
    json_decref(root);
    return v;
}

int armsim_fault(const armsim *a, const char *rule)
{
    char *s = control(a, "POST", "/_armsim/faults", rule);

    free(s);
    return s ? 0 : -1;
}
