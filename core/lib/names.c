/* Name checks shared by the modules that turn names into files. */
#include "config.h"

#include <string.h>

#include "names.h"

int
flue_agent_name_valid(const char *name)
{
	size_t len = strlen(name);

	if (len == 0 || len > FLUE_AGENT_NAME_MAX || name[0] == '-' || name[len - 1] == '-')
		return 0;
	for (size_t i = 0; i < len; i++) {
		char c = name[i];

		if (c == '-' && name[i + 1] == '-')
			return 0;
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
			return 0;
	}
	return 1;
}

int
flue_session_id_valid(const char *id)
{
	size_t len = strlen(id);

	if (len == 0 || len > FLUE_SESSION_ID_MAX || id[0] == '.')
		return 0;
	for (size_t i = 0; i < len; i++) {
		char c = id[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
			return 0;
	}
	return 1;
}

int
flue_run_id_valid(const char *id)
{
	size_t n = 0;

	if (id == NULL || id[0] == '\0' || id[0] == '-')
		return 0;
	for (; id[n] != '\0'; n++)
		if (!((id[n] >= 'a' && id[n] <= 'z') ||
		      (id[n] >= 'A' && id[n] <= 'Z') ||
		      (id[n] >= '0' && id[n] <= '9') || id[n] == '-' ||
		      id[n] == '_'))
			return 0;
	return n <= FLUE_RUN_ID_MAX;
}
