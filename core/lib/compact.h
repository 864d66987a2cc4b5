/* Compaction, the pure parts: where to cut a history so the recent turns
 * stay verbatim, and what the summariser model is asked.  The loop
 * (run.c) sends the request, stores the summary as a {"type":
 * "compaction"} record and rebuilds the model's view from it; the full
 * history stays on disk. */
#ifndef FLUE_LIB_COMPACT_H
#define FLUE_LIB_COMPACT_H

#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#define FLUE_COMPACT_RESERVE 20000      /* tokens kept free for the answer */
#define FLUE_COMPACT_KEEP 8000          /* recent tokens kept verbatim */
#define FLUE_COMPACT_SUMMARY_MAX 16000  /* the summary's max_tokens */
#define FLUE_COMPACT_TOOL_RESULT_MAX 2000  /* chars of a result shown */

/* The summariser's system prompt.  [static] */
extern const char flue_compact_system[];

/* Estimated tokens of a message from its JSON length (4 bytes a token,
 * as providers' tokenizers average on English and code). */
int64_t flue_compact_estimate(size_t json_len);

/* Where to cut msgs[0, n) (each of json_len[i] bytes) so that at least
 * keep_tokens of the most recent ones stay: the index of the first kept
 * message, always a user or assistant message (a tool result is never
 * separated from its call), or 0 when there is nothing before it to
 * summarise.  msgs[0, first) are not candidates (a previous summary). */
size_t flue_compact_cut(json_object *const *msgs, const size_t *json_len,
                        size_t n, size_t first, int64_t keep_tokens);

/* The user message for the summariser: msgs[from, to) written out as a
 * conversation (tool results cut to FLUE_COMPACT_TOOL_RESULT_MAX), the
 * previous summary when there is one (may be NULL), and the headings
 * the summary must have.  [caller-owned]; NULL when out of memory. */
char *flue_compact_prompt(json_object *const *msgs, size_t from, size_t to,
                          const char *previous_summary);

/* The message that stands for the summarised turns in the model's view.
 * [caller-owned]. */
json_object *flue_compact_summary_message(const char *summary);

#endif
