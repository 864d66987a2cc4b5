/*
 * fake_host -- a struct flue_host for plugin unit tests, without libflue.
 *
 * Memory handed out by the table is counted (live blocks, live and peak
 * bytes) so tests can check that a plugin frees what it should and keeps
 * its memory bounded.  Log lines go to a capture buffer.  error_set()
 * also counts messages that break the "one line" rule.  Cancellation
 * handles are an atomic flag plus an eventfd, like the real ones.
 *
 * Everything here is thread-safe.
 */
#ifndef FLUE_TESTS_FAKE_HOST_H
#define FLUE_TESTS_FAKE_HOST_H

#include <stddef.h>

#include <flue/plugin.h>

/* The host table (static; plugin_name is "test"). */
const struct flue_host *fake_host(void);

/* What the "flue.paths" interface answers (both borrowed; NULL: no
 * project, the interface is absent). */
void fake_host_set_paths(const char *project_dir, const char *state_dir);

/* Forget captured log lines, error-rule violations and the peak. */
void fake_host_reset(void);

/* Blocks allocated through the table and not yet freed, their bytes, and
 * the most bytes live at once since the last reset. */
size_t fake_host_live_blocks(void);
size_t fake_host_live_bytes(void);
size_t fake_host_peak_bytes(void);

/* Free through the table, as a host would (NULL is fine). */
void fake_host_free(void *ptr);

/* 1 if some captured log line contains needle. */
int fake_host_log_contains(const char *needle);

/* Messages given to error_set() that were empty, had a newline, or came
 * with code 0, since the last reset. */
unsigned fake_host_error_violations(void);

/* Cancellation handles for the host's cancel_is_set()/cancel_fd(). */
struct flue_cancel *fake_cancel_new(void);
void fake_cancel_trigger(struct flue_cancel *cancel);
void fake_cancel_free(struct flue_cancel *cancel);

/* dlopen(path, RTLD_NOW | RTLD_LOCAL) and call flue_plugin_entry.  On
 * failure returns NULL with a reason in errbuf. */
const struct flue_plugin *fake_plugin_load(const char *path, void **out_handle,
                                           char *errbuf, size_t errsize);
/* The same for $FLUE_TEST_PLUGIN_DIR/<name>.so. */
const struct flue_plugin *fake_plugin_load_test(const char *name,
                                                void **out_handle,
                                                char *errbuf, size_t errsize);
void fake_plugin_unload(void *handle);

#endif /* FLUE_TESTS_FAKE_HOST_H */
