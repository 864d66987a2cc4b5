/*
 * Plugin loading.
 *
 * libltdl's own dlopen loader binds lazily, so a plugin with a missing
 * symbol would load and crash at its first call.  We register a loader
 * of our own that opens with RTLD_NOW | RTLD_LOCAL and remove the stock
 * one, so every load either resolves completely or fails here, with the
 * dynamic linker's message.  libltdl is not thread-safe: every call into
 * it happens under ltdl_lock.
 */
#include "config.h"

#include <ctype.h>
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ltdl.h>

#include "common.h"
#include "error.h"
#include "host.h"
#include "loader.h"

#define PLUGIN_NAME_MAX 64

struct report {
	struct flue_plugin_report pub;   /* strings below are owned copies */
};

struct flue_loader {
	struct flue_loader_dir *dirs;    /* owned, strings owned */
	size_t n_dirs;
	struct flue_loaded_plugin **plugins;  /* owned, load order */
	size_t n_plugins;
	struct report *reports;          /* owned */
	size_t n_reports;
	struct flue_host_paths paths;    /* strings borrowed from the harness;
	                                    lent to every plugin's host */
};

/* ---- libltdl set-up, shared by every loader in the process ---------- */

static pthread_mutex_t ltdl_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned ltdl_users;
static char bindnow_error[512];  /* last dlerror() of our loader */

static lt_module
bindnow_open(lt_user_data data, const char *filename, lt_dladvise advise)
{
	void *module;

	(void)data;
	(void)advise;
	module = dlopen(filename, RTLD_NOW | RTLD_LOCAL);
	if (module == NULL) {
		const char *why = dlerror();

		snprintf(bindnow_error, sizeof(bindnow_error), "%s",
		         why ? why : "unknown dynamic loader error");
	}
	return module;
}

static int
bindnow_close(lt_user_data data, lt_module module)
{
	(void)data;
	return dlclose(module) == 0 ? 0 : 1;
}

static void *
bindnow_sym(lt_user_data data, lt_module module, const char *symbol)
{
	(void)data;
	return dlsym(module, symbol);
}

static const lt_dlvtable bindnow_template = {
	.name = "flue_bindnow",
	.sym_prefix = NULL,
	.module_open = bindnow_open,
	.module_close = bindnow_close,
	.find_sym = bindnow_sym,
	.priority = LT_DLLOADER_PREPEND,
};

static int
ltdl_acquire(struct flue_error *err)
{
	int rc = 0;

	pthread_mutex_lock(&ltdl_lock);
	if (ltdl_users == 0) {
		if (lt_dlinit() != 0) {
			rc = flue_error_set(err, FLUE_ERROR,
			                    "cannot initialise libltdl: %s",
			                    lt_dlerror());
		} else {
			/* Our loader only: the stock one would retry lazily.
			 * libltdl frees loader tables in lt_dlexit(), so ours
			 * is heap-allocated, and the removed one is freed. */
			lt_dlvtable *vtable = lt_dlloader_remove("lt_dlopen");

			free(vtable);
			vtable = malloc(sizeof(*vtable));
			if (vtable != NULL)
				*vtable = bindnow_template;
			if (vtable == NULL || lt_dlloader_add(vtable) != 0) {
				free(vtable);
				rc = flue_error_set(err, FLUE_ERROR,
				                    "cannot register the plugin loader: %s",
				                    lt_dlerror());
				lt_dlexit();
			}
		}
	}
	if (rc == 0)
		ltdl_users++;
	pthread_mutex_unlock(&ltdl_lock);
	return rc;
}

static void
ltdl_release(void)
{
	pthread_mutex_lock(&ltdl_lock);
	if (ltdl_users > 0 && --ltdl_users == 0)
		lt_dlexit();
	pthread_mutex_unlock(&ltdl_lock);
}

#if defined(__SANITIZE_ADDRESS__)
#define FLUE_KEEP_PLUGINS_MAPPED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FLUE_KEEP_PLUGINS_MAPPED 1
#endif
#endif

