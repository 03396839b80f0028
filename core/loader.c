/* Plugin loader on top of libltdl. See loader.h. */
#include "config.h"

#include "loader.h"
#include "plugin_conf.h"
#include "schema.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <ltdl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#ifndef ECRM_PKGLIBDIR
#define ECRM_PKGLIBDIR "/usr/local/lib/ecrm"
#endif

struct ecrm_loader {
    char **dirs;
    size_t ndirs;
    char *path;                /* dirs joined by ':' */
    struct ecrm_module **mods; /* each allocated alone: callers keep pointers */
    size_t nmods;
};

static const char *const kind_names[] = {"?", "source", "personalizer",
                                         "channel"};
static const char *const kind_sections[] = {"?", "sources", "personalizers",
                                            "channels"};

const char *ecrm_kind_name(enum ecrm_kind kind)
{
    return kind >= ECRM_KIND_SOURCE && kind <= ECRM_KIND_CHANNEL
               ? kind_names[kind]
               : kind_names[0];
}

const char *ecrm_kind_section(enum ecrm_kind kind)
{
    return kind >= ECRM_KIND_SOURCE && kind <= ECRM_KIND_CHANNEL
               ? kind_sections[kind]
               : kind_sections[0];
}

static void add_dir(struct ecrm_loader *l, const char *dir)
{
    char abs[PATH_MAX];
    if (!dir || !*dir)
        return;
    /* Relative entries are resolved now so that nothing is ever looked up
     * relative to whatever the current directory is at load time. */
    const char *d = realpath(dir, abs) ? abs : dir;
    if (d[0] != '/')
        return;
    for (size_t i = 0; i < l->ndirs; i++)
        if (strcmp(l->dirs[i], d) == 0)
            return;
    char **nd = realloc(l->dirs, (l->ndirs + 1) * sizeof *nd);
    if (!nd)
        abort();
    l->dirs = nd;
    l->dirs[l->ndirs++] = ecrm_strdup(d);
}

int ecrm_loader_new(const char *plugin_dir, struct ecrm_loader **out, char *err)
{
    struct ecrm_loader *l = calloc(1, sizeof *l);
    if (!l)
        abort();
    if (lt_dlinit() != 0) {
        snprintf(err, ECRM_ERRMAX, "libltdl: %s", lt_dlerror());
        free(l);
        return ECRM_FAIL;
    }
    /* Only the absolute paths we pass are opened: no implicit search. */
    lt_dlsetsearchpath("");
    add_dir(l, plugin_dir);
    const char *env = getenv("ECRM_PLUGIN_PATH");
    if (env) {
        char *copy = ecrm_strdup(env), *save = NULL;
        for (char *t = strtok_r(copy, ":", &save); t;
             t = strtok_r(NULL, ":", &save))
            add_dir(l, t);
        free(copy);
    }
    add_dir(l, ECRM_PKGLIBDIR);
    size_t n = 1;
    for (size_t i = 0; i < l->ndirs; i++)
        n += strlen(l->dirs[i]) + 1;
    l->path = calloc(1, n);
    if (!l->path)
        abort();
    for (size_t i = 0; i < l->ndirs; i++) {
        if (i)
            strcat(l->path, ":");
        strcat(l->path, l->dirs[i]);
    }
    *out = l;
    return ECRM_OK;
}

void ecrm_loader_free(struct ecrm_loader *l)
{
    if (!l)
        return;
    /* Accepted modules are resident (see load_file): nothing to close. */
    for (size_t i = 0; i < l->nmods; i++) {
        free(l->mods[i]->name);
        free(l->mods[i]->path);
        free(l->mods[i]);
    }
    free(l->mods);
    for (size_t i = 0; i < l->ndirs; i++)
        free(l->dirs[i]);
    free(l->dirs);
    free(l->path);
    free(l);
    /* No lt_dlexit(): it would drop libltdl's list of the resident
     * handles, the one place that still refers to them. */
}

const char *ecrm_loader_path(const struct ecrm_loader *l)
{
    return l->path;
}

