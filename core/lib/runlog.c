/* Run records, in memory and under <state>/runs/. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "error.h"
#include "durable.h"
#include "names.h"
#include "runlog.h"

#define RUNLOG_KEEP_FINISHED 256   /* finished runs kept in memory */
#define JSON_FLAGS (JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)

enum { RUN_ACTIVE, RUN_COMPLETED, RUN_ERRORED };
static const char *const status_names[] = {"active", "completed",
                                           "errored"};

struct flue_runrec {
	struct flue_runlog *log;        /* borrowed */
	int refs;                       /* under log->lock */
	char id[FLUE_RUN_ID_MAX + 1];
	char *agent, *session;          /* owned */
	int status;
	int64_t started_ms, ended_ms;   /* CLOCK_REALTIME */
	json_object *result;            /* owned, or NULL */
	char *error_type, *error_message;   /* owned, or NULL */
	char **events;                  /* owned, each NUL-terminated */
	size_t *event_len;
	size_t n_events, cap;
	int events_fd;                  /* appended to while active; -1 */
	pthread_mutex_t lock;           /* the members above from status on */
	pthread_cond_t cond;
	struct flue_runrec *next;       /* in log->runs, under log->lock */
};

struct flue_runlog {
	char *dir;                      /* owned: <state>/runs */
	pthread_mutex_t lock;
	struct flue_runrec *runs;       /* newest first; one reference each */
};

static int64_t
realtime_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
iso_time(int64_t ms, char *buf, size_t size)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, size, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + strlen(buf), size - strlen(buf), ".%03dZ",
	         (int)(ms % 1000));
}

static char *
path_of(const struct flue_runlog *log, const char *id, const char *suffix)
{
	char *p;

	return asprintf(&p, "%s/%s%s", log->dir, id, suffix) < 0 ? NULL : p;
}

static struct flue_runrec *
rec_new(struct flue_runlog *log)
{
	struct flue_runrec *rec = calloc(1, sizeof(*rec));
	pthread_condattr_t attr;

	if (rec == NULL)
		return NULL;
	rec->log = log;
	rec->refs = 1;
	rec->events_fd = -1;
	pthread_mutex_init(&rec->lock, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&rec->cond, &attr);
	pthread_condattr_destroy(&attr);
	return rec;
}

static void
rec_free(struct flue_runrec *rec)
{
	if (rec->events_fd >= 0)
		close(rec->events_fd);
	for (size_t i = 0; i < rec->n_events; i++)
		free(rec->events[i]);
	free(rec->events);
	free(rec->event_len);
	free(rec->agent);
	free(rec->session);
	free(rec->error_type);
	free(rec->error_message);
	json_object_put(rec->result);
	pthread_cond_destroy(&rec->cond);
	pthread_mutex_destroy(&rec->lock);
	free(rec);
}

/* Under rec->lock. */
static json_object *
record_json_locked(const struct flue_runrec *rec)
{
	json_object *o = json_object_new_object();
	char when[40];

	if (o == NULL)
		return NULL;
	json_object_object_add(o, "run_id", json_object_new_string(rec->id));
	json_object_object_add(o, "agent", json_object_new_string(rec->agent));
	json_object_object_add(o, "session",
	                       json_object_new_string(rec->session));
	json_object_object_add(o, "status",
	                       json_object_new_string(status_names[rec->status]));
	iso_time(rec->started_ms, when, sizeof(when));
	json_object_object_add(o, "started_at", json_object_new_string(when));
	json_object_object_add(o, "started_ms",
	                       json_object_new_int64(rec->started_ms));
	if (rec->status != RUN_ACTIVE) {
		iso_time(rec->ended_ms, when, sizeof(when));
		json_object_object_add(o, "ended_at", json_object_new_string(when));
		json_object_object_add(o, "ended_ms",
		                       json_object_new_int64(rec->ended_ms));
		json_object_object_add(o, "duration_ms", json_object_new_int64(
		                       rec->ended_ms - rec->started_ms));
	}
	json_object_object_add(o, "events",
	                       json_object_new_int64((int64_t)rec->n_events));
	if (rec->result != NULL)
		json_object_object_add(o, "result", json_object_get(rec->result));
	if (rec->error_message != NULL) {
		json_object *e = json_object_new_object();

		json_object_object_add(e, "type", json_object_new_string(
		                       rec->error_type ? rec->error_type : "error"));
		json_object_object_add(e, "message",
		                       json_object_new_string(rec->error_message));
		json_object_object_add(o, "error", e);
	}
	return o;
}

