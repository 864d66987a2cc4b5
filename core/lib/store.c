/* The embedded session store: history.c's JSONL files, behind the
 * store table. */
#include "config.h"

#include "history.h"
#include "store.h"

static int
local_open(void *backend, const char *agent, const char *id,
           struct flue_store_session **out, int *out_repaired,
           struct flue_error *err)
{
	return flue_history_open((struct flue_history **)out,
	                         (const char *)backend, agent, id,
	                         out_repaired, err);
}

static size_t
local_count(const struct flue_store_session *s)
{
	return flue_history_count((const struct flue_history *)s);
}

static json_object *
local_get(const struct flue_store_session *s, size_t index)
{
	return flue_history_get((const struct flue_history *)s, index);
}

static int
local_append(struct flue_store_session *s, json_object *record,
             struct flue_error *err)
{
	return flue_history_append((struct flue_history *)s, record, err);
}

static const char *
local_location(const struct flue_store_session *s)
{
	return flue_history_path((const struct flue_history *)s);
}

static void
local_close(struct flue_store_session *s)
{
	flue_history_close((struct flue_history *)s);
}

void
flue_store_local(struct flue_store *out, const char *state_dir)
{
	out->name = "local";
	out->backend = (void *)state_dir;
	out->open = local_open;
	out->count = local_count;
	out->get = local_get;
	out->append = local_append;
	out->location = local_location;
	out->close = local_close;
}
