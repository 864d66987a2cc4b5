#!/bin/bash
# `flue serve` end to end with curl: the seed guide's flow (stream a
# reply, continue by id, start fresh), every route, the error statuses,
# limits, the token, run records across a restart, graceful shutdown,
# and clients that go away.  Models are the fake AI Gateway.
set -u
test_name=server
. "$(dirname "$0")/testlib.sh"
. "$(dirname "$0")/gatewaylib.sh"

srvpid=
stop_server() {
	[ -n "$srvpid" ] || return 0
	kill -TERM "$srvpid" 2>/dev/null
	wait "$srvpid" 2>/dev/null
	srvstatus=$?
	srvpid=
	# Under valgrind a leak or a bad access is exit 99.
	check "the server exits 0 on SIGTERM" test "$srvstatus" -eq 0
	[ "$srvstatus" -eq 0 ] || { echo "exit $srvstatus; the server said:"; tail -60 "$tmp/srv.err"; }
	cp "$tmp/srv.err" "$tmp/srv.last"
	: >"$tmp/srv.err"
}
trap 'kill "$srvpid" 2>/dev/null; cleanup' EXIT

# start_server [OPTIONS]: flue serve on a free port; sets $base.
# (server_command=dev for flue dev.)
server_command=serve
start_server() {
	stop_server
	rm -f "$tmp/srv.port"
	# Not through a shell function: the signal must reach flue itself
	# (libtool --mode=execute execs the wrapper's tool).
	${FLUE_TEST_WRAPPER:-} "$FLUE_BIN" $server_command --port 0 --port-file "$tmp/srv.port" "$@" 2>>"$tmp/srv.err" &
	srvpid=$!
	for _ in $(seq 200); do
		[ -s "$tmp/srv.port" ] && break
		sleep 0.05
	done
	base=http://127.0.0.1:$(cat "$tmp/srv.port")
}

# http METHOD PATH [CURL ARGS]: prints the status; the body is in
# $tmp/body, the headers in $tmp/headers.
http() {
	local method=$1 path=$2
	shift 2
	curl -s --path-as-is -o "$tmp/body" -D "$tmp/headers" -w '%{http_code}' \
		-X "$method" "$base$path" "$@"
}
json_post() { http POST "$1" -H 'Content-Type: application/json' -d "$2" "${@:3}"; }
errtype() { jq -r .error.type "$tmp/body"; }
hdr() { grep -i "^$1:" "$tmp/headers" | head -1 | cut -d' ' -f2- | tr -d '\r'; }

"$flue" init p >/dev/null
cd p || exit 1
cat >.flue/agents/chat.md <<'EOF'
---
description: Answers in one line
model: anthropic/claude-sonnet-4.6
thinking: off
---
Answer briefly.
EOF

# --- the seed flow: stream, continue, start fresh ------------------------
start_fake '{"turns":[
 {"match":{"body_contains":["what is flue?"]},"text":["flue is ","a harness."]},
 {"match":{"body_contains":["what is flue?","flue is a harness.","and in C?"]},"text":"Yes, in C."},
 {"match":{"body_contains":["fresh start"]},"text":"New session."}]}'
start_server
curl -s -N -X POST "$base/agents/chat/s1" -H 'Accept: text/event-stream' \
	-H 'Content-Type: application/json' -d '{"prompt":"what is flue?"}' -D "$tmp/headers" >"$tmp/sse"
check "SSE: 200 text/event-stream" grep -qi '^content-type: text/event-stream' "$tmp/headers"
check "SSE: the run id header" test -n "$(hdr X-Flue-Run-Id)"
check "SSE: frames have event, id and data" test "$(grep -c '^event: ' "$tmp/sse")" -eq "$(grep -c '^data: {' "$tmp/sse")"
check "SSE: starts with run_start" test "$(head -1 "$tmp/sse")" = "event: run_start"
check "SSE: ids count from 0" test "$(grep '^id: ' "$tmp/sse" | head -1)" = "id: 0"
check "SSE: text deltas" test "$(grep -c '^event: text_delta' "$tmp/sse")" -eq 2
check "SSE: ends with run_end" test "$(grep '^event: ' "$tmp/sse" | tail -1)" = "event: run_end"
check "SSE: the answer" grep -q '"result":"flue is a harness."' "$tmp/sse"
run1=$(hdr X-Flue-Run-Id)
check "SSE: events carry the run id" grep -q "\"run_id\":\"$run1\"" "$tmp/sse"
code=$(json_post /agents/chat/s1 '{"prompt":"and in C?"}')
check "same id continues: 200" test "$code" = 200
check "same id continues: the answer" test "$(jq -r .result.text "$tmp/body")" = "Yes, in C."
code=$(json_post /agents/chat/s2 '{"prompt":"fresh start"}')
check "new id starts fresh" test "$code/$(jq -r .result.text "$tmp/body")" = "200/New session."
check "sync: the record's status" test "$(jq -r .status "$tmp/body")" = completed