int ecrm_plugin_check(const struct ecrm_plugin *p, enum ecrm_kind kind,
                      const char *name, char *err)
{
    if (!p) {
        snprintf(err, ECRM_ERRMAX, "descriptor function returned NULL");
        return ECRM_FAIL;
    }
    if (p->magic != ECRM_PLUGIN_MAGIC) {
        snprintf(err, ECRM_ERRMAX,
                 "bad magic 0x%08x (ecrm plugins have 0x%08x): not an ecrm "
                 "plugin",
                 (unsigned)p->magic, (unsigned)ECRM_PLUGIN_MAGIC);
        return ECRM_FAIL;
    }
    if (p->abi_major != ECRM_ABI_MAJOR) {
        snprintf(err, ECRM_ERRMAX,
                 "plugin ABI %u.%u, ecrm ABI %u.%u: major versions differ, "
                 "rebuild the plugin against this ecrm",
                 p->abi_major, p->abi_minor, ECRM_ABI_MAJOR, ECRM_ABI_MINOR);
        return ECRM_FAIL;
    }
    if (p->abi_minor > ECRM_ABI_MINOR) {
        snprintf(err, ECRM_ERRMAX,
                 "plugin ABI %u.%u is newer than ecrm ABI %u.%u: upgrade ecrm",
                 p->abi_major, p->abi_minor, ECRM_ABI_MAJOR, ECRM_ABI_MINOR);
        return ECRM_FAIL;
    }
    /* Everything up to and including ops is ABI 1.0: a smaller descriptor
     * was not built from our header. */
    size_t min = offsetof(struct ecrm_plugin, ops) + sizeof(p->ops);
    if (p->size < min) {
        snprintf(err, ECRM_ERRMAX,
                 "descriptor too small: %u bytes, ABI %u.%u needs at least %zu",
                 (unsigned)p->size, ECRM_ABI_MAJOR, ECRM_ABI_MINOR, min);
        return ECRM_FAIL;
    }
    if (p->kind != (uint32_t)kind) {
        snprintf(err, ECRM_ERRMAX,
                 "plugin '%s' is a %s plugin, not a %s: it cannot be used in "
                 "'%s'",
                 name, ecrm_kind_name((enum ecrm_kind)p->kind),
                 ecrm_kind_name(kind), ecrm_kind_section(kind));
        return ECRM_FAIL;
    }
    if (!p->name || strcmp(p->name, name) != 0) {
        snprintf(err, ECRM_ERRMAX,
                 "descriptor names the plugin '%s' but its file is %s_%s",
                 p->name ? p->name : "(null)", ecrm_kind_name(kind), name);
        return ECRM_FAIL;
    }
    if (!p->init || !p->destroy || !p->ops) {
        snprintf(err, ECRM_ERRMAX, "descriptor lacks %s",
                 !p->init      ? "init()"
                 : !p->destroy ? "destroy()"
                               : "ops");
        return ECRM_FAIL;
    }
    /* The ops of ABI 1.0; members added later are read only when the
     * table's size covers them. */
    uint32_t ops_size = *(const uint32_t *)p->ops;
    size_t ops_min = kind == ECRM_KIND_SOURCE ? sizeof(struct ecrm_source_ops)
                     /* similar() and refine() came with ABI 1.3: optional */
                     : kind == ECRM_KIND_PERSONALIZER
                         ? offsetof(struct ecrm_personalizer_ops, similar)
                         /* prepare() came with ABI 1.1: optional */
                         : offsetof(struct ecrm_channel_ops, prepare);
    if (ops_size < ops_min) {
        snprintf(err, ECRM_ERRMAX,
                 "%s ops table too small: %u bytes, ABI %u.%u needs %zu",
                 ecrm_kind_name(kind), (unsigned)ops_size, ECRM_ABI_MAJOR,
                 ECRM_ABI_MINOR, ops_min);
        return ECRM_FAIL;
    }
    struct ecrm_diag d = {0};
    if (ecrm_schema_validate_ex(p->options, ecrm_plugin_records(p), name, &d) >
        0) {
        snprintf(err, ECRM_ERRMAX, "bad option schema: %s", d.msgs[0]);
        ecrm_diag_clear(&d);
        return ECRM_FAIL;
    }
    return ECRM_OK;
}

