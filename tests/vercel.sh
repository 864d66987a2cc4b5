#!/bin/bash
# The vercel sandbox end to end: `flue run` of a coding agent whose
# frontmatter names the vercel plugin and a repository from the payload,
# against the fake AI Gateway and the fake Vercel Sandbox API.  A fresh
# run, one with `snapshot: reuse` (taken, then booted from, then expired
# and taken again), credentials through --env .env.local, an expired
# token, and `flue sandbox list|snapshot|stop|rm`.  Prints request counts
# and wall times of the example runs.
set -u
test_name=vercel
. "$(dirname "$0")/testlib.sh"
. "$(dirname "$0")/gatewaylib.sh"

vfake=$FLUE_TEST_BUILDDIR/tests/fake-vercel
vpid=
stop_vfake() { [ -n "$vpid" ] && kill "$vpid" 2>/dev/null && wait "$vpid" 2>/dev/null; vpid=; }
trap 'stop_vfake; [ -n "${KEEP_TMP:-}" ] || cleanup' EXIT
mkdir -p "$tmp/vroot"
"$vfake" --port-file "$tmp/vport" --root "$tmp/vroot" --log "$tmp/vercel.log" \
	2>>"$tmp/vercel.err" &
vpid=$!
for _ in $(seq 100); do [ -s "$tmp/vport" ] && break; sleep 0.05; done
vbase=http://127.0.0.1:$(cat "$tmp/vport")
export FLUE_VERCEL_API_URL=$vbase/api
unset VERCEL_TOKEN VERCEL_TEAM_ID VERCEL_PROJECT_ID

# vcount ROUTE: requests the Vercel fake logged for a route so far.
vcount() { jq -r .route "$tmp/vercel.log" | grep -cx "$1"; }
vtotal() { wc -l <"$tmp/vercel.log"; }
vstate() { curl -s "$vbase/__fake/state"; }
ms() { date +%s%3N; }

# A repository to clone.
mkdir -p "$tmp/repo"
(cd "$tmp/repo" && git init -q && printf '# demo app\nA tiny app.\n' >README.md &&
	git add README.md && git -c user.name=t -c user.email=t@t commit -qm init)
repo=file://$tmp/repo

# A token as `vercel env pull` writes it: a JWT with the team and project.
jwt() {
	local claims
	claims=$(printf '%s' "$1" | base64 -w0 | tr '+/' '-_' | tr -d '=')
	printf 'eyJhbGciOiJub25lIn0.%s.sig' "$claims"
}
exp=$(( $(date +%s) + 3600 ))

"$flue" init p >/dev/null
cd p || exit 1
printf 'VERCEL_OIDC_TOKEN=%s\n' \
	"$(jwt '{"owner_id":"team_demo","project_id":"prj_demo","exp":'$exp'}')" >.env.local
cat >.flue/agents/coder.md <<'EOF'
---
description: Works on a repository in a Vercel Sandbox
model: anthropic/claude-sonnet-4.6
thinking: off
sandbox:
  plugin: vercel
  runtime: node24
  vcpus: 2
  source: "{{payload.repo}}"
---
You are working in a fresh clone of {{payload.repo}}. Do what the user
asks; run the tests before you say you are done.
EOF
sed -e 's/^  vcpus: 2$/  vcpus: 2\n  snapshot: reuse\n  setup: ["echo deps installed > .deps"]/' \
	.flue/agents/coder.md >.flue/agents/snapcoder.md

turns='{"turns":[
 {"tool_calls":[{"id":"t1","name":"bash","arguments":"{\"command\":\"cat README.md; ls -a\"}"}]},
 {"match":{"body_contains":["# demo app"]},
  "tool_calls":[{"id":"t2","name":"write","arguments":"{\"path\":\"NOTES.md\",\"content\":\"checked by flue\\n\"}"}]},
 {"tool_calls":[{"id":"t3","name":"read","arguments":"{\"path\":\"NOTES.md\"}"}]},
 {"match":{"body_contains":["checked by flue"]},"text":"The README says it is a tiny app; notes written."}]}'

# --- a fresh run ---------------------------------------------------------
start_fake "$turns"
t0=$(ms)
"$flue" run coder --id c1 --env .env.local \
	--payload "{\"repo\":\"$repo\",\"prompt\":\"look at the repo\"}" >"$tmp/out" 2>"$tmp/err"
status=$?
fresh_ms=$(( $(ms) - t0 ))
fresh_requests=$(vtotal)
check "fresh run exits 0" test "$status" -eq 0
[ "$status" -eq 0 ] || cat "$tmp/err"
check "the answer" grep -q 'tiny app; notes written' "$tmp/out"
check "the model saw the clone's README through bash" \
	test "$(sed -n 2p "$tmp/fake.log" | grep -c 'demo app')" -eq 1
check "the read tool saw the written file" \
	test "$(sed -n 4p "$tmp/fake.log" | grep -c 'checked by flue')" -eq 1