/* keep_mapped: a plugin that was in use.  LeakSanitizer scans every
 * thread's dynamic TLS at exit; a library unloaded with a plugin
 * (libcurl's TLS stack) leaves a stale entry that makes it crash, so
 * sanitizer builds keep used plugins mapped (their destroy() still runs;
 * refused ones are unloaded as always). */
static void
ltdl_close(void *handle, int keep_mapped)
{
	pthread_mutex_lock(&ltdl_lock);
#ifdef FLUE_KEEP_PLUGINS_MAPPED
	if (keep_mapped)
		lt_dlmakeresident((lt_dlhandle)handle);
#else
	(void)keep_mapped;
#endif
	lt_dlclose((lt_dlhandle)handle);
	pthread_mutex_unlock(&ltdl_lock);
}

/* ---- small helpers ------------------------------------------------- */

const char *
flue_plugin_kind_name(uint32_t kind)
{
	switch (kind) {
	case FLUE_PLUGIN_SANDBOX: return "sandbox";
	case FLUE_PLUGIN_PROVIDER: return "provider";
	case FLUE_PLUGIN_TOOL: return "tool";
	default: return "unknown";
	}
}

static char *
dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

static int
valid_plugin_name(const char *name)
{
	size_t len = 0;

	if (name == NULL || *name == '\0')
		return 0;
	for (const char *p = name; *p; p++, len++)
		if (!(islower((unsigned char)*p) || isdigit((unsigned char)*p) ||
		      *p == '-' || *p == '_'))
			return 0;
	return len <= PLUGIN_NAME_MAX;
}

static int
looks_like_path(const char *requested)
{
	size_t len = strlen(requested);

	return strchr(requested, '/') != NULL ||
	       (len > 3 && strcmp(requested + len - 3, ".so") == 0);
}

/* "dir/name.so" -> "name" (owned). */
static char *
file_stem(const char *path)
{
	const char *base = strrchr(path, '/');
	size_t len;
	char *stem;

	base = base ? base + 1 : path;
	len = strlen(base);
	if (len > 3 && strcmp(base + len - 3, ".so") == 0)
		len -= 3;
	stem = malloc(len + 1);
	if (stem != NULL) {
		memcpy(stem, base, len);
		stem[len] = '\0';
	}
	return stem;
}

static char *
join_path(const char *dir, const char *name, const char *suffix)
{
	size_t len = strlen(dir) + 1 + strlen(name) + strlen(suffix) + 1;
	char *path = malloc(len);

	if (path != NULL)
		snprintf(path, len, "%s/%s%s", dir, name, suffix);
	return path;
}

/* ---- reports ------------------------------------------------------- */

static struct report *
report_add(struct flue_loader *loader, const char *requested,
           const char *path, const char *origin)
{
	struct report *grown, *r;

	grown = realloc(loader->reports,
	                (loader->n_reports + 1) * sizeof(*loader->reports));
	if (grown == NULL)
		return NULL;
	loader->reports = grown;
	r = &loader->reports[loader->n_reports++];
	memset(r, 0, sizeof(*r));
	r->pub.requested = dup_or_null(requested);
	r->pub.path = dup_or_null(path);
	r->pub.origin = dup_or_null(origin);
	return r;
}

static void
report_describe(struct report *r, const struct flue_plugin *desc,
                int full)
{
	r->pub.abi_major = desc->abi_major;
	r->pub.abi_minor = desc->abi_minor;
	if (!full)
		return;
	r->pub.name = dup_or_null(desc->name);
	r->pub.version = dup_or_null(desc->version);
	r->pub.description = dup_or_null(desc->description);
	r->pub.kind = dup_or_null(flue_plugin_kind_name(desc->kind));
}

static void
report_clear(struct report *r)
{
	free((char *)r->pub.requested);
	free((char *)r->pub.path);
	free((char *)r->pub.origin);
	free((char *)r->pub.name);
	free((char *)r->pub.version);
	free((char *)r->pub.description);
	free((char *)r->pub.kind);
	free((char *)r->pub.refusal);
}

