/* The host table handed to each plugin: flue's services behind const
 * function pointers (see <flue/plugin.h>). */
#ifndef FLUE_LIB_HOST_H
#define FLUE_LIB_HOST_H

#include <flue/flue.h>

/* Fill host (caller-owned) for the plugin called plugin_name.  The name
 * is borrowed: it must outlive the table. */
void flue_host_init(struct flue_host *host, const char *plugin_name);

/* The level below which log lines are dropped; from FLUE_LOG
 * (error|warn|info|debug), default warn. */
enum flue_log_level flue_log_threshold(void);

#endif
