/* Run records: what the HTTP server keeps about each run it starts.
 *
 * A run has a record (agent, session, status, times, result or error)
 * and the list of its events.  Both live beside the sessions, under
 * <state>/runs/: <id>.json (replaced atomically at the start and the end
 * of the run) and <id>.events.jsonl (one event per line, appended as
 * they come).  Active runs and the most recent finished ones are also
 * kept in memory, where readers wait for new events; older ones are read
 * back from disk on demand, so /runs/<id> works after a restart.
 *
 * Threads: every function is safe from any thread. */
#ifndef FLUE_LIB_RUNLOG_H
#define FLUE_LIB_RUNLOG_H

#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include <flue/flue.h>

#include "names.h"

struct flue_runlog;
struct flue_runrec;

/* Open the run records under state_dir/runs (created when missing).
 * Records older than retention_days (0: keep all) are deleted; records
 * a previous process left "active" become "errored" ("the server stopped
 * during the run"). */
int flue_runlog_open(struct flue_runlog **out, const char *state_dir,
                     int64_t retention_days, struct flue_error *err);
void flue_runlog_close(struct flue_runlog *log);

/* Start a record for agent's session: a new id, status "active", stored
 * now.  *out holds one reference (flue_runrec_put). */
int flue_runlog_start(struct flue_runlog *log, const char *agent,
                      const char *session, struct flue_runrec **out,
                      struct flue_error *err);

/* The record of run id, from memory or disk, with a new reference; NULL
 * when there is none. */
struct flue_runrec *flue_runlog_find(struct flue_runlog *log,
                                     const char *id);

void flue_runrec_get(struct flue_runrec *rec);
void flue_runrec_put(struct flue_runrec *rec);

/* [borrowed] for the record's life. */
const char *flue_runrec_id(const struct flue_runrec *rec);

/* Add an event (a JSON object's text): it gets "run_id" and "index"
 * (0, 1, ...) and wakes every reader.  Returns its index. */
size_t flue_runrec_event(struct flue_runrec *rec, const char *json,
                         size_t len);

/* End the run: status "completed" or "errored", the result (the final
 * text, a typed result, usage) and the error, stored now; readers wake. */
void flue_runrec_finish(struct flue_runrec *rec, int ok,
                        json_object *result, const char *error_type,
                        const char *error_message);

/* The record as JSON ([caller-owned]): run_id, agent, session, status,
 * started_at, ended_at, duration_ms, events, result, error. */
json_object *flue_runrec_json(struct flue_runrec *rec);

/* Wait until the run has more than `after` events or has ended, at most
 * timeout_ms (-1: no limit).  Returns how many events there are now;
 * *ended is set when the run is over. */
size_t flue_runrec_wait(struct flue_runrec *rec, size_t after,
                        int timeout_ms, int *ended);

/* A copy of event index ([caller-owned], NUL-terminated), or NULL when
 * there is no such event. */
char *flue_runrec_event_copy(struct flue_runrec *rec, size_t index,
                             size_t *len);

/* Wake every reader of every run (for shutdown). */
void flue_runlog_wake_all(struct flue_runlog *log);

#endif
