# Helpers shared by the shell tests; source it after `set -u`.  Each
# assertion adds to $pass or $fail; `finish` prints the tally and sets the
# exit status.
fail=0
pass=0

# expect NAME STATUS PATTERN -- COMMAND...: run it, check the exit status
# and that stdout+stderr match the extended regex PATTERN.
expect() {
	local name=$1 want=$2 pattern=$3
	shift 4
	local out status
	out=$("$@" 2>&1)
	status=$?
	if [ "$status" -ne "$want" ]; then
		echo "FAIL: $name: exit $status, expected $want"; echo "$out" | head -40
		fail=$((fail + 1)); return
	fi
	if ! grep -Eq -- "$pattern" <<<"$out"; then
		echo "FAIL: $name: output does not match /$pattern/"; echo "$out" | head -40
		fail=$((fail + 1)); return
	fi
	pass=$((pass + 1))
}

# check NAME COMMAND...: the command must succeed.
check() {
	local name=$1
	shift
	if "$@"; then
		pass=$((pass + 1))
	else
		echo "FAIL: $name"
		fail=$((fail + 1))
	fi
}

finish() {
	echo "$pass passed, $fail failed"
	[ "$fail" -eq 0 ]
}