/* Record err as r's refusal and return err's code. */
static int
refuse(struct report *r, struct flue_error *err)
{
	if (r != NULL && r->pub.refusal == NULL)
		r->pub.refusal = strdup(err->message);
	return err->code;
}

/* ---- the loader ---------------------------------------------------- */

int
flue_loader_new(struct flue_loader **out, const struct flue_loader_dir *dirs,
                size_t n_dirs, struct flue_error *err)
{
	struct flue_loader *loader;
	int rc;

	*out = NULL;
	rc = ltdl_acquire(err);
	if (rc != 0)
		return rc;
	/* From here on flue_loader_free() undoes everything, ltdl included. */
	loader = calloc(1, sizeof(*loader));
	if (loader == NULL) {
		ltdl_release();
		return flue_error_set(err, FLUE_ENOMEM, "out of memory");
	}
	loader->dirs = calloc(n_dirs ? n_dirs : 1, sizeof(*loader->dirs));
	if (loader->dirs == NULL)
		goto oom;
	for (size_t i = 0; i < n_dirs; i++) {
		loader->dirs[i].path = strdup(dirs[i].path);
		loader->dirs[i].origin = strdup(dirs[i].origin);
		loader->n_dirs++;
		if (loader->dirs[i].path == NULL || loader->dirs[i].origin == NULL)
			goto oom;
	}
	*out = loader;
	return 0;
oom:
	flue_loader_free(loader);
	return flue_error_set(err, FLUE_ENOMEM, "out of memory");
}

static void
plugin_unload(struct flue_loaded_plugin *plugin)
{
	if (plugin->instance != NULL && plugin->desc->destroy != NULL)
		plugin->desc->destroy(plugin->instance);
	if (plugin->handle != NULL)
		ltdl_close(plugin->handle, 1);
	free(plugin->path);
	free(plugin->name);
	free(plugin);
}

void
flue_loader_free(struct flue_loader *loader)
{
	if (loader == NULL)
		return;
	/* Newest first: a later plugin may have been created using an
	 * earlier one's services. */
	for (size_t i = loader->n_plugins; i-- > 0;)
		plugin_unload(loader->plugins[i]);
	free(loader->plugins);
	for (size_t i = 0; i < loader->n_reports; i++)
		report_clear(&loader->reports[i]);
	free(loader->reports);
	for (size_t i = 0; i < loader->n_dirs; i++) {
		free((char *)loader->dirs[i].path);
		free((char *)loader->dirs[i].origin);
	}
	free(loader->dirs);
	free(loader);
	ltdl_release();
}

/* Find name.so along the search path.  Returns an owned path and sets
 * *origin, or NULL when no folder has it. */
static char *
search_plugin(const struct flue_loader *loader, const char *name,
              const char **origin)
{
	struct stat st;

	for (size_t i = 0; i < loader->n_dirs; i++) {
		char *path = join_path(loader->dirs[i].path, name, ".so");

		if (path == NULL)
			return NULL;
		/* Anything there counts as found; checks come later. */
		if (lstat(path, &st) == 0) {
			*origin = loader->dirs[i].origin;
			return path;
		}
		free(path);
	}
	return NULL;
}

static int
not_found(const struct flue_loader *loader, const char *name,
          struct flue_error *err)
{
	char looked[768] = "";
	size_t used = 0;

	for (size_t i = 0; i < loader->n_dirs && used < sizeof(looked); i++) {
		int n = snprintf(looked + used, sizeof(looked) - used, "%s%s",
		                 i ? ", " : "", loader->dirs[i].path);

		if (n < 0)
			break;
		used += (size_t)n;
	}
	return flue_error_set(err, FLUE_ENOENT,
	        "plugin '%s' not found (looked for %s.so in: %s); install it, "
	        "or add its folder to plugin_path in flue.yaml or to "
	        "FLUE_PLUGIN_PATH", name, name, looked[0] ? looked : "nowhere");
}

/* The cheap checks before anything is mapped: a regular file with an ELF
 * header. */
