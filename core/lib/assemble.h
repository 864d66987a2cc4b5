/* Builds one assistant message (docs/MESSAGES.md) from a provider
 * plugin's events: text and thinking deltas joined into blocks, tool-call
 * argument pieces joined per call and parsed once at the end, the last
 * usage and provider data kept.  A RETRY starts over. */
#ifndef FLUE_LIB_ASSEMBLE_H
#define FLUE_LIB_ASSEMBLE_H

#include <stddef.h>

#include <json-c/json.h>

#include <flue/flue.h>

struct flue_text_buf {
	char *data;       /* owned, NUL-terminated when len > 0 */
	size_t len, cap;
};

struct flue_asm_block {
	int kind;                     /* FLUE_ASM_TEXT, _THINKING, _TOOL_CALL */
	struct flue_text_buf text;    /* text, or the call's argument JSON */
	char *id;                     /* tool call id (owned) */
	char *name;                   /* tool name (owned) */
	unsigned index;               /* tool call index */
};

enum { FLUE_ASM_TEXT = 1, FLUE_ASM_THINKING = 2, FLUE_ASM_TOOL_CALL = 3 };

struct flue_assembler {
	struct flue_asm_block *blocks;   /* owned */
	size_t count, cap;
	struct flue_usage usage;
	int have_usage;
	char *stop_reason;               /* owned; NULL until STOP */
	json_object *provider_data;      /* owned, or NULL */
	size_t tool_calls;
};

void flue_assembler_init(struct flue_assembler *a);
/* Feed one event.  A delta for a call that never started, a second
 * start of one index, or anything after STOP fails with FLUE_ERROR. */
int flue_assembler_event(struct flue_assembler *a,
                         const struct flue_provider_event *event,
                         struct flue_error *err);
/* Forget everything (a RETRY). */
void flue_assembler_reset(struct flue_assembler *a);
/* The message, once STOP was seen (else FLUE_ERETRY: the answer ended
 * early).  *out [caller-owned].  A call whose arguments are not a JSON
 * object gets {} and its problem in *out_arg_errors[i] (an array with one
 * entry per tool call, NULL when fine; caller-owned strings and array). */
int flue_assembler_finish(struct flue_assembler *a, const char *model,
                          json_object **out, char ***out_arg_errors,
                          struct flue_error *err);
void flue_assembler_clear(struct flue_assembler *a);

/* Usage arithmetic and JSON. */
void flue_usage_add(struct flue_usage *sum, const struct flue_usage *add);
json_object *flue_usage_to_json(const struct flue_usage *usage);

#endif
