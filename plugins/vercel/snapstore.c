/* The snapshot store: which snapshot was taken after setting up which
 * source, in <state>/vercel/snapshots.json.  Written whole to a
 * temporary file, synced and renamed, under an flock, so two flue
 * processes never lose each other's entries or leave half a file. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vercel.h"

char *
vc_snapshot_key(const struct vc_options *o)
{
	uint64_t h = 1469598103934665603ull;
	const char *parts[6];
	char *out;

	/* Everything that shapes the set-up files: a change to any of them
	 * means a new snapshot. */
	parts[0] = o->runtime ? o->runtime : "";
	parts[1] = o->source ? json_object_to_json_string_ext(o->source,
	           JSON_C_TO_STRING_PLAIN) : "";
	parts[2] = o->setup ? json_object_to_json_string_ext(o->setup,
	           JSON_C_TO_STRING_PLAIN) : "";
	parts[3] = o->sudo ? "sudo" : "";
	parts[4] = o->env ? json_object_to_json_string_ext(o->env,
	           JSON_C_TO_STRING_PLAIN) : "";
	parts[5] = o->source_revision ? o->source_revision : "";
	for (int i = 0; i < 6; i++) {
		for (const unsigned char *p = (const unsigned char *)parts[i]; *p;
		     p++) {
			h ^= *p;
			h *= 1099511628211ull;
		}
		h ^= 0xff;   /* a separator no string holds */
		h *= 1099511628211ull;
	}
	if (asprintf(&out, "%016llx", (unsigned long long)h) < 0)
		return NULL;
	return out;
}

static int
paths(const char *state_dir, char **dir, char **file, char **lock)
{
	*dir = *file = *lock = NULL;
	if (asprintf(dir, "%s/vercel", state_dir) < 0 ||
	    asprintf(file, "%s/vercel/snapshots.json", state_dir) < 0 ||
	    asprintf(lock, "%s/vercel/snapshots.lock", state_dir) < 0)
		return -1;
	return 0;
}

static int
mkdirs(const char *path)
{
	char buf[4096];

	if (strlen(path) >= sizeof(buf))
		return -1;
	strcpy(buf, path);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0755) != 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	return mkdir(buf, 0755) != 0 && errno != EEXIST ? -1 : 0;
}

/* Open and lock the store; *out_root is its content ({} when new). */
static int
store_open(const struct flue_host *host, const char *state_dir, int write,
           int *out_fd, json_object **out_root, char **out_file,
           struct flue_error *err)
{
	char *dir, *file, *lock;
	json_object *root = NULL, *snaps;
	int fd;

	*out_fd = -1;
	*out_root = NULL;
	*out_file = NULL;
	if (state_dir == NULL)
		return host->error_set(err, FLUE_EINVAL,
		        "vercel: snapshot: reuse keeps its snapshot ids in the "
		        "project's state folder, and flue runs without a project "
		        "here: run it in a project folder (`flue init` makes one), "
		        "or remove snapshot: reuse");
	if (paths(state_dir, &dir, &file, &lock) != 0) {
		free(dir);
		free(file);
		free(lock);
		return vc_nomem(host, err);
	}
	if (write && mkdirs(dir) != 0) {
		host->error_set(err, FLUE_EIO, "vercel: cannot make %s: %s", dir,
		                strerror(errno));
		goto fail;
	}
	fd = open(lock, (write ? O_RDWR | O_CREAT : O_RDONLY) | O_CLOEXEC,
	          0644);
	if (fd < 0 && !write && errno == ENOENT) {
		*out_root = json_object_new_object();
		json_object_object_add(*out_root, "snapshots",
		                       json_object_new_object());
		free(dir);
		free(lock);
		*out_file = file;
		return 0;
	}
	if (fd < 0 || flock(fd, write ? LOCK_EX : LOCK_SH) != 0) {
		host->error_set(err, FLUE_EIO, "vercel: cannot lock %s: %s", lock,
		                strerror(errno));
		if (fd >= 0)
			close(fd);
		goto fail;
	}
	root = json_object_from_file(file);
	if (root == NULL && access(file, F_OK) == 0) {
		host->error_set(err, FLUE_EIO,
		        "vercel: %s is not valid JSON; remove it to forget the "
		        "snapshots it lists", file);
		close(fd);
		goto fail;
	}
	if (root == NULL)
		root = json_object_new_object();
	if (!json_object_object_get_ex(root, "snapshots", &snaps) ||
	    !json_object_is_type(snaps, json_type_object))
		json_object_object_add(root, "snapshots", json_object_new_object());
	json_object_object_add(root, "version", json_object_new_int(1));
	free(dir);
	free(lock);
	*out_fd = fd;
	*out_root = root;
	*out_file = file;
	return 0;
fail:
	free(dir);
	free(file);
	free(lock);
	return err->code;
}

static int
store_save(const struct flue_host *host, const char *file, json_object *root,
           struct flue_error *err)
{
	const char *text = json_object_to_json_string_ext(root,
	                   JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE);
	size_t len = strlen(text), done = 0;
	char *tmp;
	int fd;