/* Refuse a path that anyone may write to: whoever can write there can make
 * ecrm run their code. */
static int check_not_world_writable(const char *path, const char *what,
                                    char *err)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return ECRM_OK; /* absent: nothing to load from it */
    if (st.st_mode & S_IWOTH) {
        snprintf(err, ECRM_ERRMAX,
                 "refusing to load plugins from %s %s: it is world-writable "
                 "(mode %04o)",
                 what, path, (unsigned)(st.st_mode & 07777));
        return ECRM_FAIL;
    }
    return ECRM_OK;
}

static int file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* Find DIR/KIND_NAME.la or .so; returns the base path (no extension) and the
 * file found, or NULL. */
static int find_module(struct ecrm_loader *l, const char *stem, char *file,
                       size_t len, const char **dir)
{
    static const char *const exts[] = {".la", ".so"};
    for (size_t i = 0; i < l->ndirs; i++)
        for (size_t e = 0; e < 2; e++) {
            snprintf(file, len, "%s/%s%s", l->dirs[i], stem, exts[e]);
            if (file_exists(file)) {
                *dir = l->dirs[i];
                return 1;
            }
        }
    return 0;
}

static int open_module(const char *dir, const char *file, lt_dlhandle *out,
                       char *err)
{
    char libs[PATH_MAX];
    if (check_not_world_writable(dir, "directory", err) ||
        check_not_world_writable(file, "file", err))
        return ECRM_FAIL;
    /* A libtool archive points into .libs/ in a build tree. */
    snprintf(libs, sizeof libs, "%s/.libs", dir);
    if (check_not_world_writable(libs, "directory", err))
        return ECRM_FAIL;
    lt_dladvise advise;
    if (lt_dladvise_init(&advise) || lt_dladvise_local(&advise)) {
        snprintf(err, ECRM_ERRMAX, "libltdl: %s", lt_dlerror());
        return ECRM_FAIL;
    }
    *out = lt_dlopenadvise(file, advise);
    lt_dladvise_destroy(&advise);
    if (!*out) {
        snprintf(err, ECRM_ERRMAX, "cannot load %s: %s", file, lt_dlerror());
        return ECRM_FAIL;
    }
    return ECRM_OK;
}

typedef const struct ecrm_plugin *(*descriptor_fn)(void);

static int load_file(struct ecrm_loader *l, enum ecrm_kind kind,
                     const char *name, const char *dir, const char *file,
                     const struct ecrm_module **out, char *err)
{
    lt_dlhandle h = NULL;
    if (open_module(dir, file, &h, err))
        return ECRM_FAIL;
    /* POSIX guarantees dlsym() for functions; the descriptor is returned by
     * one instead of being exported as data. */
    union {
        void *p;
        descriptor_fn fn;
    } sym;
    sym.p = lt_dlsym(h, ECRM_PLUGIN_SYMBOL);
    if (!sym.p) {
        snprintf(err, ECRM_ERRMAX, "%s has no symbol %s(): not an ecrm plugin",
                 file, ECRM_PLUGIN_SYMBOL);
        lt_dlclose(h);
        return ECRM_FAIL;
    }
    const struct ecrm_plugin *p = sym.fn();
    char why[ECRM_ERRMAX];
    if (ecrm_plugin_check(p, kind, name, why) != ECRM_OK) {
        snprintf(err, ECRM_ERRMAX, "%s: %s", file, why);
        lt_dlclose(h);
        return ECRM_FAIL;
    }
    /* An accepted plugin stays mapped until the process exits: the
     * libraries it pulls in (libcurl, GnuTLS and their thread-local state)
     * are not made to be unloaded, and a module gone from under a
     * sanitizer's or a debugger's symbolizer makes its reports useless. */
    if (lt_dlmakeresident(h)) {
        snprintf(err, ECRM_ERRMAX, "libltdl: %s", lt_dlerror());
        lt_dlclose(h);
        return ECRM_FAIL;
    }
    struct ecrm_module **m = realloc(l->mods, (l->nmods + 1) * sizeof *m);
    struct ecrm_module *e = calloc(1, sizeof *e);
    if (!m || !e)
        abort();
    l->mods = m;
    l->mods[l->nmods++] = e;
    e->desc = p;
    e->kind = kind;
    e->name = ecrm_strdup(name);
    e->path = ecrm_strdup(file);
    *out = e;
    return ECRM_OK;
}

