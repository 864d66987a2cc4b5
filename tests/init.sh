#!/bin/bash
# `flue init`: the scaffold's files and contents, the default and nested
# folders, refusing to touch existing paths, --force, symbolic links,
# failed writes leaving nothing behind, help and usage errors.
set -u
. "$(dirname "$0")/testlib.sh"
tmp=$(mktemp -d /tmp/flue-init-XXXXXX)
trap 'chmod -R u+w "$tmp" 2>/dev/null; rm -rf "$tmp"' EXIT
cd "$tmp" || exit 1
umask 022

# same FILE: FILE's contents are exactly stdin.
same() {
	local want
	want=$(cat; echo x)
	[ -f "$1" ] && [ "$(cat "$1"; echo x)" = "$want" ]
}

flue=$FLUE_BIN
files="flue.yaml AGENTS.md .flue/agents/hello.md .flue/roles/friendly.md
.agents/skills/describe-project/SKILL.md .env.example .gitignore"

# all_files DIR: every scaffold file is there, a regular file, mode 0644.
all_files() {
	local f
	for f in $files; do
		[ -f "$1/$f" ] && [ ! -L "$1/$f" ] || { echo "missing $1/$f"; return 1; }
		[ "$(stat -c %a "$1/$f")" = 644 ] || { echo "$1/$f: mode $(stat -c %a "$1/$f")"; return 1; }
	done
}

# lacks PATTERN TEXT: no line of TEXT matches the extended regex.
lacks() {
	! grep -Eq -- "$1" <<<"$2"
}

# only DIR NAME...: DIR holds exactly these entries (ls -A), nothing else.
only() {
	local dir=$1
	shift
	[ "$(ls -A "$dir" | sort)" = "$(for f in "$@"; do echo "$f"; done | sort)" ]
}

# --- a fresh folder ------------------------------------------------------
expect "fresh folder" 0 '  created flue\.yaml' -- "$flue" init fresh
check "fresh: all files, mode 0644" all_files fresh
check "fresh: nothing else" only fresh flue.yaml AGENTS.md .flue .agents .env.example .gitignore
check "fresh: folders only as needed" only fresh/.flue agents roles
check "fresh: no temporary files" only fresh/.flue/agents hello.md
expect "fresh: lists every file" 0 'created \.agents/skills/describe-project/SKILL\.md' -- "$flue" init fresh2
expect "fresh: next steps cd" 0 '^  cd fresh3$' -- "$flue" init fresh3
expect "fresh: next steps render" 0 '^  flue render hello +show the system prompt' -- "$flue" init fresh4
expect "fresh: next steps run" 0 "^  flue run hello --payload '\\{\"name\": \"Ada\"\\}'$" -- "$flue" init fresh5

check "flue.yaml contents" same fresh/flue.yaml <<'EOF'
# flue.yaml: how this project's agents run. Every key is optional.
plugins: [local]            # sandbox and provider plugins to load
defaults:
  model: anthropic/claude-sonnet-4.6   # provider/model
  sandbox: local            # run tools on this machine, in the project folder
  thinking: medium          # off, minimal, low, medium, high, xhigh
server:
  port: 3583                # flue dev / flue serve
EOF
check "hello.md contents" same fresh/.flue/agents/hello.md <<'EOF'
---
description: Greets the user and describes the project it finds
model: anthropic/claude-sonnet-4.6
role: friendly
max_turns: 8
---
Greet {{ payload.name | "the user" }}. Then look around the working
directory with your tools and describe, in three sentences, what this
project is.
EOF
check "friendly.md contents" same fresh/.flue/roles/friendly.md <<'EOF'
---
description: Warm, brief and plain-spoken
thinking: low
---
Be warm and brief. Use short sentences and plain words.
EOF
check "SKILL.md names the skill" grep -qx 'name: describe-project' fresh/.agents/skills/describe-project/SKILL.md
check "AGENTS.md heading" grep -qx '# Project context' fresh/AGENTS.md
check ".env.example has the key" grep -qx 'AI_GATEWAY_API_KEY=' fresh/.env.example
check ".gitignore contents" same fresh/.gitignore <<'EOF'
.env
.env.local
.flue/state/
EOF

# --- the current folder, by name and by default --------------------------
mkdir dot here
out=$(cd dot && "$flue" init . 2>&1)
check "init .: exit 0" test $? -eq 0
check "init .: all files" all_files dot
check "init .: next steps" grep -q '^Next steps:' <<<"$out"
check "init .: no cd step" lacks '^  cd ' "$out"
out=$(cd here && "$flue" init 2>&1)
check "default folder: exit 0" test $? -eq 0
check "default folder: all files" all_files here
check "default folder: no cd step" lacks '^  cd ' "$out"

# --- nested folders are created ------------------------------------------
expect "nested folder" 0 '  cd deep/er/still$' -- "$flue" init deep/er/still
check "nested: all files" all_files deep/er/still
check "nested: folders are 0755" test "$(stat -c %a deep) $(stat -c %a deep/er/still/.flue/agents)" = "755 755"
expect "a folder name with a quote" 0 "  cd 'it'\\\\''s here'$" -- "$flue" init "it's here"
expect "DIR is a regular file" 1 'plain exists and is not a folder' -- bash -c "echo x > plain && '$flue' init plain"

