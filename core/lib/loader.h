/* The plugin loader: finds plugin files along the search path, loads them
 * with libltdl (binding every symbol at load time), checks the descriptor
 * and ABI, creates one instance per plugin, and remembers every decision
 * for `flue plugins`.  A refused plugin is unloaded before the refusal is
 * returned. */
#ifndef FLUE_LIB_LOADER_H
#define FLUE_LIB_LOADER_H

#include <flue/flue.h>

struct flue_loader;

/* A loaded plugin.  Owned by the loader; valid until flue_loader_free(). */
struct flue_loaded_plugin {
	char *path;                        /* owned: the file loaded */
	void *handle;                      /* owned: lt_dlhandle */
	const struct flue_plugin *desc;    /* borrowed from the plugin */
	char *name;                        /* owned copy of desc->name */
	struct flue_host host;             /* lent to the plugin */
	void *instance;                    /* owned by the plugin (destroy()) */
};

struct flue_loader_dir {
	const char *path;     /* absolute folder */
	const char *origin;   /* "config", "FLUE_PLUGIN_PATH", "project", "installed" */
};

/* Make a loader searching dirs (borrowed, copied) in order.  Initialises
 * libltdl; the matching exit happens in flue_loader_free(). */
int flue_loader_new(struct flue_loader **out,
                    const struct flue_loader_dir *dirs, size_t n_dirs,
                    struct flue_error *err);
/* What the host's "flue.paths" interface tells plugins loaded from now
 * on.  Both strings are borrowed and must outlive the loader. */
void flue_loader_set_paths(struct flue_loader *loader, const char *project_dir,
                           const char *state_dir);
/* Destroy every instance (newest first), unload every plugin. */
void flue_loader_free(struct flue_loader *loader);

/* Load the plugin named (or pathed) by requested, relative paths against
 * base_dir (borrowed), and create its instance with options_json.  Loading
 * the same file twice returns the first load.  On refusal the report
 * records why and err says it, naming the file and the next step. */
int flue_loader_load(struct flue_loader *loader, const char *requested,
                     const char *base_dir, const char *options_json,
                     struct flue_loaded_plugin **out, struct flue_error *err);

/* Load every *.so in the search path that is not loaded yet, recording
 * refusals and shadowed files in the reports.  options_for(name) gives the
 * create() options for a file stem ("{}" when it returns NULL). */
typedef const char *(*flue_loader_options_fn)(void *payload, const char *stem);
void flue_loader_probe_all(struct flue_loader *loader,
                           flue_loader_options_fn options_for, void *payload);

/* The loaded plugin called name, of kind (0 for any); NULL if none. */
struct flue_loaded_plugin *flue_loader_find(struct flue_loader *loader,
                                            const char *name, uint32_t kind);

/* The loaded plugins, in load order. */
size_t flue_loader_count(const struct flue_loader *loader);
struct flue_loaded_plugin *flue_loader_get(struct flue_loader *loader,
                                           size_t index);

size_t flue_loader_report_count(const struct flue_loader *loader);
const struct flue_plugin_report *flue_loader_report(
	const struct flue_loader *loader, size_t index);

/* "sandbox", "provider", "tool" or "unknown". */
const char *flue_plugin_kind_name(uint32_t kind);

#endif