static int
check_file(const char *path, struct flue_error *err)
{
	unsigned char magic[4];
	struct stat st;
	ssize_t got;
	int fd;

	if (stat(path, &st) != 0)
		return flue_error_set(err, flue_status_from_errno(errno),
		                      "cannot read plugin %s: %s", path,
		                      strerror(errno));
	if (!S_ISREG(st.st_mode))
		return flue_error_set(err, FLUE_EINVAL,
		        "plugin %s is not a regular file; point flue at the "
		        "plugin's .so file", path);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return flue_error_set(err, flue_status_from_errno(errno),
		                      "cannot read plugin %s: %s", path,
		                      strerror(errno));
	got = read(fd, magic, sizeof(magic));
	close(fd);
	if (got != (ssize_t)sizeof(magic) || memcmp(magic, "\177ELF", 4) != 0)
		return flue_error_set(err, FLUE_EINVAL,
		        "plugin %s is not a shared object (no ELF header); build "
		        "it with `cc -shared -fPIC $(pkg-config --cflags flue)` "
		        "or `flue build`", path);
	return 0;
}

static int
open_module(const char *path, lt_dlhandle *out, struct flue_error *err)
{
	lt_dladvise advise;
	lt_dlhandle handle = NULL;
	int rc = 0;

	pthread_mutex_lock(&ltdl_lock);
	bindnow_error[0] = '\0';
	if (lt_dladvise_init(&advise) == 0) {
		lt_dladvise_local(&advise);
		handle = lt_dlopenadvise(path, advise);
		lt_dladvise_destroy(&advise);
	}
	if (handle == NULL) {
		const char *ltdl_why = lt_dlerror();

		rc = flue_error_set(err, FLUE_EINVAL,
		        "cannot load plugin %s: %s; check that the libraries it "
		        "needs are installed (`ldd %s`) and that it was built "
		        "against <flue/plugin.h> only", path,
		        bindnow_error[0] ? bindnow_error :
		        (ltdl_why ? ltdl_why : "unknown error"), path);
	}
	pthread_mutex_unlock(&ltdl_lock);
	*out = handle;
	return rc;
}

static int
check_version(const char *path, const struct flue_plugin *desc,
              struct flue_error *err)
{
	if (desc->abi_major != FLUE_PLUGIN_ABI_MAJOR)
		return flue_error_set(err, FLUE_EABI,
		        "plugin %s was built for plugin ABI %u.%u, but this flue "
		        "supports ABI %d.%d; rebuild the plugin against flue %s's "
		        "<flue/plugin.h>", path, desc->abi_major, desc->abi_minor,
		        FLUE_PLUGIN_ABI_MAJOR, FLUE_PLUGIN_ABI_MINOR,
		        PACKAGE_VERSION);
	if (desc->abi_minor > FLUE_PLUGIN_ABI_MINOR)
		return flue_error_set(err, FLUE_EABI,
		        "plugin %s needs plugin ABI %u.%u, but this flue provides "
		        "ABI %d.%d; upgrade flue or use a build of the plugin for "
		        "ABI %d.%d", path, desc->abi_major, desc->abi_minor,
		        FLUE_PLUGIN_ABI_MAJOR, FLUE_PLUGIN_ABI_MINOR,
		        FLUE_PLUGIN_ABI_MAJOR, FLUE_PLUGIN_ABI_MINOR);
	if (desc->size < FLUE_PLUGIN_SIZE_1_0)
		return flue_error_set(err, FLUE_EABI,
		        "plugin %s has a %u-byte descriptor, smaller than the %zu "
		        "bytes of ABI %d.0; it is damaged or was built against a "
		        "different header: rebuild it", path, desc->size,
		        (size_t)FLUE_PLUGIN_SIZE_1_0, FLUE_PLUGIN_ABI_MAJOR);
	return 0;
}

/* The sizes of the operation tables at ABI 1.0: a table may be larger
 * (a newer minor version appends members) but never smaller.  Comparing
 * with sizeof() instead would refuse every 1.0 plugin as soon as a member
 * is appended. */
