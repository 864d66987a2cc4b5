/* The upload archive of fs/write: a gzip'd tar with one regular file,
 * written to an unlinked temporary file so a large file is never held
 * twice in memory and a retry can send it again from the start. */
#include "config.h"

#include <errno.h>
#include <locale.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <archive.h>
#include <archive_entry.h>

#include "vercel.h"

int
vc_tarball_one(const struct flue_host *host, const char *path,
               const void *data, size_t len, unsigned mode, FILE **out,
               uint64_t *out_len, struct flue_error *err)
{
	struct archive *a;
	struct archive_entry *e;
	const char *name = path;
	locale_t utf8, old = (locale_t)0;
	FILE *f;
	long size;
	int ok;

	*out = NULL;
	while (*name == '/')
		name++;
	if (*name == '\0')
		return host->error_set(err, FLUE_EINVAL,
		                       "cannot write to '%s': not a file path",
		                       path);
	f = tmpfile();
	if (f == NULL)
		return host->error_set(err, FLUE_EIO,
		                       "cannot make a temporary file for the "
		                       "upload of %s: %s", path, strerror(errno));
	a = archive_write_new();
	e = archive_entry_new();
	if (a == NULL || e == NULL) {
		archive_write_free(a);
		archive_entry_free(e);
		fclose(f);
		return vc_nomem(host, err);
	}
	/* libarchive converts names through the locale; a UTF-8 one for
	 * this thread alone (the process's locale is not ours to change)
	 * keeps non-ASCII names intact whatever LANG says. */
	utf8 = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
	if (utf8 != (locale_t)0)
		old = uselocale(utf8);
	/* The restricted pax writer uses ustar headers and adds a PAX
	 * record only for the names that need one. */
	ok = archive_write_set_format_pax_restricted(a) == ARCHIVE_OK &&
	     archive_write_add_filter_gzip(a) == ARCHIVE_OK &&
	     archive_write_set_bytes_in_last_block(a, 1) == ARCHIVE_OK &&
	     archive_write_open_FILE(a, f) == ARCHIVE_OK;
	if (ok) {
		archive_entry_set_pathname_utf8(e, name);
		archive_entry_set_filetype(e, AE_IFREG);
		archive_entry_set_perm(e, mode & 07777);
		archive_entry_set_size(e, (la_int64_t)len);
		archive_entry_set_mtime(e, time(NULL), 0);
		archive_entry_set_uid(e, 0);
		archive_entry_set_gid(e, 0);
		ok = archive_write_header(a, e) == ARCHIVE_OK;
	}
	for (size_t done = 0; ok && done < len;) {
		size_t chunk = len - done > (1u << 20) ? (1u << 20) : len - done;
		la_ssize_t n = archive_write_data(a, (const char *)data + done,
		                                  chunk);

		if (n <= 0)
			ok = 0;
		else
			done += (size_t)n;
	}
	if (ok)
		ok = archive_write_close(a) == ARCHIVE_OK;
	if (utf8 != (locale_t)0) {
		uselocale(old);
		freelocale(utf8);
	}
	if (!ok) {
		host->error_set(err, FLUE_EIO, "cannot build the upload of %s: %s",
		                path, archive_error_string(a) ?
		                archive_error_string(a) : "libarchive failed");
		archive_entry_free(e);
		archive_write_free(a);
		fclose(f);
		return FLUE_EIO;
	}
	archive_entry_free(e);
	archive_write_free(a);
	if (fflush(f) != 0 || (size = ftell(f)) < 0 || fseek(f, 0, SEEK_SET)) {
		host->error_set(err, FLUE_EIO, "cannot write the upload of %s: %s",
		                path, strerror(errno));
		fclose(f);
		return FLUE_EIO;
	}
	*out = f;
	*out_len = (uint64_t)size;
	return 0;
}
