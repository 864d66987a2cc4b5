/* libFuzzer target for the YAML loader.  Each input is read twice: as an
 * agent file (frontmatter, then body) and as a whole flue.yaml.  A parse
 * that succeeds must give values that all carry a sane position, that
 * serialise, and that flue_yaml_copy reproduces; one that fails must
 * leave a one-line message naming the file.  Anything else aborts. */
#include "config.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include <flue/flue.h>

#include "../../core/lib/frontmatter.h"
#include "../../core/lib/yaml.h"

#define AGENT_FILE "agents/fuzz.md"
#define YAML_FILE "flue.yaml"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond, ...) \
	do { \
		if (!(cond)) \
			fail(__LINE__, #cond, __VA_ARGS__); \
	} while (0)

static void fail(int line, const char *cond, const char *fmt, ...)
	FLUE_PRINTF(3, 4) __attribute__((noreturn));

static void
fail(int line, const char *cond, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "fuzz_frontmatter.c:%d: check failed: %s: ", line,
	        cond);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	abort();
}

/* Lines in text as libyaml counts them: LF, CR, CRLF and the Unicode
 * breaks NEL, LS and PS all end one.  No position may lie past the line
 * after the last (libyaml puts the end of a text without a final break
 * there). */
static unsigned
count_lines(const uint8_t *text, size_t len)
{
	unsigned lines = 1;

	for (size_t i = 0; i < len; i++) {
		if (text[i] == '\n')
			lines++;
		else if (text[i] == '\r' && (i + 1 == len || text[i + 1] != '\n'))
			lines++;
		else if (text[i] == 0xC2 && i + 1 < len && text[i + 1] == 0x85)
			lines++;
		else if (text[i] == 0xE2 && i + 2 < len && text[i + 1] == 0x80 &&
		         (text[i + 2] == 0xA8 || text[i + 2] == 0xA9))
			lines++;
	}
	return lines;
}

/* Every value the loader builds has a position: 1-based, no later than
 * max_line, and its key (when it has one) no later than the value. */
static void
check_positions(json_object *value, unsigned max_line, unsigned depth)
{
	const struct flue_yaml_pos *pos;
	size_t n;

	if (value == NULL)
		return;     /* a JSON null has no object to carry a position */
	CHECK(depth <= FLUE_YAML_MAX_DEPTH + 1, "depth %u", depth);
	pos = flue_yaml_pos(value);
	CHECK(pos != NULL, "a %s value without a position",
	      json_type_to_name(json_object_get_type(value)));
	CHECK(pos->line >= 1 && pos->line <= max_line + 1,
	      "line %u, text has %u lines", pos->line, max_line);
	CHECK(pos->column >= 1, "column %u", pos->column);
	CHECK(pos->key_line >= 1 && pos->key_column >= 1, "key at %u:%u",
	      pos->key_line, pos->key_column);
	CHECK(pos->key_line < pos->line ||
	      (pos->key_line == pos->line && pos->key_column <= pos->column),
	      "key at %u:%u after its value at %u:%u", pos->key_line,
	      pos->key_column, pos->line, pos->column);
	switch (json_object_get_type(value)) {
	case json_type_object: {
		struct json_object_iterator it = json_object_iter_begin(value);
		struct json_object_iterator end = json_object_iter_end(value);

		for (; !json_object_iter_equal(&it, &end);
		     json_object_iter_next(&it))
			check_positions(json_object_iter_peek_value(&it),
			                max_line, depth + 1);
		break;
	}
	case json_type_array:
		n = json_object_array_length(value);
		for (size_t i = 0; i < n; i++)
			check_positions(json_object_array_get_idx(value, i),
			                max_line, depth + 1);
		break;
	default:
		break;
	}
}

/* The copy must keep every position, not only the text. */
static void
check_same_positions(json_object *a, json_object *b)
{
	const struct flue_yaml_pos *pa = flue_yaml_pos(a);
	const struct flue_yaml_pos *pb = flue_yaml_pos(b);
	size_t n;

	CHECK((a == NULL) == (b == NULL), "copy null-ness differs");
	if (a == NULL)
		return;
	CHECK(pa != NULL && pb != NULL, "copy lost a position");
	CHECK(memcmp(pa, pb, sizeof(*pa)) == 0, "copy at %u:%u, original "
	      "at %u:%u", pb->line, pb->column, pa->line, pa->column);
	switch (json_object_get_type(a)) {
	case json_type_object: {
		struct json_object_iterator it = json_object_iter_begin(a);
		struct json_object_iterator end = json_object_iter_end(a);
		json_object *other;

		for (; !json_object_iter_equal(&it, &end);
		     json_object_iter_next(&it)) {
			CHECK(json_object_object_get_ex(b,
			      json_object_iter_peek_name(&it), &other),
			      "copy lost key '%s'",
			      json_object_iter_peek_name(&it));
			check_same_positions(json_object_iter_peek_value(&it),
			                     other);
		}
		break;
	}
	case json_type_array:
		n = json_object_array_length(a);
		for (size_t i = 0; i < n; i++)
			check_same_positions(json_object_array_get_idx(a, i),
			                     json_object_array_get_idx(b, i));
		break;
	default:
		break;
	}
}