#define END_OF(type, member) \
	(offsetof(type, member) + sizeof(((type *)0)->member))
#define SANDBOX_OPS_SIZE_1_0 END_OF(struct flue_sandbox_ops, exec)
#define PROVIDER_OPS_SIZE_1_0 END_OF(struct flue_provider_ops, stream)
#define TOOL_OPS_SIZE_1_0 END_OF(struct flue_tool_ops, call)

#define OPS_COMPLETE_SANDBOX(o) \
	((o) != NULL && (o)->size >= SANDBOX_OPS_SIZE_1_0 && \
	 (o)->open && (o)->close && (o)->workdir && (o)->read_file && \
	 (o)->write_file && (o)->stat && (o)->list_dir && (o)->exists && \
	 (o)->mkdir && (o)->remove && (o)->exec)

static int
check_descriptor(const char *path, const struct flue_plugin *desc,
                 struct flue_error *err)
{
	int complete;

	if (!valid_plugin_name(desc->name))
		return flue_error_set(err, FLUE_EINVAL,
		        "plugin %s has an invalid name \"%s\"; names are 1 to %d "
		        "characters of a-z, 0-9, '-' and '_'", path,
		        desc->name ? desc->name : "(null)", PLUGIN_NAME_MAX);
	if (desc->create == NULL || desc->destroy == NULL)
		return flue_error_set(err, FLUE_EINVAL,
		        "plugin %s lacks create() or destroy()", path);
	switch (desc->kind) {
	case FLUE_PLUGIN_SANDBOX:
		complete = OPS_COMPLETE_SANDBOX(desc->sandbox);
		break;
	case FLUE_PLUGIN_PROVIDER:
		complete = desc->provider != NULL &&
		           desc->provider->size >= PROVIDER_OPS_SIZE_1_0 &&
		           desc->provider->stream != NULL;
		break;
	case FLUE_PLUGIN_TOOL:
		complete = desc->tool != NULL &&
		           desc->tool->size >= TOOL_OPS_SIZE_1_0 &&
		           desc->tool->declarations != NULL &&
		           desc->tool->call != NULL;
		break;
	default:
		return flue_error_set(err, FLUE_EINVAL,
		        "plugin %s has unknown kind %u (expected sandbox, provider "
		        "or tool)", path, desc->kind);
	}
	if (!complete)
		return flue_error_set(err, FLUE_EINVAL,
		        "plugin %s (%s) has an incomplete %s operation table; "
		        "every required operation must be set", path, desc->name,
		        flue_plugin_kind_name(desc->kind));
	return 0;
}

static struct flue_loaded_plugin *
find_by_path(struct flue_loader *loader, const char *path)
{
	for (size_t i = 0; i < loader->n_plugins; i++)
		if (strcmp(loader->plugins[i]->path, path) == 0)
			return loader->plugins[i];
	return NULL;
}

void
flue_loader_set_paths(struct flue_loader *loader, const char *project_dir,
                      const char *state_dir)
{
	loader->paths.size = sizeof(loader->paths);
	loader->paths.project_dir = project_dir;
	loader->paths.state_dir = state_dir;
}

struct flue_loaded_plugin *
flue_loader_find(struct flue_loader *loader, const char *name, uint32_t kind)
{
	for (size_t i = 0; i < loader->n_plugins; i++) {
		struct flue_loaded_plugin *p = loader->plugins[i];

		if (strcmp(p->name, name) == 0 &&
		    (kind == 0 || p->desc->kind == kind))
			return p;
	}
	return NULL;
}

/* dlopen + descriptor checks + create().  On failure nothing stays
 * loaded. */
static int
load_file(struct flue_loader *loader, const char *path,
          const char *options_json, struct report *r,
          struct flue_loaded_plugin **out, struct flue_error *err)
{
	struct flue_loaded_plugin *plugin, *other, **grown;
	struct flue_error create_err = {0};
	flue_plugin_entry_fn entry;
	lt_dlhandle handle;
	int rc;