check "one sandbox created on v2 with the payload's repository" \
	test "$(jq -r 'select(.route=="create") | .path + " " + .body.source.url + " " + .body.runtime + " " + (.body.resources.vcpus|tostring)' "$tmp/vercel.log")" = "/api/v2/sandboxes $repo node24 2"
check "team and project from the OIDC token" \
	test "$(jq -r 'select(.route=="create") | .query.teamId + " " + .body.projectId' "$tmp/vercel.log")" = "team_demo prj_demo"
check "the session is named after the flue session" \
	test "$(jq -r 'select(.route=="create") | .body.name' "$tmp/vercel.log" | cut -c1-8)" = "flue-c1-"
check "bash ran as a waiting command" test "$(vcount cmd)" -ge 1
check "write went up as a tar.gz" test "$(vcount fs_write)" -eq 1
check "read came down" test "$(vcount fs_read)" -ge 1
check "the throw-away sandbox was stopped and deleted" \
	test "$(vcount stop) $(vcount delete_sandbox)" = "1 1"
check "nothing left running" test "$(vstate | jq '[.sandboxes[] | select(.status=="running")] | length')" -eq 0
check "the session history records the tool results" \
	grep -q 'demo app' .flue/state/sessions/coder/c1.jsonl

# --- snapshot: reuse ------------------------------------------------------
run_snap() {
	start_fake "$turns"
	: >"$tmp/vercel.log.before"; cp "$tmp/vercel.log" "$tmp/vercel.log.before"
	t0=$(ms)
	"$flue" run snapcoder --id "$1" --env .env.local \
		--payload "{\"repo\":\"$repo\",\"prompt\":\"look again\"}" >"$tmp/out" 2>"$tmp/err"
	status=$?
	run_ms=$(( $(ms) - t0 ))
	run_requests=$(( $(vtotal) - $(wc -l <"$tmp/vercel.log.before") ))
	tail -n "+$(( $(wc -l <"$tmp/vercel.log.before") + 1 ))" "$tmp/vercel.log" >"$tmp/run.log"
}
rcount() { jq -r .route "$tmp/run.log" | grep -cx "$1"; }

run_snap s1
check "first snapshot run exits 0" test "$status" -eq 0
[ "$status" -eq 0 ] || cat "$tmp/err"
setup_ms=$run_ms setup_requests=$run_requests
check "setup ran once, then a snapshot" test "$(rcount snapshot)" -eq 1
check "the setup command ran in the clone" \
	test "$(jq -r 'select(.route=="cmd") | .body.args[1]' "$tmp/run.log" | head -1)" = "echo deps installed > .deps"
check "then the workspace booted from it on v3" \
	test "$(jq -r 'select(.route=="create") | .path' "$tmp/run.log" | tr '\n' ' ')" = "/api/v2/sandboxes /api/v3/sandboxes "
snap=$(jq -r '.snapshots[].id' .flue/state/vercel/snapshots.json)
check "the snapshot id is kept in the state folder" test "${snap#snap_}" != "$snap"
check "it is keyed by the repository" \
	test "$(jq -r '.snapshots[].source' .flue/state/vercel/snapshots.json)" = "$repo"

run_snap s2
check "second snapshot run exits 0" test "$status" -eq 0
[ "$status" -eq 0 ] || cat "$tmp/err"
reuse_ms=$run_ms reuse_requests=$run_requests
check "it boots from the snapshot: one create, on v3, no setup" \
	test "$(jq -r 'select(.route=="create") | .path + " " + .body.source.snapshotId' "$tmp/run.log")" = "/api/v3/sandboxes $snap"
check "no snapshot taken" test "$(rcount snapshot)" -eq 0
check "the model saw the set-up files" \
	test "$(sed -n 2p "$tmp/fake.log" | grep -c '.deps')" -eq 1

curl -s -X POST "$vbase/__fake/snapshots/$snap/expire" -d '{}' >/dev/null
run_snap s3
check "a run after the snapshot expired exits 0" test "$status" -eq 0
[ "$status" -eq 0 ] || cat "$tmp/err"
check "the expired snapshot was refused with 410" \
	test "$(jq -r 'select(.route=="create") | .status' "$tmp/run.log" | head -1)" = 410
check "then set up afresh and snapshotted again" test "$(rcount snapshot)" -eq 1
snap2=$(jq -r '.snapshots[].id' .flue/state/vercel/snapshots.json)
check "the new snapshot replaces the old one" test "$snap2" != "$snap" -a -n "$snap2"

# --- flue sandbox list|snapshot|stop|rm -------------------------------------
expect "flue sandbox list shows the kept snapshot" 0 "snapshot +$snap2 +created" -- \
	"$flue" sandbox list --env .env.local
