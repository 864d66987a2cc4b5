#!/bin/bash
# flue add: every in-tree blueprint passes --check and applies to a fresh
# project; re-applying changes nothing; a file the user changed is kept;
# every rule of the format has a failing example naming its line.
set -u
. "$(dirname "$0")/testlib.sh"
tmp=$(mktemp -d /tmp/flue-blueprints-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
flue=$FLUE_BIN
export FLUE_DATA_DIR=$FLUE_TEST_SRCDIR FLUE_PLUGIN_PATH=$FLUE_TEST_PLUGIN_DIR
cd "$tmp" || exit 1

# --- the in-tree blueprints -----------------------------------------------------
for f in "$FLUE_TEST_SRCDIR"/blueprints/*.md; do
	case $f in */README.md) continue ;; esac
	expect "--check $(basename "$f")" 0 ': ok \(' -- "$flue" add --check "$f"
done

# --- applying each to a fresh project ---------------------------------------------
for f in "$FLUE_TEST_SRCDIR"/blueprints/*--*.md; do
	b=$(basename "$f" .md)
	kind=${b%%--*} name=${b#*--}
	rm -rf "$tmp/p" && "$flue" init "$tmp/p" >/dev/null
	(cd "$tmp/p" && "$flue" add "$kind" "$name" >"$tmp/out" 2>&1)
	check "$b: applies" grep -q "^applying $kind/$name@" "$tmp/out"
	(cd "$tmp/p" && "$flue" add "$kind" "$name" >"$tmp/again" 2>&1)
	check "$b: applying again changes nothing" test "$(grep -c '^  \(create\|update\|merge\|append\|kept\)' "$tmp/again")" -eq 0
	check "$b: recorded" test "$(jq -r --arg k "$kind/$name" '.[$k].version' "$tmp/p/.flue/state/blueprints/installed.json")" -ge 1
	(cd "$tmp/p" && "$flue" add >"$tmp/list")
	check "$b: listed as installed" grep -q "^  $kind *$name .*\[installed: version" "$tmp/list"
	# flue.yaml still loads after the merge.
	check "$b: flue.yaml still parses" sh -c "cd '$tmp/p' && '$flue' add >/dev/null"
done

# --- what sandbox--local and sandbox--vercel write ------------------------------------
rm -rf "$tmp/p" && "$flue" init "$tmp/p" >/dev/null && cd "$tmp/p" || exit 1
"$flue" add sandbox vercel --dry-run >"$tmp/out"
check "--dry-run: the plan" grep -q '^  create     agents/coder.md$' "$tmp/out"
check "--dry-run: nothing written" test ! -e .flue/agents/coder.md
"$flue" add sandbox vercel >"$tmp/out"
check "the primary file's marker (inside the frontmatter)" test "$(sed -n 2p .flue/agents/coder.md)" = "# flue-blueprint: sandbox/vercel@2"
# The frontmatter parses: what stops it is only the missing credentials.
unset VERCEL_OIDC_TOKEN VERCEL_TOKEN VERCEL_TEAM_ID VERCEL_PROJECT_ID
expect "the agent file still loads" 1 "coder.md: sandbox 'vercel': vercel: no credentials" -- "$flue" render coder --payload '{"repo":"r"}' --plugin local
check "flue.yaml: the plugin joined the flow list, the comment kept" grep -q '^plugins: \[local, vercel\] *# sandbox and provider plugins to load$' flue.yaml
check ".env.example: the variables appended" test "$(grep -c '^VERCEL_' .env.example)" -eq 4
check "next steps printed" grep -q 'vercel env pull' "$tmp/out"
"$flue" add provider gateway >"$tmp/out"
check "flue.yaml: a new top-level mapping appended" grep -q '^  ollama:$' flue.yaml
check "flue.yaml: an existing default left alone" test "$(grep -c '^  model:' flue.yaml)" -eq 1
echo "# my change" >>.flue/agents/coder.md
"$flue" add sandbox vercel >"$tmp/out"
check "a changed file is kept" grep -q '^# my change$' .flue/agents/coder.md
check "...and it says the blueprint has nothing new for it" grep -q '^  yours      agents/coder.md (changed by you; nothing new for it)$' "$tmp/out"
rm .flue/state/blueprints/sandbox--vercel/agents/coder.md
"$flue" add sandbox vercel >"$tmp/out"
check "without a known base: the blueprint's version beside it" test -s .flue/agents/coder.md.blueprint
check "...and it says so" grep -q 'kept yours agents/coder.md' "$tmp/out"
printf 'plugins:\n  - local\ndefaults:\n  thinking: low\n' >flue.yaml
"$flue" add sandbox local >/dev/null
check "flue.yaml: block lists and mappings merged" test "$(cat flue.yaml)" = "$(printf 'plugins:\n  - local\ndefaults:\n  thinking: low\n  sandbox: "local"')"
cd "$tmp" || exit 1

# --- finding blueprints --------------------------------------------------------------
expect "names are case-insensitive, aliases too" 0 '^would apply sandbox/vercel@2' -- sh -c "cd '$tmp/p' && '$flue' add sandbox Vercel-Sandbox --dry-run"
expect "an unknown name suggests" 1 "no sandbox blueprint 'vercl' \(did you mean 'vercel'\?\)" -- "$flue" add sandbox vercl
expect "an unknown kind suggests" 2 "no kind 'sandbx' \(did you mean 'sandbox'\?\)" -- "$flue" add sandbx local
expect "--print: the raw Markdown" 0 '^kind: sandbox$' -- "$flue" add sandbox local --print
check "--print: byte for byte" cmp -s <("$flue" add sandbox local --print) "$FLUE_TEST_SRCDIR/blueprints/sandbox--local.md"
if [ -f "$FLUE_TEST_SRCDIR/blueprints/sandbox.md" ]; then
	"$flue" add sandbox https://sandbox.example >"$tmp/out"
	check "a URL prints the kind's guide with the URL" grep -q 'https://sandbox.example' "$tmp/out"
	check "...with no placeholder left" test "$(grep -c '{{URL}}' "$tmp/out")" -eq 0
fi

# --- flue update: untouched, merged, conflicting ---------------------------------------
data=$tmp/data
mkdir -p "$data/blueprints"
# demo VERSION LINES...: sandbox--demo.md at VERSION installing notes.txt
# with LINES, its upgrade guide complete.
demo() {
	local v=$1 i
	shift
	{
		printf -- '---\nkind: sandbox\nname: demo\nversion: %s\ndescription: A demo\n---\n\n' "$v"
		printf '```text file=notes.txt\n'
		printf '%s\n' "$@"
		printf '```\n\n## Upgrade Guide\n\n### Version 1 — 2026-11-01\n\nInitial version.\n'
		for i in $(seq 2 "$v"); do
			printf '\n### Version %s — 2026-11-%02d\n\nA line changed.\n\n```diff\n--- a/notes.txt\n+++ b/notes.txt\n```\n' "$i" "$i"
		done
	} >"$data/blueprints/sandbox--demo.md"
}
rm -rf "$tmp/u" && "$flue" init "$tmp/u" >/dev/null && cd "$tmp/u" || exit 1
demo 1 one two three four five six seven
FLUE_DATA_DIR=$data "$flue" add sandbox demo >/dev/null
check "update: installed with its marker" test "$(head -2 .flue/notes.txt | tr '\n' ' ')" = "# flue-blueprint: sandbox/demo@1 one "
expect "update: up to date" 0 'sandbox/demo is up to date \(version 1\)' -- env FLUE_DATA_DIR="$data" "$flue" update
demo 2 one TWO three four five six seven
expect "update: an untouched file is replaced" 0 '^  update     notes.txt$' -- env FLUE_DATA_DIR="$data" "$flue" update sandbox demo
check "update: the new content and marker" test "$(sed -n '1p;3p' .flue/notes.txt | tr '\n' ' ')" = "# flue-blueprint: sandbox/demo@2 TWO "
sed -i 's/^seven$/SEVEN (mine)/' .flue/notes.txt
demo 3 one TWO THREE four five six seven
expect "update: a changed file gets the new changes merged" 0 '^  merged     notes.txt \(your changes kept\)$' -- env FLUE_DATA_DIR="$data" "$flue" update
check "update: both changes in the file" test "$(sed -n '1p;4p;8p' .flue/notes.txt | tr '\n' '|')" = "# flue-blueprint: sandbox/demo@3|THREE|SEVEN (mine)|"
sed -i 's/^THREE$/three, my way/' .flue/notes.txt
cp .flue/notes.txt "$tmp/mine.txt"
demo 4 one TWO THREE-v4 four five six seven
env FLUE_DATA_DIR="$data" "$flue" update >"$tmp/out"
check "update: a conflict is exit 1" test $? -eq 1
check "update: and says so" grep -q '^  conflict   notes.txt (yours kept; the new version is notes.txt.blueprint)$' "$tmp/out"
check "update: the user's file is untouched" cmp -s .flue/notes.txt "$tmp/mine.txt"
check "update: the new version beside it" grep -q '^THREE-v4$' .flue/notes.txt.blueprint
check "update: still recorded at the old version" test "$(jq -r '."sandbox/demo".version' .flue/state/blueprints/installed.json)" = 3
expect "update: a blueprint not installed" 1 'sandbox/nope is not installed here' -- env FLUE_DATA_DIR="$data" "$flue" update sandbox nope
cd "$tmp" || exit 1

# --- flue build -------------------------------------------------------------------
export FLUE_BUILD_CFLAGS="-I$FLUE_TEST_SRCDIR/core/include"
rm -rf "$tmp/b" && "$flue" init "$tmp/b" >/dev/null && cd "$tmp/b" || exit 1
expect "flue build: nothing to build" 0 'no plugin sources in .*/plugins' -- "$flue" build
mkdir -p .flue/plugins/shouter
cp "$FLUE_TEST_SRCDIR/tests/fixtures/tool.c" .flue/plugins/shout.c
cp "$FLUE_TEST_SRCDIR/tests/fixtures/tool.c" .flue/plugins/shouter/main.c
sed -i 's/"shout"/"shouter"/g; s/fx-tool/fx-shouter/g' .flue/plugins/shouter/main.c
expect "flue build: a file and a folder" 0 'building +shouter.so' -- "$flue" build
check "flue build: both built" test -f .flue/plugins/shout.so -a -f .flue/plugins/shouter.so
expect "flue build: only what changed" 0 'up to date +shout.so' -- "$flue" build
expect "flue plugins: the built plugin is loaded" 0 'fx-tool' -- "$flue" plugins
cp .flue/plugins/shout.so "$tmp/good.so"
echo 'not C' >>.flue/plugins/shout.c
"$flue" build >"$tmp/out" 2>&1
check "flue build: a compile error is exit 1" test $? -eq 1
check "flue build: the compiler's own message" grep -Eq 'shout.c:[0-9]+:[0-9]+: error:' "$tmp/out"
check "flue build: and which plugin was not built" grep -q 'shout.so was not built' "$tmp/out"
check "flue build: the last good .so stays" cmp -s .flue/plugins/shout.so "$tmp/good.so"
unset FLUE_BUILD_CFLAGS
cd "$tmp" || exit 1

