/* Skills in the Agent Skills format: folders holding a SKILL.md whose
 * YAML frontmatter names and describes the skill.  This module finds them
 * in the workspace, the project and flue's own install, and checks each
 * SKILL.md against the format's rules.  Bodies are not kept: the model
 * reads a skill's file when it decides to use it. */
#ifndef FLUE_LIB_SKILLS_H
#define FLUE_LIB_SKILLS_H

#include <stddef.h>

#include <json-c/json.h>

#include <flue/flue.h>

/* Limits of the format (lengths count Unicode code points). */
#define FLUE_SKILL_NAME_MAX 64
#define FLUE_SKILL_DESCRIPTION_MAX 1024
#define FLUE_SKILL_COMPATIBILITY_MAX 500
/* A larger SKILL.md is refused before it is read. */
#define FLUE_SKILL_FILE_MAX (1024 * 1024)

enum flue_skill_origin {
	FLUE_SKILL_WORKSPACE,   /* <cwd>/.agents/skills in the sandbox */
	FLUE_SKILL_PROJECT,     /* the project's skills folder on the host */
	FLUE_SKILL_BUILTIN      /* the skills installed with flue */
};

/* One valid skill, freed with flue_skill_clear. */
struct flue_skill {
	char *name;             /* [owned] */
	char *description;      /* [owned] */
	char *license;          /* [owned] NULL when absent */
	char *compatibility;    /* [owned] NULL when absent */
	char *allowed_tools;    /* [owned] space-separated tool names; NULL
	                           when absent */
	json_object *metadata;  /* [owned] object of strings; NULL: absent */
	char *path;             /* [owned] the SKILL.md: a sandbox path for
	                           workspace skills, a host path otherwise */
	char *dir;              /* [owned] the skill's folder, on the same
	                           side */
	enum flue_skill_origin origin;
};

/* Skills sorted by name (byte order), freed with flue_skill_set_clear. */
struct flue_skill_set {
	struct flue_skill *items;   /* [owned] */
	size_t count;
};

/* Receives one warning: message [borrowed] is "file:line:column: what"
 * or "file: what", one line. */
typedef void (*flue_skill_warn_fn)(void *arg, const char *message);

/* Check one SKILL.md's text (len bytes, need not be NUL-terminated) and
 * fill *out [caller-owned] (zeroed first; left zeroed on failure).
 * path [borrowed] names the file in messages and becomes out->path, its
 * folder out->dir; folder_name [borrowed] is the name the skill must
 * have.  Scalars given for string fields are read as the text written
 * (`name: 007` is "007").  Errors (FLUE_EINVAL; FLUE_ENOMEM) name the
 * file, the position and the rule:
 * "/repo/.agents/skills/Review/SKILL.md:2:7: name 'Review' may contain
 * only lowercase letters, digits and single hyphens". */
int flue_skill_parse(const char *text, size_t len, const char *path,
                     const char *folder_name, enum flue_skill_origin origin,
                     struct flue_skill *out, struct flue_error *err);

/* Free what skill holds and zero it.  NULL is accepted. */
void flue_skill_clear(struct flue_skill *skill);

/* Where discovery looks.  Any source may be absent. */
struct flue_skill_sources {
	flue_workspace *workspace;  /* [borrowed] may be NULL */
	const char *cwd;            /* [borrowed] sandbox folder whose
	                               .agents/skills is read through the
	                               workspace; NULL: flue_workspace_dir() */
	const char *project_dir;    /* [borrowed] host skills folder or NULL */
	const char *builtin_dir;    /* [borrowed] host skills folder or NULL */
	flue_skill_warn_fn warn;    /* NULL: warnings are dropped */
	void *warn_arg;             /* [borrowed] handed to warn */
};

/* Find every skill in sources into *out [caller-owned] (zeroed first,
 * empty on failure).  A folder that does not exist holds no skills;
 * entries that are hidden, not folders, or folders without a SKILL.md
 * are passed over.  An invalid or unreadable workspace skill is skipped
 * with a warning; an invalid project or builtin skill is an error
 * (FLUE_EINVAL), and so is one name in two places:
 * "skill 'review' is defined twice: /repo/.agents/skills/review/SKILL.md
 * (workspace) and /proj/skills/review/SKILL.md (project)".  Failures of
 * the sandbox itself (cancelled, timed out, out of memory) are returned. */
int flue_skills_discover(const struct flue_skill_sources *sources,
                         struct flue_skill_set *out, struct flue_error *err);

/* The skill called name [borrowed] in set [borrowed], or NULL.  The
 * result is [borrowed] from set. */
const struct flue_skill *flue_skill_set_find(const struct flue_skill_set *set,
                                             const char *name);

/* Free every skill in set and zero it.  NULL is accepted. */
void flue_skill_set_clear(struct flue_skill_set *set);

/* What the model gets when skill is run or activated: 'Run the skill
 * named "x".', the body of its SKILL.md (read again now, so edits made
 * mid-session count) inside <skill_instructions>, where its files are
 * inside <skill_resources>, and "Arguments:" with args_json (may be
 * NULL).  A workspace skill is read through workspace.  *out
 * [caller-owned]. */
int flue_skill_instructions(const struct flue_skill *skill,
                            flue_workspace *workspace, const char *args_json,
                            char **out, struct flue_error *err);

/* "workspace", "project" or "builtin".  [borrowed], static. */
const char *flue_skill_origin_name(enum flue_skill_origin origin);

#endif
