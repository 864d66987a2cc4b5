#!/bin/bash
# `flue run` end to end: real agents, the local sandbox, the gateway
# plugin, and the fake AI Gateway (tests/fake-gateway) on 127.0.0.1
# speaking the real streaming protocols, faults included.
set -u
. "$(dirname "$0")/testlib.sh"
. "$(dirname "$0")/gatewaylib.sh"

# session_lines AGENT ID: records in the session file.
session_file() { echo "$tmp/p/.flue/state/sessions/$1/$2.jsonl"; }
session_roles() { jq -r '.role' <"$(session_file "$1" "$2")" | tr '\n' ' '; }

"$flue" init p >/dev/null
cd p || exit 1
cat >.flue/agents/worker.md <<'EOF'
---
description: Does what it is asked with the tools
model: anthropic/claude-sonnet-4.6
thinking: off
---
Do the task.
EOF
printf 'hello from a file\n' >notes.txt

# --- a multi-turn tool-using run --------------------------------------
start_fake '{"turns":[
 {"text":"Let me look.","tool_calls":[
   {"id":"call_1","name":"bash","arguments":"{\"command\":\"echo made > out.txt && cat notes.txt\"}",
    "fragments":["{\"comm","and\":\"echo made > out.txt && cat notes.txt\"}"]},
   {"id":"call_2","name":"read","arguments":"{\"path\":\"notes.txt\"}"}],
  "usage":{"input":100,"output":20,"cost":0.001},
  "expect":{"model":"anthropic/claude-sonnet-4.6","auth":"Bearer test-key",
            "tools":["read","write","edit","bash","grep","glob","task","activate_skill"],"include_usage":true}},
 {"text":"The file says hello.","usage":{"input":150,"output":10,"cost":0.002},
  "expect":{"tool_results":[{"tool_call_id":"call_1","contains":"hello from a file"},
                            {"tool_call_id":"call_2","contains":"hello from a file"}]}}]}'
"$flue" run worker --id s1 --payload '{"prompt":"read notes"}' >"$tmp/out" 2>"$tmp/err"
check "multi-turn run exits 0" test $? -eq 0
check "answer on stdout" test "$(cat "$tmp/out")" = "The file says hello."
check "tool ran in the project" test "$(cat out.txt)" = made
check "progress names the tool" grep -q 'bash echo made' "$tmp/err"
check "done line with cost" grep -q 'done in 2 turns, 2 tool calls, .*\$0.0030' "$tmp/err"
check "two requests" test "$(requests)" -eq 2
check "session holds the messages" test "$(session_roles worker s1)" = "user assistant tool tool assistant "
check "results in call order" test "$(jq -r 'select(.role=="tool").tool_call_id' <"$(session_file worker s1)" | tr '\n' ' ')" = "call_1 call_2 "
check "usage stored" test "$(jq -s '.[1].usage.input_tokens' <"$(session_file worker s1)")" = 100

# --- continuing a session by id ---------------------------------------
start_fake '{"turns":[{"text":"Still here.",
  "expect":{"body_contains":["read notes","The file says hello.","continue"]}}]}'
expect "continue by id" 0 '^Still here\.$' -- "$flue" run -q worker --id s1 --payload '{"prompt":"continue"}'
check "session grew" test "$(session_roles worker s1)" = "user assistant tool tool assistant user assistant "

# --- --json and --stream ----------------------------------------------
start_fake '{"turns":[{"text":"ok","usage":{"input":7,"output":3,"cost":0.5}}]}'
"$flue" run -q worker --id j1 --json --payload '{"prompt":"x"}' >"$tmp/json"
check "--json status" test "$(jq -r .status "$tmp/json")" = ok
check "--json result" test "$(jq -r .result "$tmp/json")" = ok
check "--json usage" test "$(jq -r .usage.output_tokens "$tmp/json")" = 3
check "--json session" test "$(jq -r .session "$tmp/json")" = j1
check "--json own cpu" test "$(jq -r '.process.cpu_user_ms >= 0' "$tmp/json")" = true
start_fake '{"turns":[{"tool_calls":[{"id":"c1","name":"glob","arguments":"{\"pattern\":\"*.txt\"}"}]},{"text":"a","usage_style":"openai"}]}'
"$flue" run -q worker --stream --payload '{"prompt":"x"}' >"$tmp/stream"
check "--stream: one JSON object per line" jq -e . "$tmp/stream" >/dev/null
check "--stream: event order" test "$(jq -r .type "$tmp/stream" | uniq | tr '\n' ' ')" = "run_start turn_end tool_start tool_end text_delta turn_end run_end "
check "--stream: tool result" test "$(jq -r 'select(.type=="tool_end").result' "$tmp/stream")" = "$(printf 'notes.txt\nout.txt')"

