/* An out-of-tree sandbox plugin, built by tests/outoftree.sh against the
 * installed <flue/plugin.h> and flue.pc only.  It is the smallest
 * complete sandbox: exec answers with a greeting, files are unsupported.
 *
 *   cc -shared -fPIC -fvisibility=hidden $(pkg-config --cflags flue) \
 *      -o hello.so hello.c
 */
#include <stdio.h>
#include <string.h>

#include <flue/plugin.h>

struct hello {
	const struct flue_host *host;
	unsigned opened;
};

static int
hello_create(const struct flue_host *host, const char *options,
             void **out, struct flue_error *err)
{
	struct hello *h = host->alloc(sizeof(*h));

	(void)options;
	if (h == NULL)
		return host->error_set(err, FLUE_ENOMEM, "out of memory");
	h->host = host;
	h->opened = 0;
	*out = h;
	return 0;
}

static void
hello_destroy(void *instance)
{
	struct hello *h = instance;

	h->host->free(h);
}

static int
hello_open(void *instance, const char *session, const char *options,
           void **out, struct flue_error *err)
{
	struct hello *h = instance;

	(void)session;
	(void)options;
	(void)err;
	h->opened++;
	*out = h;
	return 0;
}

static int
hello_close(void *ws, struct flue_error *err)
{
	(void)ws;
	(void)err;
	return 0;
}

static const char *
hello_workdir(void *ws)
{
	(void)ws;
	return "/hello";
}

#define UNSUPPORTED(ws, err) \
	((struct hello *)(ws))->host->error_set((err), FLUE_ENOTSUP, \
	                                        "hello has no files")

static int
hello_read(void *ws, const char *p, struct flue_bytes *o, struct flue_error *e)
{
	(void)p; (void)o;
	return UNSUPPORTED(ws, e);
}

static int
hello_write(void *ws, const char *p, const void *d, size_t n,
            struct flue_error *e)
{
	(void)p; (void)d; (void)n;
	return UNSUPPORTED(ws, e);
}

static int
hello_stat(void *ws, const char *p, struct flue_stat *o, struct flue_error *e)
{
	(void)p; (void)o;
	return UNSUPPORTED(ws, e);
}

static int
hello_list(void *ws, const char *p, flue_dirent_fn fn, void *pl,
           struct flue_error *e)
{
	(void)p; (void)fn; (void)pl;
	return UNSUPPORTED(ws, e);
}

static int
hello_exists(void *ws, const char *p, int *o, struct flue_error *e)
{
	(void)ws; (void)p; (void)e;
	*o = 0;
	return 0;
}

static int
hello_mkdir(void *ws, const char *p, uint32_t f, struct flue_error *e)
{
	(void)p; (void)f;
	return UNSUPPORTED(ws, e);
}

static int
hello_exec(void *ws, const struct flue_exec_request *req,
           struct flue_exec_result *out, struct flue_error *err)
{
	struct hello *h = ws;
	size_t size = strlen(req->command) + 64;
	char *text = h->host->alloc(size);
	char *empty = h->host->alloc(1);
	int len;

	if (text == NULL || empty == NULL) {
		h->host->free(text);
		h->host->free(empty);
		return h->host->error_set(err, FLUE_ENOMEM, "out of memory");
	}
	len = snprintf(text, size, "hello from out of tree: %s\n", req->command);
	if (req->on_output != NULL)
		req->on_output(req->output_payload, 1, text, (size_t)len);
	empty[0] = '\0';
	out->stdout_data.data = (unsigned char *)text;
	out->stdout_data.len = (size_t)len;
	out->stderr_data.data = (unsigned char *)empty;
	out->stderr_data.len = 0;
	out->exit_code = 7;
	return 0;
}

static const struct flue_sandbox_ops hello_ops = {
	.size = sizeof(struct flue_sandbox_ops),
	.open = hello_open,
	.close = hello_close,
	.workdir = hello_workdir,
	.read_file = hello_read,
	.write_file = hello_write,
	.stat = hello_stat,
	.list_dir = hello_list,
	.exists = hello_exists,
	.mkdir = hello_mkdir,
	.remove = hello_mkdir,
	.exec = hello_exec,
};

static const struct flue_plugin hello_plugin = {
	.abi_major = FLUE_PLUGIN_ABI_MAJOR,
	.abi_minor = FLUE_PLUGIN_ABI_MINOR,
	.size = sizeof(struct flue_plugin),
	.kind = FLUE_PLUGIN_SANDBOX,
	.name = "hello",
	.version = "1.2.3",
	.description = "an out-of-tree sandbox built from the installed header",
	.create = hello_create,
	.destroy = hello_destroy,
	.sandbox = &hello_ops,
};

FLUE_PLUGIN_EXPORT const struct flue_plugin *
flue_plugin_entry(void)
{
	return &hello_plugin;
}
