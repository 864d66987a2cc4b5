#!/bin/bash
# The rest of the harness end to end, against the fake AI Gateway: tasks
# the model starts (one, two at once, the depth limit, cancellation),
# skills (activated by the model, run directly), a typed result given
# with the call, and `flue shell`.
set -u
test_name=harness
. "$(dirname "$0")/testlib.sh"
. "$(dirname "$0")/gatewaylib.sh"

sessions=$tmp/p/.flue/state/sessions
# body N: the JSON body of the fake's Nth model request.
body() { sed -n "${1}p" "$tmp/fake.log" | jq -c .body; }

"$flue" init p >/dev/null
cd p || exit 1
cat >.flue/agents/lead.md <<'EOF'
---
description: Splits work into tasks
model: anthropic/claude-sonnet-4.6
thinking: off
---
Lead the work.
EOF
mkdir -p .flue/skills/greet sub
cat >.flue/skills/greet/SKILL.md <<'EOF'
---
name: greet
description: Greets someone in French
---
Say bonjour to the person named in the arguments.
See phrases.txt for more.
EOF
printf 'sub-folder rules\n' >sub/AGENTS.md

# --- a task the model starts during a prompt ---------------------------
start_fake '{"turns":[
 {"tool_calls":[{"id":"t1","name":"task","arguments":"{\"prompt\":\"count the files\",\"cwd\":\"sub\"}"}]},
 {"match":{"body_contains":["count the files"],"system_contains":"sub-folder rules"},
  "text":"There are 2 files.",
  "expect":{"tools":["read","write","edit","bash","grep","glob","task","activate_skill"]}},
 {"match":{"body_contains":["There are 2 files."]},"text":"The task says 2."}]}'
"$flue" run lead --id p1 --stream --payload '{"prompt":"how many files?"}' >"$tmp/out" 2>"$tmp/err"
check "task run exits 0" test $? -eq 0
check "three requests: parent, child, parent" test "$(requests)" -eq 3
check "the parent's answer" grep -q '"result":"The task says 2."' "$tmp/out"
child=$(jq -r 'select(.role=="tool").task.session' <"$sessions/lead/p1.jsonl")
check "the child's session is named under the parent's" test "${child#p1.task-}" != "$child"
check "the parent's tool result is the child's text" test "$(jq -r 'select(.role=="tool").content' <"$sessions/lead/p1.jsonl")" = "There are 2 files."
check "the child's session links back" test "$(head -1 "$sessions/lead/$child.jsonl" | jq -r '.type + " " + .parent_session + " " + (.depth|tostring)')" = "task p1 1"
check "the child's cwd is the sub-folder" test "$(head -1 "$sessions/lead/$child.jsonl" | jq -r .cwd)" = "$tmp/p/sub"
check "the child has its own history" test "$(jq -r '.role // .type' <"$sessions/lead/$child.jsonl" | tr '\n' ' ')" = "task user assistant "
check "the child's request has no parent history" test "$(body 2 | grep -c 'how many files')" -eq 0
check "task events carry the task id" test "$(grep -c '"task_id":' "$tmp/out")" -ge 2
check "task events name the parent session" grep -q '"type":"run_start".*"task_id":.*"parent_session":"p1"' "$tmp/out"
"$flue" logs lead p1 >"$tmp/logs"
check "flue logs: the task's session is nested under its call" grep -q "^    == session $child of lead (task) ==$" "$tmp/logs"
check "flue logs: the task's messages are indented" grep -q '^    user: count the files$' "$tmp/logs"
check "flue logs: then the task's result" grep -q '^<- task: There are 2 files\.$' "$tmp/logs"
"$flue" logs lead p1 --format ndjson >"$tmp/logs"
check "flue logs --format ndjson: the records as stored" cmp -s "$tmp/logs" "$sessions/lead/p1.jsonl"
check "flue logs --format json: one array" test "$("$flue" logs lead p1 --format json | jq length)" -eq "$(wc -l <"$sessions/lead/p1.jsonl")"
expect "flue logs: an unknown session" 1 "agent 'lead' has no session 'nope'" -- "$flue" logs lead nope
check "progress on stderr shows the task" grep -q '^  \[task [0-9a-f]*\] started: session p1\.task-' "$tmp/err"

