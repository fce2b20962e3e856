/* core/fw.c — the firmware-file set (see fw.h): a small sorted array under a mutex. Replaced data is
 * kept until the set is destroyed, so a pointer handed out earlier never dangles. */
#include "fw.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define FW_NAME_MAX 55
#define FW_FILE_MAX (16u << 20)

struct fw_file {
    char name[FW_NAME_MAX + 1];
    void *data;
    size_t len;
};

struct fw_files {
    pthread_mutex_t lock;
    struct fw_file *files;
    size_t count, cap;
    void **retired; /* replaced data, freed at destroy */
    size_t nretired;
};

struct fw_files *fw_files_create(void)
{
    struct fw_files *fw = calloc(1, sizeof(*fw));
    if (fw)
        pthread_mutex_init(&fw->lock, NULL);
    return fw;
}

void fw_files_destroy(struct fw_files *fw)
{
    if (!fw)
        return;
    for (size_t i = 0; i < fw->count; i++)
        free(fw->files[i].data);
    for (size_t i = 0; i < fw->nretired; i++)
        free(fw->retired[i]);
    free(fw->files);
    free(fw->retired);
    pthread_mutex_destroy(&fw->lock);
    free(fw);
}

/* True for 1..55 printable, non-space ASCII characters. */
static int fw_valid_name(const char *name)
{
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n > FW_NAME_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (name[i] <= ' ' || name[i] > '~')
            return 0;
    return 1;
}

/* Index of `name` or of where it would go (fw->lock held); *found says which. */
static size_t fw_find(const struct fw_files *fw, const char *name, int *found)
{
    size_t lo = 0, hi = fw->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(fw->files[mid].name, name);
        if (c == 0) {
            *found = 1;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = 0;
    return lo;
}

/* Keeps replaced data alive until destroy (fw->lock held). */
static int fw_retire(struct fw_files *fw, void *data)
{
    void **n = realloc(fw->retired, (fw->nretired + 1) * sizeof(*n));
    if (!n)
        return -ENOMEM;
    fw->retired = n;
    fw->retired[fw->nretired++] = data;
    return 0;
}

int fw_files_add(struct fw_files *fw, const char *name, const void *data, size_t len)
{
    if (!fw_valid_name(name) || (len && !data))
        return -EINVAL;
    if (len > FW_FILE_MAX)
        return -E2BIG;
    void *copy = malloc(len ? len : 1);
    if (!copy)
        return -ENOMEM;
    if (len)
        memcpy(copy, data, len);
    pthread_mutex_lock(&fw->lock);
    int found, rc = 0;
    size_t at = fw_find(fw, name, &found);
    if (found) {
        rc = fw_retire(fw, fw->files[at].data);
        if (rc == 0) {
            fw->files[at].data = copy;
            fw->files[at].len = len;
        }
    } else if (fw->count == fw->cap) {
        size_t cap = fw->cap ? fw->cap * 2 : 16;
        struct fw_file *n = realloc(fw->files, cap * sizeof(*n));
        if (n) {
            fw->files = n;
            fw->cap = cap;
        } else {
            rc = -ENOMEM;
        }
    }
    if (rc == 0 && !found) {
        memmove(&fw->files[at + 1], &fw->files[at], (fw->count - at) * sizeof(*fw->files));
        memset(&fw->files[at], 0, sizeof(fw->files[at]));
        strcpy(fw->files[at].name, name);
        fw->files[at].data = copy;
        fw->files[at].len = len;
        fw->count++;
    }
    pthread_mutex_unlock(&fw->lock);
    if (rc < 0)
        free(copy);
    return rc;
}

int fw_files_get(struct fw_files *fw, const char *name, const void **data, size_t *len)
{
    pthread_mutex_lock(&fw->lock);
    int found;
    size_t at = fw_find(fw, name ? name : "", &found);
    if (found) {
        *data = fw->files[at].data;
        *len = fw->files[at].len;
    }
    pthread_mutex_unlock(&fw->lock);
    return found ? 0 : -ENOENT;
}

int fw_files_at(struct fw_files *fw, size_t index, const char **name, const void **data, size_t *len)
{
    pthread_mutex_lock(&fw->lock);
    int rc = index < fw->count ? 0 : -ENOENT;
    if (rc == 0) {
        *name = fw->files[index].name;
        *data = fw->files[index].data;
        *len = fw->files[index].len;
    }
    pthread_mutex_unlock(&fw->lock);
    return rc;
}