# --- reading back --------------------------------------------------------------
code=$(http GET "/runs/$run1")
check "GET /runs/<run>" test "$code/$(jq -r '.status + " " + .agent + " " + .session' "$tmp/body")" = "200/completed chat s1"
code=$(http GET "/runs/$run1/events?after=1&limit=2")
check "GET /runs/<run>/events?after=1&limit=2" test "$code/$(jq -c '[.events[].index]' "$tmp/body")" = "200/[2,3]"
curl -s -N "$base/runs/$run1/stream" -H 'Last-Event-ID: 2' >"$tmp/replay"
check "stream replays after Last-Event-ID" test "$(grep '^id: ' "$tmp/replay" | head -1)" = "id: 3"
check "stream replay ends at run_end" test "$(grep '^event: ' "$tmp/replay" | tail -1)" = "event: run_end"
code=$(http GET /agents/chat/s1)
check "GET /agents/<agent>/<id>: the history" test "$code/$(jq -r '[.records[].role] | join(" ")' "$tmp/body")" = "200/user assistant user assistant"
code=$(http GET /agents)
check "GET /agents" test "$code/$(jq -r '.agents[] | select(.name=="chat").description' "$tmp/body")" = "200/Answers in one line"
code=$(http GET /health)
check "GET /health" test "$code/$(jq -r .status "$tmp/body")" = "200/ok"

"$flue" logs --run "$run1" >"$tmp/logs"
check "flue logs --run: the run in words" test "$(head -1 "$tmp/logs" | cut -d, -f1)/$(tail -1 "$tmp/logs")" = "run started: agent chat/run ended: ok"
check "flue logs --run: the text" grep -q '^flue is a harness\.$' "$tmp/logs"
check "flue logs --run --format ndjson: every event" test "$("$flue" logs --run "$run1" --format ndjson | wc -l)" -eq "$(grep -c '^event: ' "$tmp/sse")"
expect "flue logs --run: an unknown run" 1 "no run 'run-nope'" -- "$flue" logs --run run-nope

# --- flue connect, against the server and in-process ----------------------------
stop_server
start_fake '{"turns":[
 {"match":{"body_contains":["first line"]},"tool_calls":[{"id":"k1","name":"bash","arguments":"{\"command\":\"echo tool-ran\"}"}]},
 {"match":{"body_contains":["tool-ran"]},"text":["Reply ","one."]},
 {"match":{"body_contains":["second line","Reply one."]},"text":"Reply two."},
 {"match":{"body_contains":["local line"]},"text":"Local reply."}]}'
start_server
printf 'first line\n\nsecond line\n' | "$flue" connect chat c1 --url "$base" >"$tmp/out" 2>"$tmp/err"
check "connect --url: exit 0" test $? -eq 0
check "connect --url: both replies, one line each" test "$(cat "$tmp/out")" = "$(printf 'Reply one.\nReply two.')"
check "connect --url: tool calls on stderr" grep -q 'bash {"command":"echo tool-ran"}' "$tmp/err"
check "connect --url: one session" test "$(jq -r 'select(.role=="user").content' .flue/state/sessions/chat/c1.jsonl | tr '\n' '|')" = "first line|second line|"
expect "connect --url: a server error says so" 0 'the server answered 404: no agent' -- sh -c "echo hi | $(printf %q "$FLUE_BIN") connect nobody c1 --url $base"
expect "connect --url: no server" 0 'cannot connect to http://127.0.0.1:1' -- sh -c "echo hi | $(printf %q "$FLUE_BIN") connect chat c1 --url http://127.0.0.1:1"
expect "connect --url: not http" 2 "is not http://HOST" -- "$flue" connect chat c1 --url https://x
stop_server
expect "connect in-process" 0 '^Local reply\.$' -- sh -c "echo 'local line' | $(printf %q "$FLUE_BIN") connect chat c2"
start_fake '{"turns":[
 {"match":{"body_contains":["what is flue?"]},"text":["flue is ","a harness."]}]}'