# --- two tasks at once -------------------------------------------------
delay=$((2000 * slow))
start_fake '{"turns":[
 {"tool_calls":[{"id":"a","name":"task","arguments":"{\"prompt\":\"alpha job\"}"},
                {"id":"b","name":"task","arguments":"{\"prompt\":\"beta job\"}"}]},
 {"match":{"body_contains":["alpha job"]},"first_byte_ms":'$delay',"text":"alpha done"},
 {"match":{"body_contains":["beta job"]},"first_byte_ms":'$delay',"text":"beta done"},
 {"match":{"body_contains":["alpha done","beta done"]},"text":"both done"}]}'
expect "two tasks: exit 0" 0 '^both done$' -- "$flue" run -q lead --id p2 --payload '{"prompt":"two jobs"}'
t_a=$(jq -s '[.[] | select(.body.messages[]?.content? == "alpha job")][0].t_us' "$tmp/fake.log")
t_b=$(jq -s '[.[] | select(.body.messages[]?.content? == "beta job")][0].t_us' "$tmp/fake.log")
gap=$(( (t_a > t_b ? t_a - t_b : t_b - t_a) / 1000 ))
check "both children asked the model before either was answered (gap ${gap} ms)" test "$gap" -lt "$delay"
check "two child sessions" test "$(ls "$sessions/lead/" | grep -c '^p2\.task-.*\.jsonl$')" -eq 2
check "results in call order" test "$(jq -r 'select(.role=="tool").content' <"$sessions/lead/p2.jsonl" | tr '\n' ' ')" = "alpha done beta done "

# --- the depth limit -----------------------------------------------------
cp flue.yaml "$tmp/flue.yaml"
sed -i 's/^defaults:$/defaults:\n  max_task_depth: 1/' flue.yaml
start_fake '{"turns":[
 {"tool_calls":[{"id":"d1","name":"task","arguments":"{\"prompt\":\"go deeper\"}"}]},
 {"match":{"body_contains":["go deeper"]},"tool_calls":[{"id":"d2","name":"task","arguments":"{\"prompt\":\"deepest\"}"}]},
 {"match":{"body_contains":["Maximum task depth (1) exceeded"]},"text":"could not nest"},
 {"match":{"body_contains":["could not nest"]},"text":"done at depth 0"}]}'
expect "depth limit: the run goes on" 0 '^done at depth 0$' -- "$flue" run -q lead --id p3 --payload '{"prompt":"nest"}'
check "four requests" test "$(requests)" -eq 4
check "no grandchild session" test "$(ls "$sessions/lead/" | grep -c '^p3\.task-.*\.task-')" -eq 0
cp "$tmp/flue.yaml" flue.yaml

# --- cancelling the parent cancels its children ------------------------
start_fake '{"turns":[
 {"tool_calls":[{"id":"c1","name":"task","arguments":"{\"prompt\":\"slow child\"}"}]},
 {"match":{"body_contains":["slow child"]},"first_byte_ms":60000,"text":"never"}]}'
"$flue" run -q lead --id p4 --payload '{"prompt":"start"}' >"$tmp/out" 2>"$tmp/err" &
runpid=$!
wait_lines "$tmp/fake.log" 2
started=$(date +%s%N)
interrupt "$runpid"
wait "$runpid"
rc=$?
took=$(( ($(date +%s%N) - started) / 1000000 ))
check "canceled: exit 130" test "$rc" -eq 130
check "canceled within 5 s (${took} ms)" test "$took" -lt $((5000 * slow))
child=$(ls "$sessions/lead/" | grep '^p4\.task-.*\.jsonl$' | head -1)
check "the child's session keeps its prompt" test "$(jq -r '.role // .type' <"$sessions/lead/$child" | tr '\n' ' ')" = "task user "
check "the parent records the task as canceled" grep -q 'canceled' "$sessions/lead/p4.jsonl"

# --- a skill the model activates ----------------------------------------
start_fake '{"turns":[
 {"tool_calls":[{"id":"s1","name":"activate_skill","arguments":"{\"name\":\"nope\"}"}]},
 {"tool_calls":[{"id":"s2","name":"activate_skill","arguments":"{\"name\":\"greet\"}"}],
  "expect":{"tool_results":[{"tool_call_id":"s1","contains":"Validation failed"}]}},
 {"text":"Bonjour!",
  "expect":{"tool_results":[{"tool_call_id":"s2","contains":"Say bonjour to the person"}],
            "body_contains":["<skill_instructions>","/.flue/skills/greet"]}}]}'
