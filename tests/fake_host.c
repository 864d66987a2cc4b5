/* A fake host table for plugin tests; see fake_host.h. */
#define _GNU_SOURCE
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <dlfcn.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "fake_host.h"

#define FAKE_LOG_MAX 65536

/* Every block carries its size in front, so live and peak bytes can be
 * counted; the header keeps the block maximally aligned.  Freeing such a
 * block with libc free() is an invalid free that valgrind/ASan report. */
union fake_header {
	size_t size;
	max_align_t align;
};

struct flue_cancel {
	int set;                    /* __atomic */
	int fd;                     /* eventfd, readable once set */
};

static pthread_mutex_t fake_lock = PTHREAD_MUTEX_INITIALIZER;
static size_t fake_blocks, fake_bytes, fake_peak;
static unsigned fake_violations;
static char fake_log[FAKE_LOG_MAX];
static size_t fake_log_len;

static void
fake_count(long blocks, size_t add, size_t sub)
{
	pthread_mutex_lock(&fake_lock);
	fake_blocks = (size_t)((long)fake_blocks + blocks);
	fake_bytes = fake_bytes + add - sub;
	if (fake_bytes > fake_peak)
		fake_peak = fake_bytes;
	pthread_mutex_unlock(&fake_lock);
}

static void *
fake_alloc(size_t size)
{
	union fake_header *h;

	if (size > SIZE_MAX - sizeof(*h))
		return NULL;
	h = malloc(sizeof(*h) + size);
	if (h == NULL)
		return NULL;
	h->size = size;
	fake_count(1, size, 0);
	return h + 1;
}

static void
fake_free(void *ptr)
{
	union fake_header *h;

	if (ptr == NULL)
		return;
	h = (union fake_header *)ptr - 1;
	fake_count(-1, 0, h->size);
	free(h);
}

static void *
fake_realloc(void *ptr, size_t size)
{
	union fake_header *h, *n;
	size_t old;

	if (ptr == NULL)
		return fake_alloc(size);
	if (size > SIZE_MAX - sizeof(*h))
		return NULL;
	h = (union fake_header *)ptr - 1;
	old = h->size;
	n = realloc(h, sizeof(*n) + size);
	if (n == NULL)
		return NULL;
	n->size = size;
	fake_count(0, size, old);
	return n + 1;
}

static void fake_log_line(const struct flue_host *host,
                          enum flue_log_level level, const char *fmt, ...)
	FLUE_PRINTF(3, 4);

static void
fake_log_line(const struct flue_host *host, enum flue_log_level level,
              const char *fmt, ...)
{
	static const char *const names[] = { "error", "warn", "info", "debug" };
	char line[1024];
	va_list ap;
	int n;

	(void)host;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&fake_lock);
	n = snprintf(fake_log + fake_log_len, FAKE_LOG_MAX - fake_log_len,
	             "%s: %s\n", (unsigned)level < 4 ? names[level] : "?", line);
	if (n > 0)
		fake_log_len += (size_t)n < FAKE_LOG_MAX - fake_log_len ?
		                (size_t)n : FAKE_LOG_MAX - fake_log_len - 1;
	pthread_mutex_unlock(&fake_lock);
}

static int fake_error_set(struct flue_error *err, int code, const char *fmt,
                          ...) FLUE_PRINTF(3, 4);

static int
fake_error_set(struct flue_error *err, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
	err->code = code;
	if (code == 0 || err->message[0] == '\0' ||
	    strchr(err->message, '\n') != NULL) {
		pthread_mutex_lock(&fake_lock);
		fake_violations++;
		pthread_mutex_unlock(&fake_lock);
	}
	return code;
}

static int
fake_cancel_is_set(const struct flue_cancel *cancel)
{
	if (cancel == NULL)
		return 0;
	return __atomic_load_n(&cancel->set, __ATOMIC_SEQ_CST);
}

static int
fake_cancel_fd(const struct flue_cancel *cancel)
{
	return cancel == NULL ? -1 : cancel->fd;
}

static struct flue_host_paths fake_paths;

void
fake_host_set_paths(const char *project_dir, const char *state_dir)
{
	fake_paths.size = sizeof(fake_paths);
	fake_paths.project_dir = project_dir;
	fake_paths.state_dir = state_dir;
}

static const void *
fake_interface(const struct flue_host *host, const char *name,
               uint32_t *out_version)
{
	(void)host;
	if (out_version != NULL)
		*out_version = 0;
	if (name != NULL && strcmp(name, FLUE_HOST_PATHS) == 0 &&
	    fake_paths.project_dir != NULL) {
		if (out_version != NULL)
			*out_version = FLUE_HOST_PATHS_VERSION;
		return &fake_paths;
	}
	return NULL;
}