/* Replace <id>.json whole: a reader never sees half a record.  The
 * final record is made durable; the first one need not be (a crash
 * before the end leaves no record or an "active" one, and the next start
 * marks it interrupted either way). */
static int
write_record(const struct flue_runlog *log, const char *id, json_object *o,
             int durable)
{
	char *path = path_of(log, id, ".json"), *tmp = path_of(log, id,
	                                                      ".json.tmp");
	const char *text = o ? json_object_to_json_string_ext(o, JSON_FLAGS) :
	                   NULL;
	int fd = -1, rc = -1;
	size_t len;

	if (path == NULL || tmp == NULL || text == NULL)
		goto out;
	len = strlen(text);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		goto out;
	if (write(fd, text, len) == (ssize_t)len && write(fd, "\n", 1) == 1 &&
	    (!durable || flue_durable_sync(fd) == 0) && close(fd) == 0) {
		fd = -1;
		rc = rename(tmp, path);
	}
	if (rc != 0)
		unlink(tmp);
out:
	if (fd >= 0)
		close(fd);
	free(path);
	free(tmp);
	return rc;
}

static int
push_event(struct flue_runrec *rec, char *text, size_t len)
{
	if (rec->n_events == rec->cap) {
		size_t cap = rec->cap ? rec->cap * 2 : 32;
		char **e = realloc(rec->events, cap * sizeof(*e));
		size_t *l;

		if (e == NULL)
			return -1;
		rec->events = e;
		l = realloc(rec->event_len, cap * sizeof(*l));
		if (l == NULL)
			return -1;
		rec->event_len = l;
		rec->cap = cap;
	}
	rec->events[rec->n_events] = text;
	rec->event_len[rec->n_events] = len;
	rec->n_events++;
	return 0;
}

/* Read a finished run back from disk. */
static struct flue_runrec *
load_record(struct flue_runlog *log, const char *id)
{
	char *path = path_of(log, id, ".json");
	json_object *o = path ? json_object_from_file(path) : NULL, *v;
	struct flue_runrec *rec = NULL;
	FILE *f = NULL;
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;

	free(path);
	if (o == NULL || (rec = rec_new(log)) == NULL)
		goto out;
	snprintf(rec->id, sizeof(rec->id), "%s", id);
	rec->agent = strdup(json_object_get_string(json_object_object_get(o,
	                                           "agent")));
	rec->session = strdup(json_object_get_string(json_object_object_get(o,
	                                             "session")));
	v = json_object_object_get(o, "status");
	rec->status = v && strcmp(json_object_get_string(v), "completed") == 0 ?
	              RUN_COMPLETED : v && strcmp(json_object_get_string(v),
	              "active") == 0 ? RUN_ACTIVE : RUN_ERRORED;
	rec->started_ms = json_object_get_int64(json_object_object_get(o,
	                                        "started_ms"));
	rec->ended_ms = json_object_get_int64(json_object_object_get(o,
	                                      "ended_ms"));
	if (json_object_object_get_ex(o, "result", &v))
		rec->result = json_object_get(v);
	if (json_object_object_get_ex(o, "error", &v)) {
		rec->error_type = strdup(json_object_get_string(
		        json_object_object_get(v, "type")));
		rec->error_message = strdup(json_object_get_string(
		        json_object_object_get(v, "message")));
	}
	path = path_of(log, id, ".events.jsonl");
	f = path ? fopen(path, "re") : NULL;
	free(path);
	while (f != NULL && (n = getline(&line, &cap, f)) > 0) {
		char *copy;

		/* A torn last line (a crash mid-write) is not an event. */
		if (line[n - 1] != '\n')
			break;
		line[--n] = '\0';
		copy = strdup(line);
		if (copy == NULL || push_event(rec, copy, (size_t)n) != 0) {
			free(copy);
			break;
		}
	}
	free(line);
	if (f != NULL)
		fclose(f);
	if (rec->agent == NULL || rec->session == NULL) {
		rec_free(rec);
		rec = NULL;
	}
out:
	json_object_put(o);
	return rec;
}

