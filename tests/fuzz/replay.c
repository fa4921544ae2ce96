/*
 * The corpus replayer: a main() for the fuzz targets when they are built
 * without libFuzzer (gcc, the normal sanitizer build). Every argument is a
 * file or a directory; each file (a directory's regular files, in name
 * order) is passed once to LLVMFuzzerTestOneInput(). Arguments that start
 * with '-' are libFuzzer flags and are ignored, so the same command line
 * works for both builds. Exits 1 when a path cannot be read or a directory
 * holds no file; a crash is left to the sanitizers.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Read a whole file into a heap buffer (never NULL on success, even when empty). */
static int read_all(const char *path, uint8_t **out, size_t *len_out)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf = NULL, *grown;
    size_t len = 0, cap = 0, n;

    if (!f)
        return -1;
    do {
        if (len == cap) {
            cap = cap ? cap * 2 : 4096;
            grown = realloc(buf, cap);
            if (!grown) {
                free(buf);
                fclose(f);
                return -1;
            }
            buf = grown;
        }
        n = fread(buf + len, 1, cap - len, f);
        len += n;
    } while (n > 0);
    if (ferror(f)) {
        free(buf);
        fclose(f);
        return -1;
    }
    fclose(f);
    *out = buf;
    *len_out = len;
    return 0;
}

static int run_file(const char *path)
{
    uint8_t *data;
    size_t len;

    if (read_all(path, &data, &len) < 0) {
        fprintf(stderr, "replay: cannot read %s\n", path);
        return -1;
    }
    LLVMFuzzerTestOneInput(data, len);
    free(data);
    return 0;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Run every regular file of `dir`; returns the number run, or -1. */
static long run_dir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    char **names = NULL, **grown, *path;
    size_t n = 0, cap = 0, i;
    long ran = 0;
    struct stat st;

    if (!d) {
        fprintf(stderr, "replay: cannot open %s\n", dir);
        return -1;
    }
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            grown = realloc(names, cap * sizeof(*names));
            if (!grown)
                break;
            names = grown;
        }
        names[n] = strdup(de->d_name);
        if (names[n])
            n++;
    }
    closedir(d);
    if (n)
        qsort(names, n, sizeof(*names), cmp_names);
    for (i = 0; i < n; i++) {
        path = malloc(strlen(dir) + strlen(names[i]) + 2);
        if (path) {
            sprintf(path, "%s/%s", dir, names[i]);
            if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
                if (run_file(path) < 0)
                    ran = -1;
                else if (ran >= 0)
                    ran++;
            }
            free(path);
        }
        free(names[i]);
    }
    free(names);
    return ran;
}

int main(int argc, char **argv)
{
    long total = 0, ran;
    struct stat st;
    int i, bad = 0;

    for (i = 1; i < argc; i++) {
        if (argv[i][0] == '-')
            continue;
        if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode)) {
            ran = run_dir(argv[i]);
            if (ran <= 0) {
                fprintf(stderr, "replay: %s: %s\n", argv[i],
                        ran < 0 ? "cannot replay" : "no input in the directory");
                bad = 1;
            } else {
                total += ran;
            }
        } else if (run_file(argv[i]) < 0) {
            bad = 1;
        } else {
            total++;
        }
    }
    printf("replay: %ld input%s run\n", total, total == 1 ? "" : "s");
    return bad;
}