expect "activate_skill: exit 0" 0 '^Bonjour!$' -- "$flue" run -q lead --id p5 --payload '{"prompt":"greet Ann"}'
check "activate_skill lists the skills as an enum" test "$(body 1 | jq -c '.tools[] | select(.function.name=="activate_skill") | .function.parameters.properties.name.enum')" = '["describe-project","greet"]'

# --- a skill run directly -------------------------------------------------
start_fake '{"turns":[{"text":"Bonjour Ann!",
  "expect":{"body_contains":["Run the skill named \\\"greet\\\".","Say bonjour to the person","Arguments:","\\\"name\\\": \\\"Ann\\\""]}}]}'
expect "--skill runs the skill" 0 '^Bonjour Ann!$' -- "$flue" run -q lead --skill greet --args '{"name":"Ann"}'
expect "a missing skill lists the skills" 1 "skill 'gret' not found for agent 'lead' \(available: .*greet" -- "$flue" run -q lead --skill gret
expect "--args needs --skill" 2 '--args goes with --skill' -- "$flue" run -q lead --args '{}'

# --- a typed result given with the call ------------------------------------
start_fake '{"turns":[
 {"tool_calls":[{"id":"f1","name":"finish","arguments":"{\"count\":\"three\"}"}],
  "expect":{"tools":["read","write","edit","bash","grep","glob","task","activate_skill","finish","give_up"]}},
 {"tool_calls":[{"id":"f2","name":"finish","arguments":"{\"count\":3}"}],
  "expect":{"tool_results":[{"tool_call_id":"f1","contains":"Validation failed"}]}}]}'
expect "--result: the validated JSON" 0 '"count": 3' -- "$flue" run -q lead --payload '{"prompt":"count"}' \
	--result '{"type":"object","properties":{"count":{"type":"integer"}},"required":["count"]}'
expect "--result: an unknown keyword is refused by name" 1 "unknown JSON Schema keyword 'minimun' \(did you mean 'minimum'\?\)" -- \
	"$flue" run -q lead --payload '{"prompt":"count"}' --result '{"type":"integer","minimun":1}'
cat >.flue/agents/typo.md <<'EOF'
---
model: anthropic/claude-sonnet-4.6
result:
  type: object
  properties:
    n: {type: integer, maximum: 3, exclusiveMinimun: 0}
---
Count.
EOF
expect "an agent's result schema is checked at load" 1 "typo.md:.*result.*/properties/n/exclusiveMinimun: unknown JSON Schema keyword 'exclusiveMinimun' \(did you mean 'exclusiveMinimum'\?\)" -- \
	"$flue" run -q typo --payload '{"prompt":"x"}'

# --- flue shell ---------------------------------------------------------------
expect "flue shell runs the command" 3 '^hello shell$' -- "$flue" shell lead p6 -- 'echo hello shell; exit 3'
check "the session records it as a bash call" test "$(jq -r '.role' <"$sessions/lead/p6.jsonl" | tr '\n' ' ')" = "user assistant tool "
check "the call is bash with the command" test "$(jq -r 'select(.role=="assistant").content[0] | .name + ": " + .arguments.command' <"$sessions/lead/p6.jsonl")" = "bash: echo hello shell; exit 3"
check "the result reads like the bash tool's" test "$(jq -r 'select(.role=="tool").content' <"$sessions/lead/p6.jsonl")" = "$(printf 'hello shell\n\n[exit code 3]')"
start_fake '{"turns":[{"text":"I saw it.",
  "expect":{"body_contains":["Run this shell command:","hello shell","what did I run?"]}}]}'
expect "the model sees the shell command next time" 0 '^I saw it\.$' -- "$flue" run -q lead --id p6 --payload '{"prompt":"what did I run?"}'
expect "flue shell quotes separate words" 0 '^a b$' -- "$flue" shell lead p7 -- printf '%s\n' 'a b'
expect "flue shell --timeout" 124 'timed out' -- "$flue" shell --timeout 1 lead p7 -- sleep 5
expect "flue shell without --" 2 'give the command after --' -- "$flue" shell lead p7 echo hi
expect "flue shell: a bad session id" 1 "session id '../x'" -- "$flue" shell lead ../x -- true