/* Records of an earlier process: expire old ones, close active ones. */
static void
sweep(struct flue_runlog *log, int64_t retention_days)
{
	DIR *d = opendir(log->dir);
	struct dirent *e;
	time_t cutoff = time(NULL) - (time_t)retention_days * 86400;

	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		size_t len = strlen(e->d_name);
		char id[FLUE_RUN_ID_MAX + 1], *path;
		struct stat st;

		if (len <= 5 || len - 5 > FLUE_RUN_ID_MAX ||
		    strcmp(e->d_name + len - 5, ".json") != 0)
			continue;
		memcpy(id, e->d_name, len - 5);
		id[len - 5] = '\0';
		if (!flue_run_id_valid(id) || (path = path_of(log, id,
		                                             ".json")) == NULL)
			continue;
		if (retention_days > 0 && stat(path, &st) == 0 &&
		    st.st_mtime < cutoff) {
			char *events = path_of(log, id, ".events.jsonl");

			unlink(path);
			if (events != NULL)
				unlink(events);
			free(events);
		} else {
			struct flue_runrec *rec = load_record(log, id);

			if (rec != NULL && rec->status == RUN_ACTIVE) {
				json_object *o;

				rec->status = RUN_ERRORED;
				rec->ended_ms = realtime_ms();
				rec->error_type = strdup("interrupted");
				rec->error_message = strdup("the server stopped during "
				                            "the run");
				o = record_json_locked(rec);
				write_record(log, id, o, 1);
				json_object_put(o);
			}
			if (rec != NULL)
				rec_free(rec);
		}
		free(path);
	}
	closedir(d);
}

int
flue_runlog_open(struct flue_runlog **out, const char *state_dir,
                 int64_t retention_days, struct flue_error *err)
{
	struct flue_runlog *log = calloc(1, sizeof(*log));

	*out = NULL;
	if (log == NULL || asprintf(&log->dir, "%s/runs", state_dir) < 0) {
		free(log);
		return flue_error_set(err, FLUE_ENOMEM, "out of memory");
	}
	if ((mkdir(state_dir, 0700) != 0 && errno != EEXIST) ||
	    (mkdir(log->dir, 0700) != 0 && errno != EEXIST)) {
		int e = errno;

		flue_error_set(err, flue_status_from_errno(e), "cannot create "
		               "'%s': %s", log->dir, strerror(e));
		free(log->dir);
		free(log);
		return err ? err->code : FLUE_EIO;
	}
	pthread_mutex_init(&log->lock, NULL);
	sweep(log, retention_days);
	*out = log;
	return 0;
}

void
flue_runlog_close(struct flue_runlog *log)
{
	struct flue_runrec *rec, *next;

	if (log == NULL)
		return;
	for (rec = log->runs; rec != NULL; rec = next) {
		next = rec->next;
		flue_runrec_put(rec);
	}
	pthread_mutex_destroy(&log->lock);
	free(log->dir);
	free(log);
}

/* Under log->lock: keep at most RUNLOG_KEEP_FINISHED finished runs. */
static void
trim_locked(struct flue_runlog *log)
{
	size_t finished = 0;

	for (struct flue_runrec **p = &log->runs; *p != NULL;) {
		struct flue_runrec *rec = *p;
		int done;

		pthread_mutex_lock(&rec->lock);
		done = rec->status != RUN_ACTIVE;
		pthread_mutex_unlock(&rec->lock);
		if (done && ++finished > RUNLOG_KEEP_FINISHED) {
			*p = rec->next;
			if (--rec->refs == 0)
				rec_free(rec);
			continue;
		}
		p = &rec->next;
	}
}

