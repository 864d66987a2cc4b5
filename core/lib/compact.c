/* Compaction: the cut point and the summariser's prompt. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compact.h"
#include "utf8.h"

const char flue_compact_system[] =
	"You are a context summarisation assistant. You read a conversation "
	"between a user and an AI agent that works with tools, and write a "
	"structured summary another instance of the agent will continue "
	"from. Output only the summary; do not continue the conversation or "
	"answer questions in it.";

static const char summary_format[] =
	"Summarise the conversation above in this exact format:\n\n"
	"## Goal\n## Constraints & Preferences\n## Progress\n### Done\n"
	"### In Progress\n### Blocked\n## Key Decisions\n## Next Steps\n"
	"## Critical Context\n\n"
	"Be concise. Keep exact file paths, function names, commands, error "
	"messages and values: the agent needs them to go on.";

static const char update_format[] =
	"Update the previous summary with the conversation above: keep what "
	"still holds, add what is new, move finished items from In Progress "
	"to Done. Use the same format:\n\n"
	"## Goal\n## Constraints & Preferences\n## Progress\n### Done\n"
	"### In Progress\n### Blocked\n## Key Decisions\n## Next Steps\n"
	"## Critical Context\n\n"
	"Be concise. Keep exact file paths, function names, commands, error "
	"messages and values.";

int64_t
flue_compact_estimate(size_t json_len)
{
	return (int64_t)((json_len + 3) / 4);
}

static const char *
role_of(json_object *msg)
{
	json_object *v;

	return json_object_object_get_ex(msg, "role", &v) ?
	       json_object_get_string(v) : "";
}

static int
cut_allowed(json_object *msg)
{
	const char *role = role_of(msg);

	return strcmp(role, "user") == 0 || strcmp(role, "assistant") == 0;
}

size_t
flue_compact_cut(json_object *const *msgs, const size_t *json_len, size_t n,
                 size_t first, int64_t keep_tokens)
{
	int64_t kept = 0;
	size_t at = n, cut = n;

	if (n <= first + 1)
		return 0;
	while (at > first) {
		at--;
		kept += flue_compact_estimate(json_len[at]);
		if (kept >= keep_tokens)
			break;
	}
	/* The first user or assistant message at or after that point;
	 * failing that, the nearest one before it. */
	for (size_t i = at; i < n && cut == n; i++)
		if (cut_allowed(msgs[i]))
			cut = i;
	for (size_t i = at; cut == n && i > first; i--)
		if (cut_allowed(msgs[i - 1]))
			cut = i - 1;
	return cut == n || cut <= first ? 0 : cut;
}

/* ---- the conversation as text ---------------------------------------- */

struct text {
	char *data;
	size_t len, cap;
	int failed;
};

static void
add(struct text *t, const char *s, size_t n)
{
	if (t->failed)
		return;
	if (t->len + n + 1 > t->cap) {
		size_t cap = t->cap ? t->cap : 4096;
		char *grown;

		while (cap < t->len + n + 1)
			cap *= 2;
		grown = realloc(t->data, cap);
		if (grown == NULL) {
			t->failed = 1;
			return;
		}
		t->data = grown;
		t->cap = cap;
	}
	memcpy(t->data + t->len, s, n);
	t->len += n;
	t->data[t->len] = '\0';
}

static void
adds(struct text *t, const char *s)
{
	add(t, s, strlen(s));
}

static void
add_block(struct text *t, const char *label, const char *s, size_t n)
{
	if (t->len > 0)
		adds(t, "\n\n");
	adds(t, label);
	add(t, s, n);
}

static void
add_assistant(struct text *t, json_object *msg)
{
	json_object *content, *v;
	struct text calls = {0};

	if (!json_object_object_get_ex(msg, "content", &content))
		return;
	for (size_t i = 0; i < json_object_array_length(content); i++) {
		json_object *b = json_object_array_get_idx(content, i), *type;
		const char *kind;

		if (!json_object_object_get_ex(b, "type", &type))
			continue;
		kind = json_object_get_string(type);
		if (strcmp(kind, "text") == 0 &&
		    json_object_object_get_ex(b, "text", &v))
			add_block(t, "[Assistant]: ", json_object_get_string(v),
			          (size_t)json_object_get_string_len(v));
		else if (strcmp(kind, "thinking") == 0 &&
		         json_object_object_get_ex(b, "text", &v))
			add_block(t, "[Assistant thinking]: ",
			          json_object_get_string(v),
			          (size_t)json_object_get_string_len(v));
		else if (strcmp(kind, "tool_call") == 0) {
			if (calls.len > 0)
				adds(&calls, "; ");
			adds(&calls, json_object_get_string(json_object_object_get(b,
			                                    "name")));
			adds(&calls, "(");
			adds(&calls, json_object_to_json_string_ext(
			        json_object_object_get(b, "arguments"),
			        JSON_C_TO_STRING_PLAIN |
			        JSON_C_TO_STRING_NOSLASHESCAPE));
			adds(&calls, ")");
		}
	}
	if (calls.failed)
		t->failed = 1;
	else if (calls.len > 0)
		add_block(t, "[Assistant tool calls]: ", calls.data, calls.len);
	free(calls.data);
}

static void
add_tool_result(struct text *t, json_object *msg)
{
	json_object *v;
	const char *s;
	size_t len, shown;
	char more[80];

	if (!json_object_object_get_ex(msg, "content", &v))
		return;
	s = json_object_get_string(v);
	len = (size_t)json_object_get_string_len(v);
	shown = flue_utf8_cut(s, len, FLUE_COMPACT_TOOL_RESULT_MAX);
	add_block(t, "[Tool result]: ", s, shown);
	if (shown < len) {
		snprintf(more, sizeof(more), "\n\n[... %zu more characters "
		         "truncated]", len - shown);
		adds(t, more);
	}
}

char *
flue_compact_prompt(json_object *const *msgs, size_t from, size_t to,
                    const char *previous_summary)
{
	struct text conv = {0}, out = {0};

	for (size_t i = from; i < to; i++) {
		const char *role = role_of(msgs[i]);
		json_object *v;

		if (strcmp(role, "user") == 0 &&
		    json_object_object_get_ex(msgs[i], "content", &v))
			add_block(&conv, "[User]: ", json_object_get_string(v),
			          (size_t)json_object_get_string_len(v));
		else if (strcmp(role, "assistant") == 0)
			add_assistant(&conv, msgs[i]);
		else if (strcmp(role, "tool") == 0)
			add_tool_result(&conv, msgs[i]);
	}
	adds(&out, "<conversation>\n");
	if (conv.len > 0)
		add(&out, conv.data, conv.len);
	adds(&out, "\n</conversation>\n\n");
	if (previous_summary != NULL) {
		adds(&out, "<previous-summary>\n");
		adds(&out, previous_summary);
		adds(&out, "\n</previous-summary>\n\n");
	}
	adds(&out, previous_summary != NULL ? update_format : summary_format);
	free(conv.data);
	if (conv.failed || out.failed) {
		free(out.data);
		return NULL;
	}
	return out.data;
}

json_object *
flue_compact_summary_message(const char *summary)
{
	json_object *m = json_object_new_object();
	char *text;

	if (m == NULL || asprintf(&text, "[Context Summary]\n\n%s",
	                          summary) < 0) {
		json_object_put(m);
		return NULL;
	}
	json_object_object_add(m, "role", json_object_new_string("user"));
	json_object_object_add(m, "content", json_object_new_string(text));
	free(text);
	return m;
}