# --- every rule has a failing example ------------------------------------------------
# bad NAME LINE-RULE-REGEX: a blueprint from stdin, saved as NAME, must
# fail --check with "NAME:LINE: rule".
bad() {
	cat >"$tmp/$1"
	expect "rule: $2" 1 "$1:$2" -- "$flue" add --check "$tmp/$1"
}
good_head='---
kind: sandbox
name: demo
version: 1
description: A demo
---'
upgrade='## Upgrade Guide

### Version 1 — 2026-11-23

Initial version.'
printf '# no frontmatter\n' | bad sandbox--demo.md "1: a blueprint starts with a --- frontmatter"
printf -- '---\nkind: sandbox\nnam: demo\nversion: 1\ndescription: d\n---\n' | bad sandbox--demo.md "3:1: unknown key 'nam'"
printf -- '---\nkind: box\nname: demo\nversion: 1\ndescription: d\n---\n' | bad sandbox--demo.md "2:7: kind: 'box' is not one of"
printf -- '---\nkind: sandbox\nname: demo\ndescription: d\n---\n' | bad sandbox--demo.md "1: frontmatter: .* \(no version\)"
printf -- '---\nkind: sandbox\nname: Demo\nversion: 1\ndescription: d\n---\n' | bad sandbox--Demo.md "3: name: 'Demo' is not lower-kebab-case"
printf -- "---\nkind: sandbox\nname: demo\nversion: 1\ndescription: $(printf 'x%.0s' $(seq 130))\n---\n" | bad sandbox--demo.md "5: description: one line of 1-120 characters"
printf -- '---\nkind: sandbox\nname: demo\nversion: 1\ndescription: d\nwebsite: http://x\n---\n' | bad sandbox--demo.md "6: website: 'http://x' is not an https:// URL"
printf '%s\n\n%s\n' "$good_head" "$upgrade" | bad sandbox--other.md "1: file name: .* is called sandbox--demo.md"
printf '%s\n\n```c file=../x.c\nx\n```\n\n%s\n' "$good_head" "$upgrade" | bad sandbox--demo.md "8: file block: '../x.c' must be a relative path"
printf '%s\n\n```c file=/etc/x\nx\n```\n\n%s\n' "$good_head" "$upgrade" | bad sandbox--demo.md "8: file block: '/etc/x' must be a relative path"
printf '%s\n\n```c file=a.c\nx\n```\n\n```c file=a.c\ny\n```\n\n%s\n' "$good_head" "$upgrade" | bad sandbox--demo.md "12: file block: 'a.c' is already installed by the block at line 8"
printf '%s\n\n```c file=a.c primary\nx\n```\n\n```c file=b.c primary\ny\n```\n\n%s\n' "$good_head" "$upgrade" | bad sandbox--demo.md "12: file block: one primary file"
printf '%s\n\n```yaml flue.yaml\n- a\n```\n\n%s\n' "$good_head" "$upgrade" | bad sandbox--demo.md "8: the .yaml flue.yaml. block is a mapping"
printf '%s\n\n```yaml flue.yaml\na: 1\n```\n\n```yaml flue.yaml\nb: 1\n```\n\n%s\n' "$good_head" "$upgrade" | bad sandbox--demo.md "12: one .yaml flue.yaml. block"
printf '%s\n\n```env .env.example\nNOT A LINE\n```\n\n%s\n' "$good_head" "$upgrade" | bad sandbox--demo.md "9: env block: each line is NAME=value"
printf '%s\n\nNo guide.\n' "$good_head" | bad sandbox--demo.md "7: the last section is '## Upgrade Guide'"
printf '%s\n\n%s\n\n## After\n' "$good_head" "$upgrade" | bad sandbox--demo.md "14: ## Upgrade Guide is the last ## section"
printf '%s\n\n## Upgrade Guide\n\n### v1\n\nInitial version.\n' "$good_head" | bad sandbox--demo.md "10: Upgrade Guide: headings are"
printf '%s\n\n## Upgrade Guide\n\n### Version 2 — 2026-11-23\n\nx\n' "$good_head" | bad sandbox--demo.md "10: Upgrade Guide: Version 2 comes after Version 0"
printf '%s\n\n## Upgrade Guide\n\n### Version 1 — 2026-11-23\n\nFirst.\n' "$good_head" | bad sandbox--demo.md "10: Upgrade Guide: Version 1 says 'Initial version.'"
printf '%s\n\n%s\n\n### Version 2 — 2026-11-24\n\nBetter.\n' "$(printf '%s' "$good_head" | sed 's/^version: 1/version: 2/')" "$upgrade" | bad sandbox--demo.md "14: Upgrade Guide: Version 2 needs a .*diff block"
printf '%s\n\n%s\n\n### Version 2 — 2026-11-24\n\n```diff\n+x\n```\n' "$(printf '%s' "$good_head" | sed 's/^version: 1/version: 2/')" "$upgrade" | bad sandbox--demo.md "16: Upgrade Guide: a diff block starts with"
printf '%s\n\n%s\n' "$(printf '%s' "$good_head" | sed 's/^version: 1/version: 3/')" "$upgrade" | bad sandbox--demo.md "10: Upgrade Guide: it goes up to Version 1 but the frontmatter says version 3"
printf -- '---\nkind: sandbox\nname: sandbox\nversion: 1\ndescription: d\nroot: true\n---\n\n```c file=a.c\nx\n```\n\n%s\n' "$upgrade" | bad sandbox.md "9: a generic guide installs no files"
printf -- '---\nkind: sandbox\nname: other\nversion: 1\ndescription: d\nroot: true\n---\n\n%s\n' "$upgrade" | bad sandbox.md "3: name: a generic guide \(root: true\) is named after its kind"
printf '%s\n\nText.\n\n%s\n' "$good_head" "$upgrade" >"$tmp/sandbox--demo.md"
expect "a good one passes" 0 'ok \(sandbox/demo@1, 0 files\)' -- "$flue" add --check "$tmp/sandbox--demo.md"

finish