start_server

# --- errors ------------------------------------------------------------------------
code=$(json_post /agents/nobody/s1 '{}')
check "unknown agent: 404 agent_not_found" test "$code/$(errtype)" = "404/agent_not_found"
check "unknown agent: the message lists agents" grep -q 'chat' "$tmp/body"
code=$(http GET /nowhere)
check "unknown route: 404 route_not_found" test "$code/$(errtype)" = "404/route_not_found"
code=$(http DELETE /agents/chat/s1)
check "wrong method: 405 with Allow" test "$code/$(errtype)/$(hdr Allow)" = "405/method_not_allowed/GET, POST"
code=$(http PUT /runs/$run1/abort)
check "wrong method on abort: 405 Allow: POST" test "$code/$(hdr Allow)" = "405/POST"
code=$(json_post /agents/chat/s3 '{"prompt": oops}')
check "bad JSON: 400 invalid_json" test "$code/$(errtype)" = "400/invalid_json"
code=$(http POST /agents/chat/s3 -H 'Content-Type: text/plain' -d 'hello')
check "not JSON: 415" test "$code/$(errtype)" = "415/unsupported_media_type"
code=$(json_post '/agents/chat/..%2Fetc' '{}')
check "an encoded slash in a session id: not a route" test "$code/$(errtype)" = "404/route_not_found"
code=$(json_post '/agents/chat/..' '{}')
check "a session id of ..: 400" test "$code/$(errtype)" = "400/invalid_request"
code=$(json_post '/agents/chat/.hidden' '{}')
check "a session id starting with a dot: 400" test "$code" = 400
code=$(json_post '/agents/Chat/s1' '{}')
check "an agent name that is not one: 400" test "$code/$(errtype)" = "400/invalid_request"
code=$(json_post "/agents/chat/$(printf 'x%.0s' $(seq 200))" '{}')
check "a session id too long: 400" test "$code" = 400
code=$(http GET /runs/run-nope)
check "unknown run: 404 run_not_found" test "$code/$(errtype)" = "404/run_not_found"
code=$(http POST "/runs/$run1/abort")
check "abort a finished run: 409" test "$code/$(errtype)" = "409/run_finished"

# --- a run in the background, busy sessions, abort ---------------------------------
start_fake '{"turns":[{"first_byte_ms":20000,"text":"late"}]}'
start_server
code=$(json_post /agents/chat/b1 '{"prompt":"slow"}' -H 'Prefer: respond-async')
check "async: 202" test "$code/$(jq -r .status "$tmp/body")" = "202/accepted"
bg=$(jq -r .run_id "$tmp/body")
check "async: the run id header matches" test "$(hdr X-Flue-Run-Id)" = "$bg"
wait_lines "$tmp/fake.log" 1
code=$(json_post /agents/chat/b1 '{"prompt":"again"}')
check "busy session: 409 with the running run" test "$code/$(errtype)/$(jq -r .error.run_id "$tmp/body")" = "409/session_busy/$bg"
code=$(http GET "/runs/$bg")
check "a running run's record" test "$(jq -r .status "$tmp/body")" = active
"$flue" logs --run "$bg" --follow --format ndjson >"$tmp/follow" &
followpid=$!
code=$(http POST "/runs/$bg/abort")
check "abort: 202" test "$code/$(jq -r .status "$tmp/body")" = "202/aborting"
for _ in $(seq 100); do
	http GET "/runs/$bg" >/dev/null
	[ "$(jq -r .status "$tmp/body")" != active ] && break
	sleep 0.1
done
check "aborted: errored, canceled" test "$(jq -r '.status + " " + .error.type' "$tmp/body")" = "errored cancelled"
wait "$followpid"
check "flue logs --follow ends with the run" test "$(tail -1 "$tmp/follow" | jq -r '.type + " " + .status')" = "run_end canceled"
check "aborted: the session is free" test "$(json_post /agents/chat/b1 '{}' -H 'Prefer: respond-async')" = 202
stop_server

# --- limits ----------------------------------------------------------------------
cp flue.yaml "$tmp/flue.yaml"
cat >flue.yaml <<'EOF'
plugins: [local]
server:
  max_body_bytes: 1024
  max_concurrent_runs: 1
  cors_origins: ["http://app.example"]
