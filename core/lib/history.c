/* Session history files.  Appends are single write() calls of a whole
 * line on an O_APPEND descriptor followed by fdatasync, so the file is
 * always a sequence of complete lines plus, after a crash, at most one
 * partial line at the end, which the next open cuts off. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent.h"
#include "error.h"
#include "durable.h"
#include "history.h"

#define HISTORY_MAX_BYTES ((off_t)1 << 32)

struct flue_history {
	char *path;              /* owned */
	int fd;                  /* owned, locked */
	json_object *messages;   /* owned array */
};

/* mkdir -p for the folders above path's last component. */
static int
make_parents(const char *path, struct flue_error *err)
{
	char *copy = strdup(path);

	if (copy == NULL)
		return flue_error_set(err, FLUE_ENOMEM, "out of memory");
	for (char *p = copy + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(copy, 0755) != 0 && errno != EEXIST) {
			int saved = errno;

			flue_error_set(err, flue_status_from_errno(saved),
			               "cannot create %s: %s", copy, strerror(saved));
			free(copy);
			return err->code;
		}
		*p = '/';
	}
	free(copy);
	return 0;
}

/* Read the whole file, parse its lines into h->messages, and cut off a
 * torn last line. */
static int
load(struct flue_history *h, int *repaired, struct flue_error *err)
{
	struct stat st;
	char *text;
	size_t used = 0, start = 0;
	unsigned line = 1;

	if (fstat(h->fd, &st) != 0)
		return flue_error_set(err, flue_status_from_errno(errno),
		                      "cannot read %s: %s", h->path,
		                      strerror(errno));
	if (st.st_size > HISTORY_MAX_BYTES)
		return flue_error_set(err, FLUE_EINVAL, "%s is larger than 4 GiB",
		                      h->path);
	text = malloc((size_t)st.st_size + 1);
	if (text == NULL)
		return flue_error_set(err, FLUE_ENOMEM, "out of memory");
	while (used < (size_t)st.st_size) {
		ssize_t n = pread(h->fd, text + used, (size_t)st.st_size - used,
		                  (off_t)used);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		used += (size_t)n;
	}
	text[used] = '\0';
	while (start < used) {
		char *nl = memchr(text + start, '\n', used - start);
		size_t end = nl ? (size_t)(nl - text) : used;
		json_object *msg = NULL;

		if (nl != NULL) {
			*nl = '\0';
			msg = json_tokener_parse(text + start);
		}
		if (msg == NULL || !json_object_is_type(msg, json_type_object)) {
			json_object_put(msg);
			if (nl == NULL || end + 1 == used) {
				/* The last line: a write cut short.  Drop it. */
				if (ftruncate(h->fd, (off_t)start) != 0) {
					free(text);
					return flue_error_set(err, flue_status_from_errno(
					                      errno), "cannot repair %s: %s",
					                      h->path, strerror(errno));
				}
				if (repaired != NULL)
					*repaired = 1;
				break;
			}
			free(text);
			return flue_error_set(err, FLUE_EINVAL, "%s:%u: not a JSON "
			                      "message; the history is damaged (move "
			                      "the file away to start the session "
			                      "afresh)", h->path, line);
		}
		json_object_array_add(h->messages, msg);
		start = end + 1;
		line++;
	}
	free(text);
	return 0;
}

int
flue_history_open(struct flue_history **out, const char *state_dir,
                  const char *agent, const char *id, int *out_repaired,
                  struct flue_error *err)
{
	struct flue_history *h;
	int rc;

	*out = NULL;
	if (out_repaired != NULL)
		*out_repaired = 0;
	if (!flue_agent_name_valid(agent))
		return flue_error_set(err, FLUE_EINVAL, "'%s' is not a valid agent "
		                      "name", agent);
	if (!flue_session_id_valid(id))
		return flue_error_set(err, FLUE_EINVAL, "'%s' is not a valid "
		                      "session id: use 1-%d letters, digits, '.', "
		                      "'_' and '-', not starting with '.'", id,
		                      FLUE_SESSION_ID_MAX);
	h = calloc(1, sizeof(*h));
	if (h == NULL)
		return flue_error_set(err, FLUE_ENOMEM, "out of memory");
	h->fd = -1;
	h->messages = json_object_new_array();
	if (h->messages == NULL ||
	    asprintf(&h->path, "%s/sessions/%s/%s.jsonl", state_dir, agent,
	             id) < 0) {
		h->path = NULL;
		flue_history_close(h);
		return flue_error_set(err, FLUE_ENOMEM, "out of memory");
	}
	rc = make_parents(h->path, err);
	if (rc != 0) {
		flue_history_close(h);
		return rc;
	}
	h->fd = open(h->path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (h->fd < 0) {
		rc = flue_error_set(err, flue_status_from_errno(errno),
		                    "cannot open %s: %s", h->path, strerror(errno));
		flue_history_close(h);
		return rc;
	}
	if (flock(h->fd, LOCK_EX | LOCK_NB) != 0) {
		rc = errno == EWOULDBLOCK ?
		     flue_error_set(err, FLUE_EBUSY, "session '%s' of agent '%s' "
		                    "is in use by another run", id, agent) :
		     flue_error_set(err, flue_status_from_errno(errno),
		                    "cannot lock %s: %s", h->path, strerror(errno));
		flue_history_close(h);
		return rc;
	}
	rc = load(h, out_repaired, err);
	if (rc != 0) {
		flue_history_close(h);
		return rc;
	}
	*out = h;
	return 0;
}

size_t
flue_history_count(const struct flue_history *history)
{
	return json_object_array_length(history->messages);
}

json_object *
flue_history_get(const struct flue_history *history, size_t index)
{
	return json_object_array_get_idx(history->messages, index);
}

const char *
flue_history_path(const struct flue_history *history)
{
	return history->path;
}

int
flue_history_append(struct flue_history *history, json_object *message,
                     struct flue_error *err)
{
	const char *json;
	char *line;
	size_t len, done = 0;

	if (!json_object_is_type(message, json_type_object))
		return flue_error_set(err, FLUE_EINVAL, "a history message must be "
		                      "a JSON object");
	json = json_object_to_json_string_ext(message, JSON_C_TO_STRING_PLAIN |
	                                      JSON_C_TO_STRING_NOSLASHESCAPE);
	len = strlen(json);
	line = malloc(len + 1);
	if (line == NULL)
		return flue_error_set(err, FLUE_ENOMEM, "out of memory");
	memcpy(line, json, len);
	line[len++] = '\n';
	/* One write for the whole line: with O_APPEND it lands as a unit
	 * unless the disk fills or the process dies, and then load() cuts
	 * the torn tail. */
	while (done < len) {
		ssize_t n = write(history->fd, line + done, len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int saved = errno;
			struct stat st;

			free(line);
			/* Leave no partial line behind for the next append. */
			if (done > 0 && fstat(history->fd, &st) == 0)
				(void)ftruncate(history->fd, st.st_size - (off_t)done);
			return flue_error_set(err, flue_status_from_errno(saved),
			                      "cannot write %s: %s", history->path,
			                      strerror(saved));
		}
		done += (size_t)n;
	}
	free(line);
	if (flue_durable_sync(history->fd) != 0)
		return flue_error_set(err, flue_status_from_errno(errno),
		                      "cannot flush %s: %s", history->path,
		                      strerror(errno));
	json_object_array_add(history->messages, json_object_get(message));
	return 0;
}

void
flue_history_close(struct flue_history *history)
{
	if (history == NULL)
		return;
	if (history->fd >= 0)
		close(history->fd);
	json_object_put(history->messages);
	free(history->path);
	free(history);
}
