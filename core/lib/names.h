/* The names that become file names and URL segments: agent names,
 * session ids and run ids.  Checked wherever they come in, so that a
 * name is always one plain file name (no '/', no leading '.'). */
#ifndef FLUE_LIB_NAMES_H
#define FLUE_LIB_NAMES_H

#define FLUE_AGENT_NAME_MAX 64
#define FLUE_SESSION_ID_MAX 128
#define FLUE_RUN_ID_MAX 48

/* Whether name is lower-kebab-case: [a-z0-9]+(-[a-z0-9]+)*, at most 64
 * bytes (agents, roles). */
int flue_agent_name_valid(const char *name);

/* Session ids: 1-128 of [A-Za-z0-9._-], not starting with '.'. */
int flue_session_id_valid(const char *id);

/* Run ids: 1-48 of [A-Za-z0-9_-], not starting with '-'. */
int flue_run_id_valid(const char *id);

#endif