static int valid_name(const char *name)
{
    if (!*name || strlen(name) > 64)
        return 0;
    for (const char *c = name; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') ||
              *c == '_'))
            return 0;
    return 1;
}

int ecrm_loader_load(struct ecrm_loader *l, enum ecrm_kind kind,
                     const char *name, const struct ecrm_module **out,
                     char *err)
{
    for (size_t i = 0; i < l->nmods; i++)
        if (l->mods[i]->kind == kind && strcmp(l->mods[i]->name, name) == 0) {
            *out = l->mods[i];
            return ECRM_OK;
        }
    if (!valid_name(name)) {
        snprintf(err, ECRM_ERRMAX,
                 "invalid plugin name '%s' (use a-z, 0-9 and _)", name);
        return ECRM_FAIL;
    }
    char stem[128], file[PATH_MAX];
    const char *dir = NULL;
    snprintf(stem, sizeof stem, "%s_%s", ecrm_kind_name(kind), name);
    if (!find_module(l, stem, file, sizeof file, &dir)) {
        snprintf(err, ECRM_ERRMAX,
                 "no %s plugin '%s' (looked for %s.la/.so in %s)",
                 ecrm_kind_name(kind), name, stem,
                 l->path[0] ? l->path : "(empty path)");
        return ECRM_FAIL;
    }
    return load_file(l, kind, name, dir, file, out, err);
}

static enum ecrm_kind kind_of_stem(const char *stem, const char **name)
{
    for (int k = ECRM_KIND_SOURCE; k <= ECRM_KIND_CHANNEL; k++) {
        size_t n = strlen(kind_names[k]);
        if (strncmp(stem, kind_names[k], n) == 0 && stem[n] == '_') {
            *name = stem + n + 1;
            return (enum ecrm_kind)k;
        }
    }
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

void ecrm_loader_list(struct ecrm_loader *l, ecrm_loader_list_cb cb, void *arg)
{
    char **seen = NULL;
    size_t nseen = 0;
    for (size_t i = 0; i < l->ndirs; i++) {
        DIR *d = opendir(l->dirs[i]);
        if (!d)
            continue;
        char **names = NULL;
        size_t nn = 0;
        struct dirent *de;
        while ((de = readdir(d))) {
            size_t len = strlen(de->d_name);
            if (len < 4 || (strcmp(de->d_name + len - 3, ".la") != 0 &&
                            strcmp(de->d_name + len - 3, ".so") != 0))
                continue;
            char *stem = strndup(de->d_name, len - 3);
            const char *name;
            int dup = 0;
            for (size_t s = 0; s < nseen && !dup; s++)
                dup = strcmp(seen[s], stem) == 0;
            if (dup || !kind_of_stem(stem, &name)) {
                free(stem);
                continue;
            }
            seen = realloc(seen, (nseen + 1) * sizeof *seen);
            names = realloc(names, (nn + 1) * sizeof *names);
            if (!seen || !names)
                abort();
            seen[nseen++] = stem;
            names[nn++] = stem;
        }
        closedir(d);
        if (nn > 1) /* qsort(NULL, 0, ...) is undefined */
            qsort(names, nn, sizeof *names, cmp_str);
        for (size_t j = 0; j < nn; j++) {
            const char *name;
            enum ecrm_kind k = kind_of_stem(names[j], &name);
            char err[ECRM_ERRMAX] = "", file[PATH_MAX];
            const struct ecrm_module *mod = NULL;
            const char *dir = NULL;
            if (!find_module(l, names[j], file, sizeof file, &dir) ||
                ecrm_loader_load(l, k, name, &mod, err) != ECRM_OK)
                mod = NULL;
            cb(arg, k, name, file, mod, err);
        }
        free(names);
    }
    for (size_t s = 0; s < nseen; s++)
        free(seen[s]);
    free(seen);
}