cat >.flue/agents/keeper.md <<'EOF'
---
description: Keeps its sandbox
model: anthropic/claude-sonnet-4.6
sandbox: {plugin: vercel, runtime: node24, keep: true, name: flue-keeper}
---
Work.
EOF
start_fake '{"turns":[{"text":"ok"}]}'
expect "a kept sandbox run" 0 "^ok$" -- "$flue" run -q keeper --env .env.local --payload '{"prompt":"hi"}'
expect "it is listed" 0 "sandbox +flue-keeper +running" -- "$flue" sandbox list --env .env.local
expect "flue sandbox snapshot prints the id" 0 "^snap_" -- "$flue" sandbox snapshot flue-keeper --env .env.local
expect "flue sandbox stop" 0 "flue-keeper: stopped" -- "$flue" sandbox stop flue-keeper --env .env.local
expect "flue sandbox rm a snapshot" 0 "$snap2: removed" -- "$flue" sandbox rm "$snap2" --env .env.local
check "and it is forgotten" test "$(jq '.snapshots | length' .flue/state/vercel/snapshots.json)" -eq 0
expect "flue sandbox rm the sandbox" 0 "flue-keeper: removed" -- "$flue" sandbox rm flue-keeper --env .env.local
expect "rm again says what happened" 1 "404 not_found" -- "$flue" sandbox rm flue-keeper --env .env.local
expect "local has nothing to manage" 1 "has no remote sandboxes to manage" -- "$flue" sandbox list --sandbox local

# --- credentials ------------------------------------------------------------
before=$(vtotal)
printf 'VERCEL_OIDC_TOKEN=%s\n' \
	"$(jwt '{"owner_id":"team_demo","project_id":"prj_demo","exp":1000}')" >.env.expired
start_fake "$turns"
expect "an expired token is refused" 1 "expired at 1970-01-01 00:16 UTC; run .vercel env pull." -- \
	"$flue" run coder --env .env.expired --payload "{\"repo\":\"$repo\",\"prompt\":\"x\"}"
check "before any request" test "$(vtotal)" -eq "$before"
expect "no credentials at all" 1 "no credentials: set VERCEL_OIDC_TOKEN" -- \
	"$flue" run coder --payload "{\"repo\":\"$repo\",\"prompt\":\"x\"}"
expect "a bad option names its field" 1 "coder.md: sandbox 'vercel'.*sandbox.vcpus: 3 is not 1 or an even number" -- \
	sh -c "sed -i 's/vcpus: 2/vcpus: 3/' .flue/agents/coder.md && \"$FLUE_BIN\" run coder --env .env.local --payload '{\"repo\":\"x\",\"prompt\":\"x\"}'"

# --- the example project, as shipped (needs npm for its `npm ci`) --------
if command -v npm >/dev/null 2>&1; then
	cd "$tmp" || exit 1
	mkdir -p app && (cd app && git init -q &&
		printf '{"name":"app","version":"1.0.0","scripts":{"test":"node test.js"}}\n' >package.json &&
		printf '{"name":"app","version":"1.0.0","lockfileVersion":3,"requires":true,"packages":{"":{"name":"app","version":"1.0.0"}}}\n' >package-lock.json &&
		printf 'console.log("1 test passed")\n' >test.js &&
		git add . && git -c user.name=t -c user.email=t@t commit -qm app)
	cp -r "$FLUE_TEST_SRCDIR/examples/coding-agent" example
	cp p/.env.local example/
	cd example || exit 1
	mkdir -p .flue/state
	example_turns='{"turns":[
	 {"tool_calls":[{"id":"t1","name":"bash","arguments":"{\"command\":\"npm test\"}"}]},
	 {"match":{"body_contains":["1 test passed"]},"text":"Tests pass; nothing to change."}]}'
	for round in fresh snapshot; do
		start_fake "$example_turns"
		before=$(vtotal)
		t0=$(ms)
		"$flue" run coder --env .env.local \
			--payload "{\"repo\":\"file://$tmp/app\",\"prompt\":\"run the tests\"}" >"$tmp/out" 2>"$tmp/err"
		status=$?
		eval "example_${round}_ms=$(( $(ms) - t0 )) example_${round}_requests=$(( $(vtotal) - before ))"
		check "the example ($round) exits 0" test "$status" -eq 0
		[ "$status" -eq 0 ] || cat "$tmp/err"
		check "the example ($round): npm test ran in the sandbox" grep -q 'Tests pass' "$tmp/out"
	done
	check "the example's second run booted from its snapshot" \
		test "$(tail -n "$example_snapshot_requests" "$tmp/vercel.log" | jq -r 'select(.route=="create") | .path')" = "/api/v3/sandboxes"
	echo "vercel.sh: examples/coding-agent: fresh (clone, npm ci, snapshot): $example_fresh_requests sandbox requests, $example_fresh_ms ms; from the snapshot: $example_snapshot_requests requests, $example_snapshot_ms ms"
else
	echo "vercel.sh: npm not found; the example project's run is skipped"
fi

echo "vercel.sh: fresh run: $fresh_requests sandbox requests, $fresh_ms ms; snapshot taken: $setup_requests requests, $setup_ms ms; from the snapshot: $reuse_requests requests, $reuse_ms ms"
stop_vfake
finish
