/* Where sessions live.  The loop talks to a session store through this
 * table so that another backend (a database, a remote service) can be
 * added without touching the loop; the embedded default keeps each
 * session as a JSONL file under the project's state folder (history.c).
 *
 * Every backend promises: a message appended is durable when append
 * returns; a session opened after a crash holds exactly the messages
 * whose append returned (a torn record is dropped, never misread); and
 * one holder at a time per session, across processes (FLUE_EBUSY). */
#ifndef FLUE_LIB_STORE_H
#define FLUE_LIB_STORE_H

#include <stddef.h>

#include <json-c/json.h>

#include <flue/flue.h>

struct flue_store_session;

struct flue_store {
	const char *name;
	void *backend;                   /* the backend's own state */
	/* Open (creating when new) and lock agent's session id.
	 * *out_repaired is set when a torn record was dropped. */
	int (*open)(void *backend, const char *agent, const char *id,
	            struct flue_store_session **out, int *out_repaired,
	            struct flue_error *err);
	size_t (*count)(const struct flue_store_session *session);
	/* [borrowed] until close. */
	json_object *(*get)(const struct flue_store_session *session,
	                    size_t index);
	/* Durable on return; takes a reference to record. */
	int (*append)(struct flue_store_session *session, json_object *record,
	              struct flue_error *err);
	/* Where it lives, for messages ([borrowed]). */
	const char *(*location)(const struct flue_store_session *session);
	void (*close)(struct flue_store_session *session);
};

/* The embedded default: files under state_dir ([borrowed]; must outlive
 * the store). */
void flue_store_local(struct flue_store *out, const char *state_dir);

#endif