	if (asprintf(&tmp, "%s.tmp.%ld", file, (long)getpid()) < 0)
		return vc_nomem(host, err);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	while (fd >= 0 && done < len) {
		ssize_t n = write(fd, text + done, len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		done += (size_t)n;
	}
	if (fd < 0 || done < len || write(fd, "\n", 1) != 1 ||
	    fsync(fd) != 0 || close(fd) != 0 || rename(tmp, file) != 0) {
		int e = errno;

		if (fd >= 0)
			close(fd);
		unlink(tmp);
		free(tmp);
		return host->error_set(err, FLUE_EIO, "vercel: cannot write %s: %s",
		                       file, strerror(e));
	}
	free(tmp);
	return 0;
}

int
vc_snapstore_get(const struct flue_host *host, const char *state_dir,
                 const char *key, char **out_id, struct flue_error *err)
{
	json_object *root, *snaps, *entry, *id;
	char *file;
	int fd, rc;

	*out_id = NULL;
	rc = store_open(host, state_dir, 0, &fd, &root, &file, err);
	if (rc != 0)
		return rc;
	json_object_object_get_ex(root, "snapshots", &snaps);
	if (json_object_object_get_ex(snaps, key, &entry) &&
	    json_object_object_get_ex(entry, "id", &id) &&
	    json_object_is_type(id, json_type_string)) {
		*out_id = strdup(json_object_get_string(id));
		if (*out_id == NULL)
			rc = vc_nomem(host, err);
	}
	json_object_put(root);
	free(file);
	if (fd >= 0)
		close(fd);
	return rc;
}

int
vc_snapstore_put(const struct flue_host *host, const char *state_dir,
                 const struct vc_options *o, const char *key, const char *id,
                 struct flue_error *err)
{
	json_object *root, *snaps, *entry;
	char *file;
	int fd, rc;

	rc = store_open(host, state_dir, 1, &fd, &root, &file, err);
	if (rc != 0)
		return rc;
	json_object_object_get_ex(root, "snapshots", &snaps);
	if (id == NULL) {
		json_object_object_del(snaps, key);
	} else {
		entry = json_object_new_object();
		json_object_object_add(entry, "id", json_object_new_string(id));
		if (o->source_url)
			json_object_object_add(entry, "source",
			                       json_object_new_string(o->source_url));
		if (o->source_revision)
			json_object_object_add(entry, "revision",
			        json_object_new_string(o->source_revision));
		json_object_object_add(entry, "runtime",
		                       json_object_new_string(o->runtime));
		if (o->setup)
			json_object_object_add(entry, "setup",
			                       json_object_get(o->setup));
		json_object_object_add(entry, "created_ms",
		                       json_object_new_int64(vc_epoch_ms()));
		json_object_object_add(snaps, key, entry);
	}
	rc = store_save(host, file, root, err);
	json_object_put(root);
	free(file);
	close(fd);
	return rc;
}

int
vc_snapstore_forget_id(const struct flue_host *host, const char *state_dir,
                       const char *id, struct flue_error *err)
{
	json_object *root, *snaps, *v;
	char *file, *found = NULL;
	int fd, rc;

	rc = store_open(host, state_dir, 1, &fd, &root, &file, err);
	if (rc != 0)
		return rc;
	json_object_object_get_ex(root, "snapshots", &snaps);
	json_object_object_foreach(snaps, key, entry) {
		if (json_object_object_get_ex(entry, "id", &v) &&
		    strcmp(json_object_get_string(v), id) == 0)
			found = key;
	}
	if (found != NULL) {
		json_object_object_del(snaps, found);
		rc = store_save(host, file, root, err);
	}
	json_object_put(root);
	free(file);
	close(fd);
	return rc;
}

static char *
field(json_object *entry, const char *key)
{
	json_object *v;

	if (!json_object_object_get_ex(entry, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	return strdup(json_object_get_string(v));
}

int
vc_snapstore_list(const struct flue_host *host, const char *state_dir,
                  struct vc_snapshot_record **out, size_t *out_n,
                  struct flue_error *err)
{
	json_object *root, *snaps, *v;
	struct vc_snapshot_record *r;
	char *file;
	size_t n = 0;
	int fd, rc;

	*out = NULL;
	*out_n = 0;
	rc = store_open(host, state_dir, 0, &fd, &root, &file, err);
	if (rc != 0)
		return rc;
	json_object_object_get_ex(root, "snapshots", &snaps);
	r = calloc((size_t)json_object_object_length(snaps) + 1, sizeof(*r));
	if (r == NULL)
		rc = vc_nomem(host, err);
	if (r != NULL) {
		json_object_object_foreach(snaps, key, entry) {
			r[n].key = strdup(key);
			r[n].id = field(entry, "id");
			r[n].source = field(entry, "source");
			r[n].revision = field(entry, "revision");
			if (json_object_object_get_ex(entry, "created_ms", &v))
				r[n].created_ms = json_object_get_int64(v);
			if (r[n].id == NULL) {
				free(r[n].key);
				free(r[n].source);
				free(r[n].revision);
				memset(&r[n], 0, sizeof(r[n]));
				continue;
			}
			n++;
		}
	}
	json_object_put(root);
	free(file);
	if (fd >= 0)
		close(fd);
	*out = r;
	*out_n = n;
	return rc;
}

void
vc_snapstore_list_free(struct vc_snapshot_record *r, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(r[i].key);
		free(r[i].id);
		free(r[i].source);
		free(r[i].revision);
	}
	free(r);
}