# --- compaction -------------------------------------------------------------
cat >.flue/agents/long.md <<'EOF'
---
model: anthropic/claude-sonnet-4.6
thinking: off
compaction: {context_window: 3000, reserve_tokens: 1000, keep_recent_tokens: 10}
---
Work long.
EOF
summary_turn='{"match":{"body_contains":["<conversation>"]},"text":"## Goal\nSUMMARY-XYZ",
  "expect":{"system_contains":"context summarisation assistant","tools":[],
            "body_contains":["[User]: first prompt","[Assistant tool calls]: bash(","[Tool result]: alpha-out"]}}'
start_fake '{"turns":[
 {"tool_calls":[{"id":"call-alpha-1","name":"bash","arguments":"{\"command\":\"echo alpha-out\"}"}],"usage":{"input":100,"output":10}},
 {"tool_calls":[{"id":"call-beta-2","name":"bash","arguments":"{\"command\":\"echo beta-out\"}"}],"usage":{"input":2500,"output":10}},
 '"$summary_turn"',
 {"text":"all done","expect":{"body_contains":["[Context Summary]","SUMMARY-XYZ","beta-out"]}}]}'
"$flue" run long --id k1 --stream --payload '{"prompt":"first prompt"}' >"$tmp/out" 2>"$tmp/err"
check "threshold compaction: exit 0" test $? -eq 0
check "threshold compaction: four requests" test "$(requests)" -eq 4
check "the next request no longer holds the summarised turn" test "$(body 4 | grep -c 'call-alpha-1')" -eq 0
check "it keeps the recent tool call with its result" test "$(body 4 | grep -o 'call-beta-2' | wc -l)" -ge 2
check "compaction events: start" grep -q '"type":"compaction_start".*"reason":"threshold"' "$tmp/out"
check "compaction events: sizes" test "$(jq -c 'select(.type=="compaction") | [.messages_before, .messages_after]' "$tmp/out")" = "[5,3]"
check "the whole history stays on disk" test "$(jq -r '.role // .type' <"$sessions/long/k1.jsonl" | tr '\n' ' ')" = "user assistant tool assistant tool compaction assistant "
check "the compaction record" test "$(jq -r 'select(.type=="compaction") | "\(.reason) \(.first_kept)"' <"$sessions/long/k1.jsonl")" = "threshold 3"

start_fake '{"turns":[{"text":"continued",
  "expect":{"body_contains":["[Context Summary]","SUMMARY-XYZ","call-beta-2","next prompt"]}}]}'
expect "a later run starts from the compacted view" 0 '^continued$' -- "$flue" run -q long --id k1 --payload '{"prompt":"next prompt"}'
check "without the summarised turns" test "$(body 1 | grep -c 'call-alpha-1')" -eq 0

# overflow: a "too long" refusal compacts once and asks again
start_fake '{"turns":[
 {"tool_calls":[{"id":"call-alpha-1","name":"bash","arguments":"{\"command\":\"echo alpha-out\"}"}]},
 {"status":400,"error":{"type":"invalid_request_error","message":"prompt is too long: 250000 tokens > 200000 maximum"}},
 {"match":{"body_contains":["<conversation>","[User]: first prompt"]},"text":"SUMMARY-OVF"},
 {"text":"recovered","expect":{"body_contains":["[Context Summary]","SUMMARY-OVF","alpha-out"]}}]}'
