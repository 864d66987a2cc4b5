/* An out-of-tree program embedding libflue, built by tests/outoftree.sh
 * with `pkg-config --cflags --libs flue` only: it opens a harness, runs a
 * command through the installed `local` plugin and prints its output. */
#include <stdio.h>
#include <stdlib.h>

#include <flue/flue.h>

int
main(int argc, char **argv)
{
	const char *path[] = {argc > 1 ? argv[1] : NULL, NULL};
	struct flue_harness_options opts = {
		.size = sizeof(opts), .plugin_path = path,
	};
	struct flue_exec_request req = {.command = "echo embedded in $0"};
	struct flue_exec_result res;
	struct flue_error err = {0};
	flue_workspace *ws = NULL;
	flue_harness *h = NULL;
	int rc = 1;

	if (flue_harness_open(&h, &opts, &err) != 0 ||
	    flue_workspace_open(&ws, h, "local", "embed", NULL, &err) != 0 ||
	    flue_workspace_exec(ws, &req, &res, &err) != 0) {
		fprintf(stderr, "embed: %s\n", err.message);
	} else {
		fputs((const char *)res.stdout_data.data, stdout);
		flue_exec_result_free(&res);
		rc = 0;
	}
	if (ws != NULL)
		flue_workspace_close(ws, &err);
	flue_harness_close(h);
	return rc;
}
