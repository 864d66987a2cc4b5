/* Waiting for a retry without missing a cancellation; compiled into the
 * plugins that retry (gateway, vercel). */
#ifndef FLUE_PLUGINS_WAIT_H
#define FLUE_PLUGINS_WAIT_H

#include <stdint.h>

#include <flue/plugin.h>

/* Wait ms, or less when cancel fires: 0, or FLUE_ECANCELED. */
int plugin_sleep(const struct flue_host *host,
                 const struct flue_cancel *cancel, int64_t ms);

#endif