# --- existing files: refuse and write nothing ----------------------------
mkdir taken
echo 'mine: 1' > taken/flue.yaml
echo 'notes' > taken/.gitignore
touch -d '2001-02-03 04:05:06' taken/flue.yaml taken/.gitignore
before=$(stat -c '%Y %s' taken/flue.yaml taken/.gitignore)
expect "refuses existing files" 1 'Nothing was written\. Use --force to overwrite\.' -- "$flue" init taken
expect "refusal lists flue.yaml" 1 '^  taken/flue\.yaml$' -- "$flue" init taken
expect "refusal lists .gitignore" 1 '^  taken/\.gitignore$' -- "$flue" init taken
out=$("$flue" init taken 2>&1)
check "refusal lists exactly the existing files" test "$out" = "flue: these already exist:
  taken/flue.yaml
  taken/.gitignore
Nothing was written. Use --force to overwrite."
check "refusal: contents unchanged" test "$(cat taken/flue.yaml taken/.gitignore)" = "mine: 1
notes"
check "refusal: mtimes unchanged" test "$(stat -c '%Y %s' taken/flue.yaml taken/.gitignore)" = "$before"
check "refusal: nothing else written" only taken flue.yaml .gitignore
expect "refusal in the current folder" 1 '^  flue\.yaml$' -- bash -c "cd taken && '$flue' init"
check "refusal in .: nothing else written" only taken flue.yaml .gitignore

# --- --force overwrites regular files ------------------------------------
expect "--force overwrites" 0 '  replaced flue\.yaml' -- "$flue" init --force taken
check "--force: all files" all_files taken
check "--force: flue.yaml rewritten" grep -q '^plugins: \[local\]' taken/flue.yaml
check "--force: .gitignore rewritten" same taken/.gitignore <<'EOF'
.env
.env.local
.flue/state/
EOF
check "--force: nothing else" only taken flue.yaml AGENTS.md .flue .agents .env.example .gitignore
expect "--force after DIR" 0 'replaced AGENTS\.md' -- "$flue" init taken --force

# --- symbolic links and folders are never replaced -----------------------
mkdir linked
echo 'keep me' > target
ln -s ../target linked/.gitignore
expect "symlink refused with --force" 1 'linked/\.gitignore +\(a symbolic link\)' -- "$flue" init --force linked
expect "symlink refusal says --force cannot help" 1 'cannot be overwritten, even with --force' -- "$flue" init --force linked
check "symlink: target untouched" test "$(cat target)" = "keep me"
check "symlink: still a symlink" test -L linked/.gitignore
check "symlink: nothing else written" only linked .gitignore
expect "symlink refused without --force" 1 'a symbolic link: never replaced, even with --force' -- "$flue" init linked
check "symlink: target still untouched" test "$(cat target)" = "keep me"

mkdir -p dirtarget/AGENTS.md
expect "folder in a file's place refused with --force" 1 'dirtarget/AGENTS\.md +\(a folder\)' -- "$flue" init --force dirtarget
check "folder: nothing else written" only dirtarget AGENTS.md

mkdir -p linkparent elsewhere
ln -s ../elsewhere linkparent/.flue
expect "symlinked .flue refused with --force" 1 'linkparent/\.flue +\(a symbolic link\)' -- "$flue" init --force linkparent
check "symlinked .flue: nothing written through it" only elsewhere
check "symlinked .flue: nothing else written" only linkparent .flue

# --- failed writes leave nothing behind ----------------------------------
mkdir toobig
expect "a failed write" 1 'cannot write toobig/flue\.yaml: File too large' -- bash -c "trap '' XFSZ; ulimit -f 0; exec '$flue' init toobig"
check "failed write: no temporary file" only toobig

mkdir toobig2
echo 'old' > toobig2/flue.yaml
expect "a failed --force write" 1 'cannot write toobig2/flue\.yaml' -- bash -c "trap '' XFSZ; ulimit -f 0; exec '$flue' init --force toobig2"
check "failed --force write: old file intact" test "$(cat toobig2/flue.yaml)" = old
check "failed --force write: no temporary file" only toobig2 flue.yaml

if [ "$(id -u)" -eq 0 ]; then
	echo "SKIP: unwritable folders (root ignores permissions)"
else
	mkdir locked
	chmod 555 locked
	expect "unwritable folder" 1 'cannot write locked/flue\.yaml: Permission denied' -- "$flue" init locked
	check "unwritable: nothing left behind" only locked
	mkdir -p halfway/.flue/agents
	chmod 555 halfway/.flue/agents
	expect "unwritable subfolder" 1 'cannot write halfway/\.flue/agents/hello\.md: Permission denied' -- "$flue" init halfway
	check "unwritable subfolder: no temporary file" only halfway/.flue/agents
	check "unwritable subfolder: earlier files complete" same halfway/flue.yaml <fresh/flue.yaml
	chmod 755 locked halfway/.flue/agents
fi

# --- help and usage errors -----------------------------------------------
expect "help" 0 'Usage: flue init \[--force\] \[DIR\]' -- "$flue" init --help
expect "help -h" 0 'Usage: flue init' -- "$flue" init -h
expect "help explains --force" 0 '--force +overwrite existing regular files' -- "$flue" init --help
expect "help lists the files" 0 'describe-project/SKILL\.md' -- "$flue" init --help
expect "help writes nothing" 0 '' -- bash -c "mkdir quiet && cd quiet && '$flue' init --help >/dev/null && [ -z \"\$(ls -A)\" ]"
expect "unknown option" 2 "unknown or incomplete option '--bogus'" -- "$flue" init --bogus
expect "unknown short option" 2 "unknown or incomplete option" -- "$flue" init -x
expect "option with a value" 2 "unknown or incomplete option '--force=yes'" -- "$flue" init --force=yes
expect "two folders" 2 "unexpected argument 'two'" -- "$flue" init one two
check "two folders: nothing created" test ! -e one -a ! -e two
expect "empty folder name" 2 'the folder name is empty' -- "$flue" init ''

finish