int
flue_runlog_start(struct flue_runlog *log, const char *agent,
                  const char *session, struct flue_runrec **out,
                  struct flue_error *err)
{
	struct flue_runrec *rec = rec_new(log);
	unsigned char rnd[5] = {0};
	time_t t = time(NULL);
	struct tm tm;
	json_object *o;
	char *events;

	*out = NULL;
	if (rec == NULL)
		return flue_error_set(err, FLUE_ENOMEM, "out of memory");
	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
		uint64_t x = (uint64_t)realtime_ms() ^ (uint64_t)(uintptr_t)rec;

		memcpy(rnd, &x, sizeof(rnd));
	}
	gmtime_r(&t, &tm);
	snprintf(rec->id, sizeof(rec->id),
	         "run-%04d%02d%02d-%02d%02d%02d-%02x%02x%02x%02x%02x",
	         tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	         tm.tm_min, tm.tm_sec, rnd[0], rnd[1], rnd[2], rnd[3], rnd[4]);
	rec->agent = strdup(agent);
	rec->session = strdup(session);
	rec->started_ms = realtime_ms();
	events = path_of(log, rec->id, ".events.jsonl");
	if (events != NULL)
		rec->events_fd = open(events, O_WRONLY | O_CREAT | O_APPEND |
		                      O_TRUNC | O_CLOEXEC, 0600);
	free(events);
	o = rec->agent && rec->session ? record_json_locked(rec) : NULL;
	if (o == NULL || rec->events_fd < 0 ||
	    write_record(log, rec->id, o, 0) != 0) {
		int e = errno;

		json_object_put(o);
		rec_free(rec);
		return flue_error_set(err, FLUE_EIO, "cannot store a run record "
		                      "in '%s': %s", log->dir, strerror(e));
	}
	json_object_put(o);
	pthread_mutex_lock(&log->lock);
	rec->refs++;                    /* the list's */
	rec->next = log->runs;
	log->runs = rec;
	trim_locked(log);
	pthread_mutex_unlock(&log->lock);
	*out = rec;
	return 0;
}

struct flue_runrec *
flue_runlog_find(struct flue_runlog *log, const char *id)
{
	struct flue_runrec *rec;

	if (!flue_run_id_valid(id))
		return NULL;
	pthread_mutex_lock(&log->lock);
	for (rec = log->runs; rec != NULL; rec = rec->next)
		if (strcmp(rec->id, id) == 0) {
			rec->refs++;
			break;
		}
	pthread_mutex_unlock(&log->lock);
	return rec != NULL ? rec : load_record(log, id);
}

void
flue_runrec_get(struct flue_runrec *rec)
{
	pthread_mutex_lock(&rec->log->lock);
	rec->refs++;
	pthread_mutex_unlock(&rec->log->lock);
}

void
flue_runrec_put(struct flue_runrec *rec)
{
	int last;

	if (rec == NULL)
		return;
	pthread_mutex_lock(&rec->log->lock);
	last = --rec->refs == 0;
	pthread_mutex_unlock(&rec->log->lock);
	if (last)
		rec_free(rec);
}

const char *
flue_runrec_id(const struct flue_runrec *rec)
{
	return rec->id;
}