EOF
start_fake '{"turns":[{"first_byte_ms":20000,"text":"late"},{"text":"x"}]}'
start_server
code=$(json_post /agents/chat/l1 "{\"prompt\":\"$(printf 'y%.0s' $(seq 2000))\"}")
check "too big: 413" test "$code/$(errtype)" = "413/payload_too_large"
json_post /agents/chat/l1 '{}' -H 'Prefer: respond-async' >/dev/null
code=$(json_post /agents/chat/l2 '{}')
check "too many runs: 429 with Retry-After" test "$code/$(errtype)/$(hdr Retry-After)" = "429/too_many_runs/1"
code=$(http OPTIONS /agents/chat/l3 -H 'Origin: http://app.example')
check "CORS preflight: 204 for an allowed origin" test "$code/$(hdr Access-Control-Allow-Origin)" = "204/http://app.example"
http GET /health -H 'Origin: http://evil.example' >/dev/null
check "CORS: no header for another origin" test -z "$(hdr Access-Control-Allow-Origin)"
stop_server
cp "$tmp/flue.yaml" flue.yaml

# --- the token ---------------------------------------------------------------------
start_fake '{"turns":[{"text":"secret ok"}]}'
FLUE_API_TOKEN=s3cret-token start_server
code=$(json_post /agents/chat/t1 '{}')
check "token: 401 without it" test "$code/$(errtype)" = "401/unauthorized"
code=$(json_post /agents/chat/t1 '{}' -H 'Authorization: Bearer s3cret-tokeX')
check "token: 401 with a wrong one" test "$code" = 401
code=$(http GET /health)
check "token: /health stays open" test "$code" = 200
code=$(json_post /agents/chat/t1 '{"prompt":"x"}' -H 'Authorization: Bearer s3cret-token')
check "token: 200 with it" test "$code/$(jq -r .result.text "$tmp/body")" = "200/secret ok"
stop_server
expect "beyond loopback without a token: refused" 1 'needs a token: set FLUE_API_TOKEN' -- $flue serve --host 0.0.0.0 --port 0
start_fake '{"turns":[{"text":"wide ok"}]}'
FLUE_API_TOKEN=wide-token start_server --host 0.0.0.0
code=$(json_post /agents/chat/w1 '{}')
check "bound to 0.0.0.0: 401 without the token" test "$code/$(errtype)" = "401/unauthorized"
code=$(json_post /agents/chat/w1 '{}' -H 'Authorization: Bearer wide-tokenX')
check "bound to 0.0.0.0: 401 with a wrong token" test "$code" = 401
code=$(json_post /agents/chat/w1 '{}' -H 'Authorization: bearer wide-token')
check "bound to 0.0.0.0: the scheme is Bearer" test "$code" = 401
code=$(json_post /agents/chat/w1 '{"prompt":"x"}' -H 'Authorization: Bearer wide-token')
check "bound to 0.0.0.0: 200 with the token" test "$code/$(jq -r .result.text "$tmp/body")" = "200/wide ok"
stop_server

# --- after a restart, and a run the server was stopped during ------------------
start_server
code=$(http GET "/runs/$run1")
check "a run record after a restart" test "$code/$(jq -r .status "$tmp/body")" = "200/completed"
code=$(http GET "/runs/$run1/events")
check "its events after a restart" test "$(jq '.events | length' "$tmp/body")" -ge 4
stop_server

# --- graceful shutdown -------------------------------------------------------------
start_fake '{"turns":[{"first_byte_ms":1500,"text":"finished in time"}]}'
start_server --grace 20
json_post /agents/chat/g1 '{"prompt":"x"}' -H 'Prefer: respond-async' >/dev/null
g1=$(jq -r .run_id "$tmp/body")
wait_lines "$tmp/fake.log" 1
stop_server
check "shutdown: exit 0" test "$srvstatus" -eq 0
check "shutdown: the running run finished" test "$(jq -r .status ".flue/state/runs/$g1.json")" = completed
check "shutdown: its answer is stored" test "$(jq -r 'select(.role=="assistant").content[0].text' .flue/state/sessions/chat/g1.jsonl)" = "finished in time"
start_fake '{"turns":[{"first_byte_ms":60000,"text":"never"}]}'
start_server --grace 1
json_post /agents/chat/g2 '{"prompt":"x"}' -H 'Prefer: respond-async' >/dev/null
g2=$(jq -r .run_id "$tmp/body")
wait_lines "$tmp/fake.log" 1
started=$(date +%s)
stop_server
check "shutdown past the grace: runs are cancelled (exit 0)" test "$srvstatus" -eq 0
check "shutdown past the grace: quickly" test $(( $(date +%s) - started )) -lt $((10 * slow))
check "shutdown past the grace: the record says so" test "$(jq -r .status ".flue/state/runs/$g2.json")" = errored
check "shutdown past the grace: the session keeps the prompt" test "$(jq -r .role .flue/state/sessions/chat/g2.jsonl | head -1)" = user