# --- faults: the run recovers, or fails clearly -----------------------
start_fake '{"turns":[{"status":429,"headers":{"retry-after":"1"},"error":{"type":"rate_limit_exceeded","message":"slow down"}},{"text":"after 429"}]}'
start=$(date +%s%N)
expect "429 retry-after then success" 0 'retrying: 429' -- "$flue" run worker --id f1 --payload '{"prompt":"x"}'
check "waited for retry-after" test $(( ($(date +%s%N) - start) / 1000000 )) -ge 1000
start_fake '{"turns":[{"status":503},{"status":502},{"text":"after 5xx"}]}'
expect "5xx then success" 0 '^after 5xx$' -- "$flue" run -q worker --id f2 --payload '{"prompt":"x"}'
start_fake '{"turns":[{"text":"partial answer that","fault":"reset","after_events":2},{"text":"whole answer"}]}'
"$flue" run worker --id f3 --payload '{"prompt":"x"}' >"$tmp/out" 2>"$tmp/err"
check "reset mid-stream: retried" test $? -eq 0
check "reset: the answer is the retried one" test "$(cat "$tmp/out")" = "whole answer"
check "reset: session has no partial answer" test "$(jq -s -r '.[1].content[0].text' <"$(session_file worker f3)")" = "whole answer"
start_fake '{"turns":[{"text":"cut","fault":"eof","after_events":2},{"text":"complete"}]}'
expect "EOF without [DONE]: retried" 0 '^complete$' -- "$flue" run -q worker --id f4 --payload '{"prompt":"x"}'
start_fake '{"turns":[{"fault":"error_event","after_events":1},{"text":"recovered"}]}'
expect "in-stream error: retried" 0 '^recovered$' -- "$flue" run -q worker --id f5 --payload '{"prompt":"x"}'
start_fake '{"turns":[{"status":402,"error":{"type":"insufficient_funds","message":"no credits"}}]}'
expect "402 is final" 1 'insufficient funds' -- "$flue" run -q worker --id f6 --payload '{"prompt":"x"}'
check "402: one request" test "$(requests)" -eq 1
check "402: session holds only the user message" test "$(session_roles worker f6)" = "user "
start_fake '{"turns":[{"status":404,"error":{"type":"model_not_found","message":"no such model"}}]}'
expect "404 names the model" 1 "model 'anthropic/claude-sonnet-4.6' not found" -- "$flue" run -q worker --payload '{"prompt":"x"}'
start_fake '{"turns":[{"status":401,"error":{"type":"authentication_error","message":"bad key"}}]}'
expect "401 names the key" 1 'AI_GATEWAY_API_KEY' -- "$flue" run -q worker --payload '{"prompt":"x"}'
start_fake '{"turns":[{"status":500},{"status":500},{"status":500},{"status":500}]}'
expect "retries run out" 1 'gave up after 3 attempts' -- "$flue" run -q worker --id f7 --payload '{"prompt":"x"}'
check "gave up: session holds only the user message" test "$(session_roles worker f7)" = "user "
(unset AI_GATEWAY_API_KEY AI_GATEWAY_BASE_URL
 expect "no credentials" 1 'set AI_GATEWAY_API_KEY' -- "$flue" run -q worker --payload '{"prompt":"x"}'
 exp=$(printf '{"exp":1700000000}' | base64 | tr -d '=\n' | tr '/+' '_-')
 export VERCEL_OIDC_TOKEN="eyJhbGciOiJub25lIn0.$exp.sig"
 expect "expired OIDC token" 1 'vercel env pull' -- "$flue" run -q worker --payload '{"prompt":"x"}'
 echo "pass=$pass fail=$fail" >"$tmp/sub")
. "$tmp/sub"

# --- tools: bad arguments go back to the model ------------------------
start_fake '{"turns":[
 {"tool_calls":[{"id":"c1","name":"read","arguments":"{\"path\":3}"},
                {"id":"c2","name":"nosuch","arguments":"{}"},
                {"id":"c3","name":"bash","arguments":"{\"command\": \"ls"}]},
 {"text":"noted","expect":{"tool_results":[
   {"tool_call_id":"c1","contains":"Validation failed for tool \"read\""},
   {"tool_call_id":"c2","contains":"not found"},
   {"tool_call_id":"c3","contains":"not valid JSON"}]}}]}'
expect "invalid tool calls are answered, not fatal" 0 '^noted$' -- "$flue" run -q worker --payload '{"prompt":"x"}'