size_t
flue_runrec_event(struct flue_runrec *rec, const char *json, size_t len)
{
	char head[FLUE_RUN_ID_MAX + 64], *text;
	size_t index, head_len;

	pthread_mutex_lock(&rec->lock);
	index = rec->n_events;
	/* {"index":N,"run_id":"...", then the event's own members. */
	head_len = (size_t)snprintf(head, sizeof(head),
	                            "{\"index\":%zu,\"run_id\":\"%s\"%s", index,
	                            rec->id, len > 2 ? "," : "");
	text = malloc(head_len + len + 1);
	if (text != NULL && len >= 2 && json[0] == '{') {
		memcpy(text, head, head_len);
		memcpy(text + head_len, json + 1, len - 1);
		text[head_len + len - 1] = '\0';
		if (push_event(rec, text, head_len + len - 1) == 0) {
			if (rec->events_fd >= 0) {
				text[head_len + len - 1] = '\n';
				if (write(rec->events_fd, text, head_len + len) < 0) {
					close(rec->events_fd);   /* stop trying */
					rec->events_fd = -1;
				}
				text[head_len + len - 1] = '\0';
			}
			text = NULL;
		}
	}
	free(text);
	pthread_cond_broadcast(&rec->cond);
	pthread_mutex_unlock(&rec->lock);
	return index;
}

void
flue_runrec_finish(struct flue_runrec *rec, int ok, json_object *result,
                   const char *error_type, const char *error_message)
{
	json_object *o;

	pthread_mutex_lock(&rec->lock);
	rec->status = ok ? RUN_COMPLETED : RUN_ERRORED;
	rec->ended_ms = realtime_ms();
	rec->result = result != NULL ? json_object_get(result) : NULL;
	rec->error_type = error_type ? strdup(error_type) : NULL;
	rec->error_message = error_message ? strdup(error_message) : NULL;
	if (rec->events_fd >= 0) {
		flue_durable_sync(rec->events_fd);
		close(rec->events_fd);
		rec->events_fd = -1;
	}
	o = record_json_locked(rec);
	pthread_mutex_unlock(&rec->lock);
	write_record(rec->log, rec->id, o, 1);
	json_object_put(o);
	pthread_mutex_lock(&rec->lock);
	pthread_cond_broadcast(&rec->cond);
	pthread_mutex_unlock(&rec->lock);
}

json_object *
flue_runrec_json(struct flue_runrec *rec)
{
	json_object *o;

	pthread_mutex_lock(&rec->lock);
	o = record_json_locked(rec);
	pthread_mutex_unlock(&rec->lock);
	return o;
}

size_t
flue_runrec_wait(struct flue_runrec *rec, size_t after, int timeout_ms,
                 int *ended)
{
	struct timespec deadline;
	size_t n;

	clock_gettime(CLOCK_MONOTONIC, &deadline);
	if (timeout_ms > 0) {
		deadline.tv_sec += timeout_ms / 1000;
		deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
		if (deadline.tv_nsec >= 1000000000L) {
			deadline.tv_sec++;
			deadline.tv_nsec -= 1000000000L;
		}
	}
	pthread_mutex_lock(&rec->lock);
	while (rec->n_events <= after && rec->status == RUN_ACTIVE &&
	       timeout_ms != 0) {
		if (timeout_ms < 0)
			pthread_cond_wait(&rec->cond, &rec->lock);
		else if (pthread_cond_timedwait(&rec->cond, &rec->lock,
		                                &deadline) != 0)
			break;
	}
	n = rec->n_events;
	*ended = rec->status != RUN_ACTIVE;
	pthread_mutex_unlock(&rec->lock);
	return n;
}

char *
flue_runrec_event_copy(struct flue_runrec *rec, size_t index, size_t *len)
{
	char *copy = NULL;

	pthread_mutex_lock(&rec->lock);
	if (index < rec->n_events) {
		copy = malloc(rec->event_len[index] + 1);
		if (copy != NULL) {
			memcpy(copy, rec->events[index], rec->event_len[index] + 1);
			*len = rec->event_len[index];
		}
	}
	pthread_mutex_unlock(&rec->lock);
	return copy;
}

void
flue_runlog_wake_all(struct flue_runlog *log)
{
	pthread_mutex_lock(&log->lock);
	for (struct flue_runrec *rec = log->runs; rec != NULL; rec = rec->next) {
		pthread_mutex_lock(&rec->lock);
		pthread_cond_broadcast(&rec->cond);
		pthread_mutex_unlock(&rec->lock);
	}
	pthread_mutex_unlock(&log->lock);
}
