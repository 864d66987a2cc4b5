/* The harness: the project, its plugins, and what they are loaded with.
 * Internal view shared with workspace.c. */
#ifndef FLUE_LIB_HARNESS_H
#define FLUE_LIB_HARNESS_H

#include <json-c/json.h>

#include <flue/flue.h>

#include "loader.h"
#include "project.h"

struct flue_harness {
	char *project_dir;               /* owned, absolute: project.root */
	struct flue_project project;     /* owned: folders and flue.yaml */
	struct flue_loader *loader;      /* owned */
	char **search_path;              /* owned, NULL-terminated */
	json_object *plugin_options;     /* owned; object name -> options */
};

/* The plugin called name, loaded now if it is not yet (with its options
 * from the harness).  Safe from several threads: tasks and server runs
 * load plugins on demand at the same time.  *out [borrowed] from the
 * loader. */
int flue_harness_plugin(flue_harness *harness, const char *name,
                        struct flue_loaded_plugin **out,
                        struct flue_error *err);

/* The create() options for plugin stem, as a JSON string ("{}" when the
 * harness has none).  Borrowed from the harness. */
const char *flue_harness_plugin_options(flue_harness *harness,
                                        const char *stem);

/* The sandbox operations and the plugin's own handle behind a workspace,
 * for tool plugins (struct flue_tool_context).  [borrowed] */
void flue_workspace_raw(const flue_workspace *workspace,
                        const struct flue_sandbox_ops **out_ops,
                        void **out_handle);

#endif