# --- clients that go away, heartbeats -----------------------------------------------
start_fake '{"turns":[{"first_byte_ms":1500,"text":"done anyway"},{"first_byte_ms":800,"text":"beat"}]}'
start_server --heartbeat 200
curl -s -N -X POST "$base/agents/chat/v1" -H 'Accept: text/event-stream' \
	-H 'Content-Type: application/json' -d '{}' -D "$tmp/vh" >/dev/null &
cpid=$!
wait_lines "$tmp/fake.log" 1
kill "$cpid"; wait "$cpid" 2>/dev/null
gone=$(grep -i '^x-flue-run-id:' "$tmp/vh" | cut -d' ' -f2 | tr -d '\r')
for _ in $(seq 100); do
	http GET "/runs/$gone" >/dev/null
	[ "$(jq -r .status "$tmp/body")" != active ] && break
	sleep 0.1
done
check "a vanished client does not stop the run" test "$(jq -r '.status + " " + .result.text' "$tmp/body")" = "completed done anyway"
curl -s -N -X POST "$base/agents/chat/v2" -H 'Accept: text/event-stream' \
	-H 'Content-Type: application/json' -d '{}' >"$tmp/sse"
check "heartbeats on an idle stream" grep -q '^: heartbeat$' "$tmp/sse"
check "the stream still ends with run_end" test "$(grep '^event: ' "$tmp/sse" | tail -1)" = "event: run_end"
stop_server

# --- flue dev: reloads on edits, keeps the last good version --------------------
# until_ok SECONDS CMD...: retry CMD until it succeeds.
until_ok() {
	local end=$(( $(date +%s) + $1 * slow ))
	shift
	until "$@"; do
		[ "$(date +%s)" -ge "$end" ] && return 1
		sleep 0.1
	done
}
agents_has() { http GET /agents >/dev/null; jq -e --arg n "$1" '.agents[] | select(.name == $n)' "$tmp/body" >/dev/null; }
start_fake '{"turns":[
 {"match":{"system_contains":"Answer in French."},"text":"Bonjour."},
 {"text":"still good"}]}'
server_command=dev
start_server
cat >.flue/agents/fresh.md <<'EOF'
---
description: Added while the server runs
model: anthropic/claude-sonnet-4.6
---
Hi.
EOF
check "dev: a new agent appears" until_ok 10 agents_has fresh
cp .flue/agents/chat.md "$tmp/chat.md"
printf -- '---\nmodle: x/y\n---\nbroken\n' >.flue/agents/chat.md
check "dev: a bad edit is reported" until_ok 10 grep -q "still serving the last good version" "$tmp/srv.err"
check "dev: the bad edit names the file and key" grep -q "chat.md:2:1: unknown key 'modle'" "$tmp/srv.err"
code=$(json_post /agents/chat/d1 '{"prompt":"x"}')
check "dev: the last good version still serves" test "$code/$(jq -r .result.text "$tmp/body")" = "200/still good"
reloads() { grep -c "reloaded: 3 agents" "$tmp/srv.err"; }
before=$(reloads)
more_reloads() { [ "$(reloads)" -gt "$before" ]; }
sed 's/^Answer briefly\.$/Answer in French./' "$tmp/chat.md" >.flue/agents/chat.md
check "dev: a fixed edit reloads" until_ok 10 more_reloads
code=$(json_post /agents/chat/d2 '{"prompt":"x"}')
check "dev: the new instructions are used" test "$code/$(jq -r .result.text "$tmp/body")" = "200/Bonjour."
stop_server
check "dev: its copies are removed on exit" test -z "$(ls .flue/state/dev 2>/dev/null)"
server_command=serve

finish
