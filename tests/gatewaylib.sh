# Shared by the end-to-end tests that run flue against the fake AI
# Gateway: a temporary folder, flue (under FLUE_TEST_WRAPPER when set),
# the fake's lifecycle and small helpers.  Source after testlib.sh.
tmp=$(mktemp -d "/tmp/flue-${test_name:-run}-XXXXXX")
fakepid=
cleanup() {
	[ -n "$fakepid" ] && kill "$fakepid" 2>/dev/null
	rm -rf "$tmp"
}
[ -n "${KEEP_TMP:-}" ] || trap cleanup EXIT
cd "$tmp" || exit 1

# FLUE_TEST_WRAPPER runs flue under a tool (make check-valgrind sets it
# to valgrind); time limits stretch by $slow then.
flue=$FLUE_BIN
slow=1
if [ -n "${FLUE_TEST_WRAPPER:-}" ]; then
	wrapped() { $FLUE_TEST_WRAPPER "$FLUE_BIN" "$@"; }
	flue=wrapped
	slow=10
fi
fake=$FLUE_TEST_BUILDDIR/tests/fake-gateway
export FLUE_PLUGIN_PATH=$FLUE_TEST_PLUGIN_DIR
export FLUE_DATA_DIR=$FLUE_TEST_SRCDIR
export SOURCE_DATE_EPOCH=1795305600 TZ=UTC
export AI_GATEWAY_API_KEY=test-key
unset VERCEL_OIDC_TOKEN

# start_fake SCRIPT_JSON: a fresh fake with this script; sets $port.
start_fake() {
	[ -n "$fakepid" ] && kill "$fakepid" 2>/dev/null && wait "$fakepid" 2>/dev/null
	printf '%s\n' "$1" >"$tmp/script.json"
	rm -f "$tmp/port" "$tmp/fake.log"
	"$fake" --script "$tmp/script.json" --port-file "$tmp/port" \
		--log "$tmp/fake.log" 2>>"$tmp/fake.err" &
	fakepid=$!
	for _ in $(seq 100); do
		[ -s "$tmp/port" ] && break
		sleep 0.05
	done
	port=$(cat "$tmp/port")
	export AI_GATEWAY_BASE_URL=http://127.0.0.1:$port/v1
}

# signal_run SIG PID: a signal for a background flue (under a wrapper,
# flue is a child of the shell that ran it).
signal_run() {
	local f p pp
	kill "-$1" "$2" 2>/dev/null
	[ -n "${FLUE_TEST_WRAPPER:-}" ] || return 0
	for f in /proc/[0-9]*/stat; do
		read -r p _ _ pp _ <"$f" 2>/dev/null || continue
		[ "$pp" = "$2" ] && kill "-$1" "$p" 2>/dev/null
	done
	return 0
}

# interrupt PID: Ctrl-C for a background run.
interrupt() { signal_run INT "$1"; }

# wait_lines FILE N: until FILE has N lines (a run got that far).
wait_lines() {
	for _ in $(seq 600); do
		[ -f "$1" ] && [ "$(wc -l <"$1")" -ge "$2" ] && return 0
		sleep 0.05
	done
	echo "FAIL: $1 never reached $2 lines"; fail=$((fail + 1))
}

# requests: how many model requests the fake answered.
requests() {
	if [ -f "$tmp/fake.log" ]; then grep -c '"path":"/v1/' "$tmp/fake.log"; else echo 0; fi
}