	if ((rc = check_file(path, err)) != 0)
		return rc;
	if ((rc = open_module(path, &handle, err)) != 0)
		return rc;
	pthread_mutex_lock(&ltdl_lock);
	*(void **)&entry = lt_dlsym(handle, FLUE_PLUGIN_ENTRY_SYMBOL);
	pthread_mutex_unlock(&ltdl_lock);
	if (entry == NULL) {
		rc = flue_error_set(err, FLUE_EINVAL,
		        "plugin %s does not export flue_plugin_entry(); define it "
		        "with FLUE_PLUGIN_EXPORT and link with "
		        "-export-symbols-regex '^flue_plugin_entry$'", path);
		goto fail;
	}
	plugin = calloc(1, sizeof(*plugin));
	if (plugin == NULL) {
		rc = flue_error_set(err, FLUE_ENOMEM, "out of memory");
		goto fail;
	}
	plugin->desc = entry();
	if (plugin->desc == NULL) {
		rc = flue_error_set(err, FLUE_EINVAL,
		        "plugin %s returned no descriptor from "
		        "flue_plugin_entry()", path);
		goto fail_plugin;
	}
	report_describe(r, plugin->desc, 0);
	if ((rc = check_version(path, plugin->desc, err)) != 0)
		goto fail_plugin;
	if ((rc = check_descriptor(path, plugin->desc, err)) != 0)
		goto fail_plugin;
	report_describe(r, plugin->desc, 1);
	other = flue_loader_find(loader, plugin->desc->name, 0);
	if (other != NULL) {
		rc = flue_error_set(err, FLUE_EEXIST,
		        "plugin %s is named '%s', but a plugin of that name is "
		        "already loaded from %s; remove one of them or rename it",
		        path, plugin->desc->name, other->path);
		goto fail_plugin;
	}
	plugin->path = strdup(path);
	plugin->name = strdup(plugin->desc->name);
	grown = realloc(loader->plugins,
	                (loader->n_plugins + 1) * sizeof(*loader->plugins));
	if (plugin->path == NULL || plugin->name == NULL || grown == NULL) {
		rc = flue_error_set(err, FLUE_ENOMEM, "out of memory");
		if (grown != NULL)
			loader->plugins = grown;
		goto fail_plugin;
	}
	loader->plugins = grown;
	plugin->handle = handle;
	flue_host_init(&plugin->host, plugin->name);
	if (loader->paths.project_dir != NULL)
		plugin->host.context = &loader->paths;
	rc = plugin->desc->create(&plugin->host,
	                          options_json ? options_json : "{}",
	                          &plugin->instance, &create_err);
	if (rc != 0) {
		plugin->instance = NULL;
		rc = flue_error_set(err, rc < 0 ? rc : FLUE_ERROR,
		        "plugin %s (%s) failed to start: %s", path,
		        plugin->name, create_err.message[0] ?
		        create_err.message : "create() failed without a message");
		goto fail_plugin;
	}
	loader->plugins[loader->n_plugins++] = plugin;
	*out = plugin;
	return 0;

fail_plugin:
	free(plugin->path);
	free(plugin->name);
	free(plugin);
fail:
	ltdl_close(handle, 0);
	return rc;
}

int
flue_loader_load(struct flue_loader *loader, const char *requested,
                 const char *base_dir, const char *options_json,
                 struct flue_loaded_plugin **out, struct flue_error *err)
{
	const char *origin = "path";
	struct flue_loaded_plugin *plugin;
	char resolved[PATH_MAX];
	char *path = NULL;
	struct report *r;
	int rc;

