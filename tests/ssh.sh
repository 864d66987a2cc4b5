#!/bin/bash
# The connector-authoring path end to end: flue init, flue add sandbox
# ssh, flue build, flue plugins, and an agent whose tools run on an
# OpenSSH server this test starts on 127.0.0.1 (the model is the fake
# gateway).  Skipped (77) where there is no sshd.
set -u
test_name=ssh
. "$(dirname "$0")/testlib.sh"
. "$(dirname "$0")/gatewaylib.sh"
[ -x /usr/sbin/sshd ] || { echo "SKIP: no /usr/sbin/sshd (apt-get install openssh-server)"; exit 77; }
command -v ssh >/dev/null && command -v ssh-keygen >/dev/null || { echo "SKIP: no ssh client"; exit 77; }
export FLUE_DATA_DIR=$FLUE_TEST_SRCDIR
export FLUE_BUILD_CFLAGS="-I$FLUE_TEST_SRCDIR/core/include"
sshdpid=
trap '[ -n "$sshdpid" ] && kill "$sshdpid" 2>/dev/null; cleanup' EXIT

# --- a throw-away sshd on 127.0.0.1, for the current user --------------------------
mkdir -p "$tmp/remote" "$tmp/sshd"
ssh-keygen -q -t ed25519 -N '' -f "$tmp/sshd/host_key"
ssh-keygen -q -t ed25519 -N '' -f "$tmp/sshd/client_key"
cp "$tmp/sshd/client_key.pub" "$tmp/sshd/authorized_keys"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null || echo $((20000 + RANDOM % 20000)))
cat >"$tmp/sshd/config" <<EOF
ListenAddress 127.0.0.1
HostKey $tmp/sshd/host_key
AuthorizedKeysFile $tmp/sshd/authorized_keys
PidFile $tmp/sshd/pid
StrictModes no
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
EOF
[ "$(id -u)" = 0 ] && mkdir -p /run/sshd
/usr/sbin/sshd -D -e -f "$tmp/sshd/config" -p "$port" 2>"$tmp/sshd/log" &
sshdpid=$!
for _ in $(seq 100); do
	grep -q "Server listening" "$tmp/sshd/log" && break
	sleep 0.05
done
check "sshd is up" grep -q "Server listening" "$tmp/sshd/log"

# --- the blueprint, built -------------------------------------------------------------
"$flue" init p >/dev/null
cd p || exit 1
expect "flue add sandbox ssh" 0 'create     plugins/ssh.c' -- "$flue" add sandbox ssh
check "the plugin source is marked" test "$(head -1 .flue/plugins/ssh.c)" = "// flue-blueprint: sandbox/ssh@1"
check "the example agent" test -f .flue/agents/remote.md
check ".env.example has the variables" grep -q '^SSH_HOST=' .env.example
expect "flue build" 0 'building +ssh.so' -- "$flue" build
expect "flue plugins: ssh, from the project, loaded" 0 'ssh +sandbox .*loaded' -- "$flue" plugins
"$flue" plugins >"$tmp/plugins" 2>&1
check "flue plugins: from the project's folder" grep -q 'ssh.*project' "$tmp/plugins"

# --- an agent working on the host over ssh ---------------------------------------------
remote=$(cd "$tmp/remote" && pwd -P)
cat >.flue/agents/ops.md <<EOF
---
description: Works over ssh
model: anthropic/claude-sonnet-4.6
thinking: off
sandbox:
  plugin: ssh
  host: 127.0.0.1
  port: $port
  identity_file: $tmp/sshd/client_key
  cwd: $remote
  ssh_options: ["UserKnownHostsFile=$tmp/sshd/known_hosts", "GlobalKnownHostsFile=/dev/null"]
---
Do the task on the remote host.
EOF
start_fake '{"turns":[
 {"tool_calls":[
   {"id":"s1","name":"bash","arguments":"{\"command\":\"echo from-ssh; pwd\"}"},
   {"id":"s2","name":"write","arguments":"{\"path\":\"made/by-agent.txt\",\"content\":\"written over ssh\\n\"}"}]},
 {"tool_calls":[{"id":"s3","name":"read","arguments":"{\"path\":\"made/by-agent.txt\"}"}],
  "expect":{"tool_results":[{"tool_call_id":"s1","contains":"from-ssh"},
                            {"tool_call_id":"s1","contains":"'"$remote"'"}]}},
 {"text":"Done over ssh.",
  "expect":{"tool_results":[{"tool_call_id":"s3","contains":"written over ssh"}]}}]}'
expect "an agent runs with the ssh sandbox" 0 '^Done over ssh\.$' -- "$flue" run -q ops --payload '{"prompt":"work"}'
check "its file is on the host, in the remote cwd" test "$(cat "$remote/made/by-agent.txt")" = "written over ssh"
check "the system prompt saw the remote folder" test "$(requests)" -eq 3
expect "a wrong key: a clear error" 1 "127.0.0.1" -- sh -c "cd '$tmp/p' && sed -i 's|client_key|nope_key|' .flue/agents/ops.md && '$FLUE_BIN' run -q ops --payload '{\"prompt\":\"x\"}'"

finish