# --- one turn's tool calls run at the same time -----------------------
start_fake '{"turns":[{"tool_calls":[
   {"id":"p1","name":"bash","arguments":"{\"command\":\"sleep 1; echo one\"}"},
   {"id":"p2","name":"bash","arguments":"{\"command\":\"sleep 1; echo two\"}"},
   {"id":"p3","name":"bash","arguments":"{\"command\":\"sleep 1; echo three\"}"}]},
 {"text":"parallel","expect":{"tool_results":[{"tool_call_id":"p1","contains":"one"},
   {"tool_call_id":"p2","contains":"two"},{"tool_call_id":"p3","contains":"three"}]}}]}'
start=$(date +%s%N)
expect "three calls in one turn" 0 '^parallel$' -- "$flue" run -q worker --id par --payload '{"prompt":"x"}'
check "... ran concurrently" test $(( ($(date +%s%N) - start) / 1000000 )) -lt $((2500 * slow))
check "... results in call order" test "$(jq -r 'select(.role=="tool").tool_call_id' <"$(session_file worker par)" | tr '\n' ' ')" = "p1 p2 p3 "

# --- tools from a tool plugin -----------------------------------------
mkdir -p tp/.flue/agents
printf 'plugins: [local, fx-tool]\n' >tp/flue.yaml
cp .flue/agents/worker.md tp/.flue/agents/
start_fake '{"turns":[
 {"tool_calls":[{"id":"t1","name":"shout","arguments":"{\"text\":\"hello\"}"},
                {"id":"t2","name":"shout","arguments":"{\"text\":3}"}],
  "expect":{"tools":["read","write","edit","bash","grep","glob","task","shout"]}},
 {"text":"shouted","expect":{"tool_results":[
   {"tool_call_id":"t1","contains":"HELLO (in '"$PWD"'/tp)"},
   {"tool_call_id":"t2","contains":"/text: must be a string"}]}}]}'
expect "a tool plugin's tool" 0 '^shouted$' -- sh -c "cd tp && FLUE_PLUGIN_PATH=$FLUE_TEST_PLUGIN_DIR:$FLUE_TEST_FIXTURE_DIR $(printf %q "$FLUE_BIN") run -q worker --payload '{\"prompt\":\"x\"}'"

# --- typed results ----------------------------------------------------
cat >.flue/agents/typed.md <<'EOF'
---
model: anthropic/claude-sonnet-4.6
result:
  type: object
  properties:
    files: {type: integer, minimum: 0}
    summary: {type: string}
  required: [files, summary]
  additionalProperties: false
---
Count the files.
EOF
start_fake '{"turns":[
 {"text":"There are two files."},
 {"tool_calls":[{"id":"f1","name":"finish","arguments":"{\"files\":\"two\"}"}],
  "expect":{"tools":["read","write","edit","bash","grep","glob","task","activate_skill","finish","give_up"],
            "body_contains":["call the finish tool"]}},
 {"tool_calls":[{"id":"f2","name":"finish","arguments":"{\"files\":2,\"summary\":\"two files\"}"}],
  "expect":{"tool_results":[{"tool_call_id":"f1","contains":"Validation failed for tool \"finish\""}]}}]}'
"$flue" run -q typed --id t1 --json --payload '{"prompt":"count"}' >"$tmp/typed"
check "typed result: exit 0" test $? -eq 0
check "typed result: the validated JSON" test "$(jq -c .output "$tmp/typed")" = '{"files":2,"summary":"two files"}'
check "typed result: three requests (nudge, invalid, valid)" test "$(requests)" -eq 3
start_fake '{"turns":[{"tool_calls":[{"id":"g","name":"give_up","arguments":"{\"reason\":\"no files here\"}"}]}]}'
expect "give_up fails the run with the reason" 1 'the agent gave up: no files here' -- "$flue" run -q typed --payload '{"prompt":"count"}'
cat >.flue/agents/typed2.md <<'EOF'
---
model: anthropic/claude-sonnet-4.6
result: {type: array, items: {type: string}}
---
List things.
EOF
start_fake '{"turns":[{"tool_calls":[{"id":"f","name":"finish","arguments":"{\"result\":[\"a\",\"b\"]}"}]}]}'
expect "a non-object result is wrapped, and printed" 0 '"a"' -- "$flue" run -q typed2 --payload '{"prompt":"x"}'
start_fake '{"turns":[{"repeat":4,"text":"no tools for me"}]}'
expect "reminders to finish are bounded" 1 'without calling finish' -- "$flue" run -q typed --payload '{"prompt":"x"}'

