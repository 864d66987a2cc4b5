/* Replays a fuzz corpus through a libFuzzer target without libFuzzer, so
 * that `make check` runs every seed under the build's own compiler,
 * sanitizers or valgrind.  Usage: replay FILE-OR-DIRECTORY...; a directory
 * stands for the regular files in it (not its subdirectories), in name
 * order so that a failure always shows up at the same point. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Defined by the target this file is linked with. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Read path into *out [caller-owned], exactly *len bytes long: no
 * terminating NUL and no slack, so that a sanitizer or valgrind sees any
 * read past the input, as libFuzzer would. */
static int
read_input(const char *path, uint8_t **out, size_t *len)
{
	uint8_t *buf = NULL, *grown;
	size_t size = 0, cap = 0, n;
	FILE *f;
	int saved;

	f = fopen(path, "rb");
	if (f == NULL)
		return -1;
	for (;;) {
		if (size == cap) {
			cap = cap ? 2 * cap : 4096;
			grown = realloc(buf, cap);
			if (grown == NULL) {
				errno = ENOMEM;
				goto fail;
			}
			buf = grown;
		}
		n = fread(buf + size, 1, cap - size, f);
		size += n;
		if (n == 0)
			break;
	}
	if (ferror(f)) {
		errno = EIO;
		goto fail;
	}
	fclose(f);
	/* An empty input still gets a pointer of its own. */
	grown = malloc(size ? size : 1);
	if (grown == NULL) {
		free(buf);
		errno = ENOMEM;
		return -1;
	}
	memcpy(grown, buf, size);
	free(buf);
	*out = grown;
	*len = size;
	return 0;
fail:
	saved = errno;
	free(buf);
	fclose(f);
	errno = saved;
	return -1;
}

static void
cannot_read(const char *path)
{
	fprintf(stderr, "replay: cannot read %s: %s\n", path, strerror(errno));
	exit(1);
}

static void
replay_file(const char *path, unsigned long *count)
{
	uint8_t *data;
	size_t len;

	if (read_input(path, &data, &len) != 0)
		cannot_read(path);
	/* Named before the run: a crash report then follows its input. */
	printf("%s\n", path);
	fflush(stdout);
	LLVMFuzzerTestOneInput(data, len);
	free(data);
	(*count)++;
}

static int
compare_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void
replay_directory(const char *dir, unsigned long *count)
{
	char **paths = NULL, **grown;
	size_t n = 0, cap = 0;
	struct dirent *entry;
	struct stat st;
	DIR *d;

	d = opendir(dir);
	if (d == NULL)
		cannot_read(dir);
	for (;;) {
		char *path;

		errno = 0;
		entry = readdir(d);
		if (entry == NULL) {
			if (errno != 0)
				cannot_read(dir);
			break;
		}
		if (strcmp(entry->d_name, ".") == 0 ||
		    strcmp(entry->d_name, "..") == 0)
			continue;
		if (asprintf(&path, "%s/%s", dir, entry->d_name) < 0) {
			errno = ENOMEM;
			cannot_read(dir);
		}
		if (stat(path, &st) != 0)
			cannot_read(path);
		if (!S_ISREG(st.st_mode)) {
			free(path);
			continue;
		}
		if (n == cap) {
			cap = cap ? 2 * cap : 64;
			grown = realloc(paths, cap * sizeof(*grown));
			if (grown == NULL) {
				errno = ENOMEM;
				cannot_read(dir);
			}
			paths = grown;
		}
		paths[n++] = path;
	}
	closedir(d);
	if (n > 0)
		qsort(paths, n, sizeof(*paths), compare_names);
	for (size_t i = 0; i < n; i++) {
		replay_file(paths[i], count);
		free(paths[i]);
	}
	free(paths);
}

int
main(int argc, char **argv)
{
	unsigned long count = 0;
	struct stat st;
#ifdef FUZZ_CORPUS
	/* Built for make check: with no arguments, replay the seed corpus. */
	static char *corpus[] = {NULL, (char *)FUZZ_CORPUS, NULL};

	if (argc < 2) {
		corpus[0] = argv[0];
		argv = corpus;
		argc = 2;
	}
#endif

	if (argc < 2) {
		fprintf(stderr, "usage: %s FILE-OR-DIRECTORY...\n"
		        "Runs the fuzz target once on each file, or on each "
		        "regular file of a directory.\n", argv[0]);
		return 1;
	}
	for (int i = 1; i < argc; i++) {
		if (stat(argv[i], &st) != 0)
			cannot_read(argv[i]);
		if (S_ISDIR(st.st_mode))
			replay_directory(argv[i], &count);
		else
			replay_file(argv[i], &count);
	}
	printf("replayed %lu inputs\n", count);
	return 0;
}
