/*
 * Helpers shared by the fuzz targets (header-only, static inline functions).
 *
 * fuzz_tmpdir() returns a directory of this process's own, made on first
 * use under $TMPDIR (else /dev/shm, else /tmp) and removed with its files
 * at exit; the targets whose API reads files (the manifest loader, the
 * configuration) write each input there. It is the one piece of mutable
 * state of a target, which libFuzzer runs many times in one process. A
 * target that crashes leaves it behind; scripts/fuzz.sh points TMPDIR at a
 * directory of its own that it removes.
 */
#ifndef DSVM_FUZZ_UTIL_H
#define DSVM_FUZZ_UTIL_H

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char fuzz_dir[4096];

static inline void fuzz_tmpdir_remove(void)
{
    DIR *d = opendir(fuzz_dir);
    struct dirent *de;
    char path[4096 + 256];

    if (d) {
        while ((de = readdir(d)) != NULL) {
            if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                continue;
            snprintf(path, sizeof(path), "%s/%s", fuzz_dir, de->d_name);
            unlink(path);
        }
        closedir(d);
    }
    rmdir(fuzz_dir);
}

static inline const char *fuzz_tmpdir(void)
{
    const char *base = getenv("TMPDIR");

    if (fuzz_dir[0])
        return fuzz_dir;
    /* memory, when there is a tmpfs: a disk costs a millisecond per file */
    if (!base || !*base)
        base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(fuzz_dir, sizeof(fuzz_dir), "%s/dsvm-fuzz-XXXXXX", base);
    if (!mkdtemp(fuzz_dir)) {
        perror("fuzz: mkdtemp");
        abort();
    }
    atexit(fuzz_tmpdir_remove);
    return fuzz_dir;
}

/* Write `len` bytes to `path`, replacing it; aborts when that fails (the
 * run would test nothing). The old file is unlinked first: on ext4,
 * truncating a file that has data makes close() flush it. */
static inline void fuzz_write_file(const char *path, const uint8_t *data, size_t len)
{
    FILE *f;

    unlink(path);
    f = fopen(path, "wb");

    if (!f || (len && fwrite(data, 1, len, f) != len) || fclose(f) != 0) {
        perror(path);
        abort();
    }
}

/* A NUL-terminated heap copy of the input; aborts on OOM. */
static inline char *fuzz_strndup(const uint8_t *data, size_t len)
{
    char *s = malloc(len + 1);

    if (!s)
        abort();
    if (len)
        memcpy(s, data, len);
    s[len] = '\0';
    return s;
}

#endif
