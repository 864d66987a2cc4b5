/* A session's history on disk: one JSON message per line in
 * <state>/sessions/<agent>/<id>.jsonl, appended and flushed to disk as
 * each message completes, so a crash or a killed process loses at most
 * the message being written -- and that torn line is cut off, never
 * read back as garbage. */
#ifndef FLUE_LIB_HISTORY_H
#define FLUE_LIB_HISTORY_H

#include <stddef.h>

#include <json-c/json.h>

#include <flue/flue.h>

#include "names.h"

struct flue_history;

/* Open (creating folders and file) the history of agent's session id
 * under state_dir, and read it.  The file is locked for this process: a
 * second open while it is held fails with FLUE_EBUSY.  A last line cut
 * short by a crash is removed (*out_repaired set to 1 when not NULL); a
 * bad line before the last is an error naming file and line. */
int flue_history_open(struct flue_history **out, const char *state_dir,
                      const char *agent, const char *id, int *out_repaired,
                      struct flue_error *err);
/* Messages read or appended so far, and one of them ([borrowed]). */
size_t flue_history_count(const struct flue_history *history);
json_object *flue_history_get(const struct flue_history *history,
                              size_t index);
/* Append message (a JSON object; a reference is taken) and flush it to
 * disk before returning. */
int flue_history_append(struct flue_history *history, json_object *message,
                        struct flue_error *err);
const char *flue_history_path(const struct flue_history *history);
void flue_history_close(struct flue_history *history);

#endif