static void
check_value(json_object *value, unsigned max_line)
{
	struct flue_error err = {0};
	json_object *copy = (json_object *)&err;    /* must be reset */
	const char *text, *copied;
	int rc;

	check_positions(value, max_line, 1);
	text = json_object_to_json_string_ext(value, JSON_C_TO_STRING_PLAIN);
	CHECK(text != NULL, "no serialisation");
	rc = flue_yaml_copy(value, &copy, &err);
	if (rc == FLUE_ENOMEM)
		return;     /* libFuzzer's malloc limit, not a bug */
	CHECK(rc == 0, "copy failed: %d %s", rc, err.message);
	CHECK((copy == NULL) == (value == NULL), "copy of %s is %p", text,
	      (void *)copy);
	copied = json_object_to_json_string_ext(copy, JSON_C_TO_STRING_PLAIN);
	CHECK(copied != NULL && strcmp(text, copied) == 0,
	      "copy serialises as %s, original as %s", copied, text);
	check_same_positions(value, copy);
	json_object_put(copy);
}

/* A failure leaves its code and a one-line message that names the file;
 * the message must be NUL-terminated inside the buffer. */
static void
check_error(int rc, const struct flue_error *err, const char *file,
            json_object *out)
{
	const char *end = memchr(err->message, '\0', sizeof(err->message));

	CHECK(rc == FLUE_EINVAL || rc == FLUE_ENOMEM, "rc %d", rc);
	CHECK(err->code == rc, "err.code %d, rc %d", err->code, rc);
	CHECK(out == NULL, "out set on failure");
	CHECK(end != NULL, "message not NUL-terminated");
	CHECK(end > err->message, "empty message");
	CHECK(strpbrk(err->message, "\r\n") == NULL, "message of more "
	      "than one line: %s", err->message);
	CHECK(strncmp(err->message, file, strlen(file)) == 0 &&
	      err->message[strlen(file)] == ':',
	      "message does not name %s: %s", file, err->message);
}

/* The parts of a split all lie inside the text, the body running to its
 * end. */
static void
check_parts(const struct flue_frontmatter *fm, const char *text, size_t len,
            unsigned max_line)
{
	CHECK(fm->body >= text && fm->body_len <= len &&
	      fm->body + fm->body_len == text + len, "body out of the text");
	CHECK(fm->body_line >= 1 && fm->body_line <= max_line + 1,
	      "body at line %u of %u", fm->body_line, max_line);
	if (!fm->present) {
		CHECK(fm->yaml == NULL && fm->yaml_line == 0 &&
		      fm->body == text && fm->body_line == 1,
		      "absent frontmatter with parts");
		return;
	}
	CHECK(fm->yaml >= text && fm->yaml + fm->yaml_len <= fm->body,
	      "frontmatter out of the text");
	CHECK(fm->yaml_line == 2, "frontmatter at line %u", fm->yaml_line);
	CHECK(fm->body_line > fm->yaml_line, "body at line %u",
	      fm->body_line);
}

static void
fuzz_agent_file(const char *text, size_t len, unsigned lines)
{
	struct flue_error err = {0};
	struct flue_frontmatter fm;
	json_object *meta = (json_object *)&err;    /* must be reset */
	int rc;

	rc = flue_frontmatter_parse(text, len, AGENT_FILE, &meta, &fm, &err);
	if (rc != 0) {
		check_error(rc, &err, AGENT_FILE, meta);
		return;
	}
	CHECK(meta != NULL && json_object_is_type(meta, json_type_object),
	      "frontmatter gave %s", meta == NULL ? "NULL" :
	      json_type_to_name(json_object_get_type(meta)));
	check_parts(&fm, text, len, lines);
	check_value(meta, lines);
	json_object_put(meta);
}

static void
fuzz_yaml_file(const char *text, size_t len, unsigned lines)
{
	struct flue_error err = {0};
	json_object *value = (json_object *)&err;   /* must be reset */
	int rc;

	rc = flue_yaml_parse(text, len, YAML_FILE, 0, &value, &err);
	if (rc != 0) {
		check_error(rc, &err, YAML_FILE, value);
		return;
	}
	check_value(value, lines);
	json_object_put(value);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned lines = count_lines(data, size);

	/* The input is not NUL-terminated: both parsers take a length. */
	fuzz_agent_file((const char *)data, size, lines);
	fuzz_yaml_file((const char *)data, size, lines);
	return 0;
}
