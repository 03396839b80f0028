/*
 * Plugin loader: finds a module named KIND_NAME (.la or .so) on the search
 * path (--plugin-dir, then $ECRM_PLUGIN_PATH, then the installed pkglibdir;
 * never the current directory, never a world-writable directory), opens it
 * with libltdl, fetches its one exported function and checks the descriptor
 * before anything else of it is used.
 */
#ifndef ECRM_CORE_LOADER_H
#define ECRM_CORE_LOADER_H

#include <ecrm/plugin.h>

struct ecrm_loader;

/* A loaded, checked plugin module; owned by the loader. */
struct ecrm_module {
    const struct ecrm_plugin *desc;
    enum ecrm_kind kind;
    char *name; /* plugin name (without the kind prefix) */
    char *path; /* file it was loaded from */
};

/* "source", "personalizer", "channel" (or "?"). */
const char *ecrm_kind_name(enum ecrm_kind kind);
/* The YAML section of a kind: "sources", "personalizers", "channels". */
const char *ecrm_kind_section(enum ecrm_kind kind);

/* Create a loader. PLUGIN_DIR (may be NULL) is searched first; relative
 * directories are made absolute. Returns ECRM_OK or ECRM_FAIL (err set). The
 * caller frees *OUT with ecrm_loader_free(). */
int ecrm_loader_new(const char *plugin_dir, struct ecrm_loader **out,
                    char *err);
/* Close every module and free the loader; NULL is accepted. */
void ecrm_loader_free(struct ecrm_loader *l);

/* The search path, ':'-separated, for messages. Owned by the loader. */
const char *ecrm_loader_path(const struct ecrm_loader *l);

/* Load (once; later calls return the same module) plugin NAME of KIND.
 * On ECRM_FAIL, err says what is wrong: not found (with the path searched),
 * world-writable location, libltdl error, missing symbol, or the descriptor
 * check's reason. *OUT is owned by the loader. */
int ecrm_loader_load(struct ecrm_loader *l, enum ecrm_kind kind,
                     const char *name, const struct ecrm_module **out,
                     char *err);

/* Check a descriptor obtained from a module file named KIND_NAME. Reads no
 * member beyond what the descriptor's own size covers. Returns ECRM_OK, or
 * ECRM_FAIL with err naming the field that differs, e.g. "plugin ABI 2.0,
 * ecrm ABI 1.0: major versions differ". */
int ecrm_plugin_check(const struct ecrm_plugin *p, enum ecrm_kind kind,
                      const char *name, char *err);

/* Call CB for every plugin module file found on the search path (first
 * occurrence of each KIND_NAME wins). MOD is NULL when the module was
 * refused; then ERR says why. */
typedef void (*ecrm_loader_list_cb)(void *arg, enum ecrm_kind kind,
                                    const char *name, const char *path,
                                    const struct ecrm_module *mod,
                                    const char *err);
void ecrm_loader_list(struct ecrm_loader *l, ecrm_loader_list_cb cb, void *arg);

#endif /* ECRM_CORE_LOADER_H */
