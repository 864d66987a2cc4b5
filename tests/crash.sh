#!/bin/bash
# kill -9 at random moments of real runs -- mid-stream, mid-tool,
# mid-write -- must leave every session loadable and consistent: the
# next run on it succeeds, every record is whole JSON, and every tool
# call has exactly one result.  The kill points come from a fixed seed.
set -u
. "$(dirname "$0")/testlib.sh"
tmp=$(mktemp -d /tmp/flue-crash-XXXXXX)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	rm -rf "$tmp"
}
trap cleanup EXIT
cd "$tmp" || exit 1

flue=$FLUE_BIN
fake=$FLUE_TEST_BUILDDIR/tests/fake-gateway
export FLUE_PLUGIN_PATH=$FLUE_TEST_PLUGIN_DIR
export FLUE_DATA_DIR=$FLUE_TEST_SRCDIR
export AI_GATEWAY_API_KEY=test-key
RUNS=${CRASH_RUNS:-50}
RANDOM=20261122

# start_fake NAME SCRIPT: a fake in the background; sets $url.
start_fake() {
	printf '%s\n' "$2" >"$tmp/$1.json"
	"$fake" --script "$tmp/$1.json" --port-file "$tmp/$1.port" >/dev/null 2>&1 &
	pids+=($!)
	for _ in $(seq 100); do [ -s "$tmp/$1.port" ] && break; sleep 0.05; done
	url="http://127.0.0.1:$(cat "$tmp/$1.port")/v1"
}
# Endless work: each turn streams text slowly, then calls two tools.
start_fake busy '{"turns":[{"repeat":1000000,"delay_ms":2,"split":64,
 "text":["Working ","on ","it, ","step ","by ","step."],
 "tool_calls":[
  {"id":"a","name":"bash","arguments":"{\"command\":\"sleep 0.08; echo tick >> ticks.txt\"}","fragments":["{\"command\":","\"sleep 0.08; echo tick >> ticks.txt\"}"]},
  {"id":"b","name":"write","arguments":"{\"path\":\"state.txt\",\"content\":\"some state\"}"}]}]}'
busy=$url
start_fake done '{"turns":[{"repeat":1000000,"text":"finished"}]}'
done_url=$url

"$flue" init p >/dev/null
cd p || exit 1
cat >.flue/agents/looper.md <<'EOF2'
---
model: anthropic/claude-sonnet-4.6
max_turns: 10000
---
Keep working.
EOF2

consistent='reduce .[] as $r ({pending: [], ok: true};
  if $r.role == "assistant" then
    (if (.pending | length) > 0 then .ok = false else . end)
    | .pending = [$r.content[]? | select(.type == "tool_call") | .id]
  elif $r.role == "tool" then
    (if (.pending | index($r.tool_call_id)) == null then .ok = false
     else .pending -= [$r.tool_call_id] end)
  elif $r.role == "user" then
    (if (.pending | length) > 0 then .ok = false else . end)
  else . end) | .ok and (.pending | length == 0)'

bad=0 repaired=0 torn=0
for i in $(seq "$RUNS"); do
	delay=$((RANDOM % 1000))
	AI_GATEWAY_BASE_URL=$busy "$flue" run -q looper --id k$i \
		--payload '{"prompt":"go"}' >/dev/null 2>&1 &
	pid=$!
	sleep "$(printf '0.%03d' "$delay")"
	kill -9 $pid 2>/dev/null
	wait $pid 2>/dev/null
	file=.flue/state/sessions/looper/k$i.jsonl
	[ -s "$file" ] && [ "$(tail -c 1 "$file" | od -An -c | tr -d ' ')" != '\n' ] &&
		torn=$((torn + 1))
	# The next run loads it, repairs it and goes on.
	out=$(AI_GATEWAY_BASE_URL=$done_url "$flue" run -q looper --id k$i \
		--payload '{"prompt":"finish"}' 2>&1)
	if [ "$out" != finished ]; then
		echo "FAIL: run $i (killed after ${delay} ms): continuing failed: $out"
		bad=$((bad + 1)); continue
	fi
	if ! jq -e . "$file" >/dev/null 2>&1; then
		echo "FAIL: run $i (killed after ${delay} ms): a record is not JSON"
		bad=$((bad + 1)); continue
	fi
	if [ "$(jq -s "$consistent" "$file")" != true ]; then
		echo "FAIL: run $i (killed after ${delay} ms): tool calls and results do not match"
		jq -c '[.role, .tool_call_id // ""]' "$file" | head -20
		bad=$((bad + 1)); continue
	fi
	grep -q 'the run stopped before this tool call' "$file" &&
		repaired=$((repaired + 1))
	if [ "$(tail -1 "$file" | jq -r .role)" != assistant ]; then
		echo "FAIL: run $i: the session does not end with the answer"
		bad=$((bad + 1)); continue
	fi
done
echo "$RUNS runs: $torn killed mid-record, $repaired killed between a tool call and its result"
check "$RUNS killed runs left loadable, consistent sessions" test "$bad" -eq 0
# The kill points must reach the interesting moments, or the test proves
# little.
check "some kills landed between a call and its result" test "$repaired" -gt 0
finish
