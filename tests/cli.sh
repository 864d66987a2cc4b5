#!/bin/bash
# The flue command line: help, version, usage errors (exit 2), `flue
# plugins` and `flue sandbox exec` against the built plugins.
set -u
. "$(dirname "$0")/testlib.sh"
tmp=$(mktemp -d /tmp/flue-cli-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp" || exit 1

flue=$FLUE_BIN
export FLUE_PLUGIN_PATH=$FLUE_TEST_PLUGIN_DIR
fx=$FLUE_TEST_FIXTURE_DIR

expect "help" 0 'Commands:.*' -- "$flue" --help
expect "help lists plugins" 0 'plugins +list the plugins' -- "$flue" --help
expect "help documents exit codes" 0 '2 +usage error' -- "$flue" --help
expect "no arguments is a usage error" 2 'Usage: flue' -- "$flue"
expect "version" 0 '^flue [0-9]+\.[0-9]+\.[0-9]+ \(plugin ABI 1\.1\)$' -- "$flue" --version
expect "command help" 0 'Usage: flue plugins' -- "$flue" plugins --help
expect "help command" 0 'Usage: flue sandbox exec' -- "$flue" help sandbox
expect "unknown command" 2 "unknown command 'frobnicate'" -- "$flue" frobnicate
expect "did you mean" 2 "did you mean 'plugins'" -- "$flue" plugin
expect "unknown global option" 2 "unknown option '--bogus'" -- "$flue" --bogus
expect "unknown command option" 2 "unknown or incomplete option '--bogus'" -- "$flue" plugins --bogus
expect "stray argument" 2 "unexpected argument 'x'" -- "$flue" plugins x

expect "plugins lists local" 0 'local +sandbox +[0-9.]+ +ABI 1\.1 +loaded' -- "$flue" plugins
expect "plugins shows the file" 0 "file: $FLUE_TEST_PLUGIN_DIR/local.so \(FLUE_PLUGIN_PATH\)" -- "$flue" plugins
expect "plugins shows search path" 0 "1\. $FLUE_TEST_PLUGIN_DIR" -- "$flue" plugins

expect "refused: wrong major" 0 'fx-wrong-major.so was built for plugin ABI 2\.1, but this flue supports ABI 1\.1' -- "$flue" plugins --plugin-path "$fx"
expect "refused: newer minor" 0 'fx-newer-minor.so needs plugin ABI 1\.7, but this flue provides ABI 1\.1' -- "$flue" plugins --plugin-path "$fx"
expect "refused: short" 0 'fx-short.so has a 16-byte descriptor' -- "$flue" plugins --plugin-path "$fx"
expect "refused: no entry" 0 'fx-no-entry.so does not export flue_plugin_entry' -- "$flue" plugins --plugin-path "$fx"
expect "refused: create fails" 0 'fx-create-fails.so \(fx-create-fails\) failed to start: no credentials' -- "$flue" plugins --plugin-path "$fx"
expect "refused: unresolved" 0 'undefined symbol: flue_fixture_missing_symbol' -- "$flue" plugins --plugin-path "$fx"
expect "refused: duplicate" 0 "named 'fx-good', but a plugin of that name is already loaded" -- "$flue" plugins --plugin-path "$fx"
expect "requested plugin refused fails" 1 'refused' -- "$flue" plugins --plugin "$fx/fx-short.so"
expect "missing requested plugin" 1 "plugin 'nope' not found" -- "$flue" plugins --plugin nope

expect "exec echoes" 0 '^hello world$' -- "$flue" sandbox exec -- echo hello world
expect "exec exit status" 3 '' -- "$flue" sandbox exec -- 'exit 3'
expect "exec cwd option" 0 "^$tmp/sub\$" -- bash -c "mkdir -p sub && '$flue' sandbox exec --cwd sub -- pwd"
expect "exec env" 0 '^v=42$' -- "$flue" sandbox exec --env V=42 -- 'echo v=$V'
expect "exec hides secrets" 0 '^\[\]$' -- env AI_GATEWAY_API_KEY=sk-secret "$flue" sandbox exec -- 'echo "[$AI_GATEWAY_API_KEY]"'
expect "exec timeout" 124 'timed out' -- "$flue" sandbox exec --timeout 200 -- 'echo before; sleep 20'
expect "exec bad timeout" 2 '--timeout takes a whole number' -- "$flue" sandbox exec --timeout soon -- true
expect "exec bad env" 2 '--env takes NAME=VALUE' -- "$flue" sandbox exec --env nope -- true
expect "exec missing command" 2 'missing the command' -- "$flue" sandbox exec
expect "sandbox unknown subcommand" 2 "unknown subcommand 'run'" -- "$flue" sandbox run
expect "exec through a fixture plugin" 0 '^fixture ran: echo x$' -- "$flue" sandbox exec --plugin-path "$fx" --sandbox fx-good -- echo x
expect "exec with a refused sandbox" 1 'fx-wrong-major.so was built for plugin ABI 2\.1' -- "$flue" sandbox exec --plugin-path "$fx" --sandbox fx-wrong-major -- true
expect "exec bad workspace option" 1 'cwd' -- "$flue" sandbox exec --options '{"cwd": "/no/such/dir"}' -- true

finish