	*out = NULL;
	if (looks_like_path(requested)) {
		if (requested[0] == '/' || base_dir == NULL)
			path = strdup(requested);
		else
			path = join_path(base_dir, requested, "");
	} else if (!valid_plugin_name(requested)) {
		r = report_add(loader, requested, NULL, NULL);
		flue_error_set(err, FLUE_EINVAL,
		        "invalid plugin name \"%s\"; use a name of a-z, 0-9, '-' "
		        "and '_' (searched for in the plugin folders) or a path to "
		        "a .so file", requested);
		return refuse(r, err);
	} else {
		path = search_plugin(loader, requested, &origin);
		if (path == NULL) {
			r = report_add(loader, requested, NULL, NULL);
			not_found(loader, requested, err);
			return refuse(r, err);
		}
	}
	if (path == NULL)
		return flue_error_set(err, FLUE_ENOMEM, "out of memory");
	/* One file, one load: compare canonical paths. */
	if (realpath(path, resolved) != NULL) {
		free(path);
		path = strdup(resolved);
		if (path == NULL)
			return flue_error_set(err, FLUE_ENOMEM, "out of memory");
	}
	plugin = find_by_path(loader, path);
	if (plugin != NULL) {
		free(path);
		*out = plugin;
		return 0;
	}
	r = report_add(loader, requested, path, origin);
	rc = load_file(loader, path, options_json, r, &plugin, err);
	free(path);
	if (rc != 0)
		return refuse(r, err);
	if (r != NULL)
		r->pub.loaded = 1;
	*out = plugin;
	return 0;
}

static int
stem_reported(const struct flue_loader *loader, const char *stem,
              const char **by_path)
{
	for (size_t i = 0; i < loader->n_reports; i++) {
		const struct flue_plugin_report *pub = &loader->reports[i].pub;
		char *other;
		int same;

		if (pub->path == NULL)
			continue;
		other = file_stem(pub->path);
		same = other != NULL && strcmp(other, stem) == 0;
		free(other);
		if (same) {
			*by_path = pub->path;
			return 1;
		}
	}
	return 0;
}

static void
probe_dir(struct flue_loader *loader, const struct flue_loader_dir *dir,
          flue_loader_options_fn options_for, void *payload)
{
	struct dirent **names = NULL;
	int n = scandir(dir->path, &names, NULL, alphasort);

	for (int i = 0; i < n; i++) {
		const char *entry = names[i]->d_name;
		size_t len = strlen(entry);
		struct flue_loaded_plugin *plugin;
		struct flue_error err = {0};
		const char *shadow = NULL;
		char *stem, *path;

		if (len <= 3 || strcmp(entry + len - 3, ".so") != 0 ||
		    entry[0] == '.')
			continue;
		stem = file_stem(entry);
		path = join_path(dir->path, entry, "");
		if (stem != NULL && path != NULL) {
			if (stem_reported(loader, stem, &shadow)) {
				if (strcmp(shadow, path) != 0) {
					struct report *r = report_add(loader, NULL,
					                              path, dir->origin);
					if (r != NULL && asprintf((char **)&r->pub.refusal,
					        "shadowed by %s, found earlier in the "
					        "search path", shadow) < 0)
						r->pub.refusal = NULL;
				}
			} else {
				const char *options = options_for ?
				        options_for(payload, stem) : NULL;
				struct report *r = report_add(loader, NULL, path,
				                              dir->origin);

				if (load_file(loader, path, options, r, &plugin,
				              &err) != 0)
					refuse(r, &err);
				else if (r != NULL)
					r->pub.loaded = 1;
			}
		}
		free(stem);
		free(path);
	}
	for (int i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

void
flue_loader_probe_all(struct flue_loader *loader,
                      flue_loader_options_fn options_for, void *payload)
{
	for (size_t i = 0; i < loader->n_dirs; i++)
		probe_dir(loader, &loader->dirs[i], options_for, payload);
}

size_t
flue_loader_count(const struct flue_loader *loader)
{
	return loader->n_plugins;
}

struct flue_loaded_plugin *
flue_loader_get(struct flue_loader *loader, size_t index)
{
	return index < loader->n_plugins ? loader->plugins[index] : NULL;
}

size_t
flue_loader_report_count(const struct flue_loader *loader)
{
	return loader->n_reports;
}

const struct flue_plugin_report *
flue_loader_report(const struct flue_loader *loader, size_t index)
{
	return index < loader->n_reports ? &loader->reports[index].pub : NULL;
}