# --- max_turns --------------------------------------------------------
start_fake '{"turns":[{"repeat":5,"tool_calls":[{"id":"c","name":"bash","arguments":"{\"command\":\"true\"}"}]}]}'
cat >.flue/agents/short.md <<'EOF'
---
model: anthropic/claude-sonnet-4.6
max_turns: 2
---
Loop.
EOF
expect "max_turns stops the run" 1 'stopped after 2 turns' -- "$flue" run -q short --id m1 --payload '{"prompt":"x"}'
check "max_turns: session consistent" test "$(session_roles short m1)" = "user assistant tool assistant tool "

# --- busy sessions ----------------------------------------------------
start_fake '{"turns":[{"first_byte_ms":3000,"text":"slow"},{"text":"x"}]}'
"$flue" run -q worker --id busy --payload '{"prompt":"x"}' >/dev/null 2>&1 &
first=$!
wait_lines "$(session_file worker busy)" 1
expect "a second run of a busy session" 1 'is busy' -- "$flue" run -q worker --id busy --payload '{"prompt":"y"}'
wait $first
check "the first run finished" test $? -eq 0

# --- cancellation -----------------------------------------------------
start_fake '{"turns":[{"tool_calls":[{"id":"c1","name":"bash","arguments":"{\"command\":\"sleep 30\"}"}]},{"text":"never"}]}'
"$flue" run -q worker --id c1 --payload '{"prompt":"x"}' >/dev/null 2>"$tmp/err" &
pid=$!
wait_lines "$(session_file worker c1)" 2
sleep 0.2
start=$(date +%s%N)
interrupt $pid
wait $pid
status=$?
check "Ctrl-C exits 130" test $status -eq 130
check "Ctrl-C is prompt" test $(( ($(date +%s%N) - start) / 1000000 )) -lt $((3000 * slow))
check "Ctrl-C says how to continue" grep -q 'continue it with --id c1' "$tmp/err"
check "canceled: the tool call has a result" test "$(session_roles worker c1)" = "user assistant tool "
check "canceled: the result says so" grep -q 'canceled before this tool call finished' "$(session_file worker c1)"
start_fake '{"turns":[{"first_byte_ms":20000,"text":"never"}]}'
"$flue" run -q worker --id c2 --payload '{"prompt":"x"}' >/dev/null 2>&1 &
pid=$!
wait_lines "$(session_file worker c2)" 1
sleep 0.3
start=$(date +%s%N)
interrupt $pid
wait $pid
check "Ctrl-C while waiting for the model" test $? -eq 130
check "... is prompt" test $(( ($(date +%s%N) - start) / 1000000 )) -lt $((1000 * slow))
start_fake '{"turns":[{"text":"back","expect":{"body_contains":["canceled before this tool call"]}}]}'
expect "a canceled session continues" 0 '^back$' -- "$flue" run -q worker --id c1 --payload '{"prompt":"again"}'

# --- environment files ------------------------------------------------
printf '# keys\nexport AI_GATEWAY_API_KEY="from-file"  \nOTHER=x # note\n' >"$tmp/keys.env"
start_fake '{"turns":[{"text":"env ok","expect":{"auth":"Bearer from-file"}}]}'
expect "--env overrides the environment" 0 '^env ok$' -- "$flue" run -q worker --env "$tmp/keys.env" --payload '{"prompt":"x"}'
printf 'AI_GATEWAY_API_KEY=from-dotenv\n' >.env
start_fake '{"turns":[{"text":"dotenv ok","expect":{"auth":"Bearer test-key"}}]}'
expect "the project .env does not override" 0 '^dotenv ok$' -- "$flue" run -q worker --payload '{"prompt":"x"}'
(unset AI_GATEWAY_API_KEY
 start_fake '{"turns":[{"text":"dotenv used","expect":{"auth":"Bearer from-dotenv"}}]}'
 expect "the project .env fills in" 0 '^dotenv used$' -- "$flue" run -q worker --payload '{"prompt":"x"}'
 kill "$fakepid"
 echo "pass=$pass fail=$fail" >"$tmp/sub")
. "$tmp/sub"
rm -f .env

# --- usage errors -----------------------------------------------------
expect "no agent" 2 'name the agent' -- "$flue" run
expect "bad session id" 1 "session id '../x'" -- "$flue" run worker --id ../x --payload '{"prompt":"x"}'
expect "no payload" 1 'nothing to do' -- "$flue" run worker
printf 'A=1\nnot a line\n' >"$tmp/bad.env"
expect "bad env file" 2 'bad.env:2: expected NAME=value' -- "$flue" run worker --env "$tmp/bad.env" --payload '{}'
expect "--json with --stream" 2 'exclude each other' -- "$flue" run worker --json --stream

finish