static const struct flue_host fake_table = {
	.abi_major = FLUE_PLUGIN_ABI_MAJOR,
	.abi_minor = FLUE_PLUGIN_ABI_MINOR,
	.size = sizeof(struct flue_host),
	.flue_version = "0.0-test",
	.plugin_name = "test",
	.alloc = fake_alloc,
	.realloc = fake_realloc,
	.free = fake_free,
	.log = fake_log_line,
	.error_set = fake_error_set,
	.cancel_is_set = fake_cancel_is_set,
	.cancel_fd = fake_cancel_fd,
	.interface = fake_interface,
};

const struct flue_host *
fake_host(void)
{
	return &fake_table;
}

void
fake_host_reset(void)
{
	pthread_mutex_lock(&fake_lock);
	fake_log_len = 0;
	fake_log[0] = '\0';
	fake_violations = 0;
	fake_peak = fake_bytes;
	pthread_mutex_unlock(&fake_lock);
}

static size_t
fake_read_size(const size_t *value)
{
	size_t v;

	pthread_mutex_lock(&fake_lock);
	v = *value;
	pthread_mutex_unlock(&fake_lock);
	return v;
}

size_t
fake_host_live_blocks(void)
{
	return fake_read_size(&fake_blocks);
}

size_t
fake_host_live_bytes(void)
{
	return fake_read_size(&fake_bytes);
}

size_t
fake_host_peak_bytes(void)
{
	return fake_read_size(&fake_peak);
}

void
fake_host_free(void *ptr)
{
	fake_free(ptr);
}

int
fake_host_log_contains(const char *needle)
{
	int found;

	pthread_mutex_lock(&fake_lock);
	found = strstr(fake_log, needle) != NULL;
	pthread_mutex_unlock(&fake_lock);
	return found;
}

unsigned
fake_host_error_violations(void)
{
	unsigned v;

	pthread_mutex_lock(&fake_lock);
	v = fake_violations;
	pthread_mutex_unlock(&fake_lock);
	return v;
}

struct flue_cancel *
fake_cancel_new(void)
{
	struct flue_cancel *cancel = calloc(1, sizeof(*cancel));

	if (cancel == NULL)
		return NULL;
	cancel->fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (cancel->fd < 0) {
		free(cancel);
		return NULL;
	}
	return cancel;
}

void
fake_cancel_trigger(struct flue_cancel *cancel)
{
	uint64_t one = 1;

	/* The flag first, so a poller woken by the fd sees it set. */
	if (__atomic_exchange_n(&cancel->set, 1, __ATOMIC_SEQ_CST) == 0) {
		ssize_t n = write(cancel->fd, &one, sizeof(one));

		(void)n;
	}
}

void
fake_cancel_free(struct flue_cancel *cancel)
{
	if (cancel == NULL)
		return;
	close(cancel->fd);
	free(cancel);
}

const struct flue_plugin *
fake_plugin_load(const char *path, void **out_handle, char *errbuf,
                 size_t errsize)
{
	flue_plugin_entry_fn entry;
	const struct flue_plugin *plugin;
	void *handle, *sym;

	*out_handle = NULL;
	handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (handle == NULL) {
		snprintf(errbuf, errsize, "dlopen %s: %s", path, dlerror());
		return NULL;
	}
	sym = dlsym(handle, FLUE_PLUGIN_ENTRY_SYMBOL);
	if (sym == NULL) {
		snprintf(errbuf, errsize, "%s has no %s", path,
		         FLUE_PLUGIN_ENTRY_SYMBOL);
		dlclose(handle);
		return NULL;
	}
	/* POSIX guarantees a data pointer from dlsym converts to a function
	 * pointer; memcpy keeps -Wpedantic quiet about it. */
	memcpy(&entry, &sym, sizeof(entry));
	plugin = entry();
	if (plugin == NULL) {
		snprintf(errbuf, errsize, "%s: flue_plugin_entry returned NULL",
		         path);
		dlclose(handle);
		return NULL;
	}
	*out_handle = handle;
	return plugin;
}

const struct flue_plugin *
fake_plugin_load_test(const char *name, void **out_handle, char *errbuf,
                      size_t errsize)
{
	const char *dir = getenv("FLUE_TEST_PLUGIN_DIR");
	char path[4096];

	if (dir == NULL || dir[0] == '\0') {
		*out_handle = NULL;
		snprintf(errbuf, errsize,
		         "FLUE_TEST_PLUGIN_DIR is not set; run through `make check` or set it to plugins/.libs");
		return NULL;
	}
	snprintf(path, sizeof(path), "%s/%s.so", dir, name);
	return fake_plugin_load(path, out_handle, errbuf, errsize);
}

void
fake_plugin_unload(void *handle)
{
	if (handle != NULL)
		dlclose(handle);
}