"$flue" run long --id k2 --stream --payload '{"prompt":"first prompt"}' >"$tmp/out" 2>"$tmp/err"
check "overflow: the run goes on (exit 0)" test $? -eq 0
check "overflow: the answer" grep -q '"result":"recovered"' "$tmp/out"
check "overflow: compaction event" grep -q '"type":"compaction_start".*"reason":"overflow"' "$tmp/out"
check "overflow: four requests" test "$(requests)" -eq 4
start_fake '{"turns":[
 {"tool_calls":[{"id":"call-alpha-1","name":"bash","arguments":"{\"command\":\"echo alpha-out\"}"}]},
 {"status":400,"error":{"message":"This model'"'"'s maximum context length is 8192 tokens"}},
 {"match":{"body_contains":["<conversation>"]},"text":"SUMMARY"},
 {"status":400,"error":{"message":"This model'"'"'s maximum context length is 8192 tokens"}}]}'
expect "overflow twice: the run fails saying why" 1 "longer than the model's context window" -- "$flue" run -q long --id k3 --payload '{"prompt":"first prompt"}'

# compaction: false
sed -i 's/^compaction: {/compaction: {enabled: false, /' .flue/agents/long.md
start_fake '{"turns":[
 {"tool_calls":[{"id":"c1","name":"bash","arguments":"{\"command\":\"echo a\"}"}],"usage":{"input":2900,"output":10}},
 {"text":"no compaction"}]}'
expect "compaction off: no summary" 0 '^no compaction$' -- "$flue" run -q long --id k4 --payload '{"prompt":"x"}'
check "compaction off: two requests" test "$(requests)" -eq 2

# by hand
start_fake '{"turns":[{"match":{"body_contains":["<conversation>","[User]: x"]},"text":"SUMMARY-MANUAL"}]}'
expect "flue compact" 0 '^compacted: 4 messages \(~[0-9]+ tokens\) -> 2 messages \(~[0-9]+ tokens\)$' -- "$flue" compact long k4
expect "flue compact: nothing left to compact" 1 'nothing to compact' -- "$flue" compact long k4
check "flue compact: a manual record" test "$(jq -r 'select(.type=="compaction").reason' <"$sessions/long/k4.jsonl")" = manual

# --- the embedding example ----------------------------------------------------
embed=$FLUE_TEST_BUILDDIR/examples/embed
[ -n "${FLUE_TEST_WRAPPER:-}" ] && embed="$FLUE_TEST_WRAPPER $embed"
start_fake '{"turns":[
 {"tool_calls":[{"id":"e1","name":"bash","arguments":"{\"command\":\"echo embedded\"}"}],
  "expect":{"body_contains":["say hi from C"]}},
 {"text":"Hi from C.","expect":{"tool_results":[{"tool_call_id":"e1","contains":"embedded"}]}}]}'
$embed "$tmp/p" lead "say hi from C" e1 >"$tmp/out" 2>"$tmp/err"
check "the embedding example runs an agent" test $? -eq 0
check "it prints the answer and the session" test "$(cat "$tmp/out")" = "$(printf 'Hi from C.\n(session e1, 2 turns)')"
check "its session holds the run" test "$(jq -r '.role' <"$sessions/lead/e1.jsonl" | tr '\n' ' ')" = "user assistant tool assistant "
expect "the embedding example: a missing agent" 1 "embed: no agent 'nobody': .*agents in .*: hello, lead, long, typo" -- $embed "$tmp/p" nobody "x"

# --- calls the command line does not make, through the API ---------------------
calls=$FLUE_TEST_BUILDDIR/tests/embed_calls
[ -n "${FLUE_TEST_WRAPPER:-}" ] && calls="$FLUE_TEST_WRAPPER $calls"
start_fake '{"turns":[
 {"match":{"body_contains":["api task"]},"text":"task answer"},
 {"match":{"body_contains":["list them","Run this shell command:","from-api-shell"]},
  "tool_calls":[{"id":"r1","name":"finish","arguments":"{\"result\":[\"a\",\"b\"]}"}]}]}'
$calls "$tmp/p" lead >"$tmp/out" 2>"$tmp/err"
check "API calls: exit 0" test $? -eq 0
check "API task: the child's answer and session" grep -q '^task: task answer in api1\.task-[0-9a-f]\{12\}$' "$tmp/out"
check "API task: its events reach the callback" grep -q '^task events: start 1 end 1$' "$tmp/out"
check "API task: the child's session links to api1" test "$(head -1 "$sessions"/lead/api1.task-*.jsonl | jq -r .parent_session)" = api1
check "API shell" grep -q '^shell: exit 0, from-api-shell$' "$tmp/out"
check "API typed result (a wrapped array schema)" grep -q '^typed: \["a","b"\]$' "$tmp/out"

finish
