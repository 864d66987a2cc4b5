#!/bin/bash
# The out-of-tree plugin test: install flue into a staging folder, copy a
# plugin source and an embedding program (nothing else) into a scratch
# folder, build both with the installed header and flue.pc only, and run
# them with the installed flue.
set -eu
staging=$(mktemp -d /tmp/flue-stage-XXXXXX)
work=$(mktemp -d /tmp/flue-oot-XXXXXX)
trap 'rm -rf "$staging" "$work"' EXIT

${MAKE:-make} -s -C "$FLUE_TEST_BUILDDIR" install DESTDIR="$staging" >"$work/install.log" 2>&1 ||
	{ cat "$work/install.log"; echo "FAIL: make install"; exit 1; }

libdir=$FLUE_TEST_LIBDIR
bindir=$FLUE_TEST_BINDIR
export PKG_CONFIG_SYSROOT_DIR=$staging
export PKG_CONFIG_LIBDIR=$staging$libdir/pkgconfig
unset PKG_CONFIG_PATH
export LD_LIBRARY_PATH=$staging$libdir

cp "$FLUE_TEST_SRCDIR/tests/outoftree/hello.c" "$FLUE_TEST_SRCDIR/tests/outoftree/embed.c" "$work/"
cd "$work"

cflags=$(pkg-config --cflags flue)
libs=$(pkg-config --libs flue)
case "$cflags $libs" in
*"$FLUE_TEST_SRCDIR"*|*"$FLUE_TEST_BUILDDIR"*)
	echo "FAIL: flue.pc points into the source or build tree: $cflags $libs"; exit 1 ;;
esac
includedir=$(pkg-config --variable=includedir flue)
case "$includedir" in "$staging"*) ;; *) includedir=$staging$includedir ;; esac
[ -f "$includedir/flue/plugin.h" ] ||
	{ echo "FAIL: plugin.h not installed"; exit 1; }
plugindir=$(pkg-config --variable=plugindir flue)
# pkgconf prefixes variables with the sysroot, pkg-config does not.
case "$plugindir" in "$staging"*) ;; *) plugindir=$staging$plugindir ;; esac
[ -f "$plugindir/local.so" ] || { echo "FAIL: local.so not installed in $plugindir"; exit 1; }

# shellcheck disable=SC2086
$CC ${FLUE_TEST_SANITIZER_FLAGS:-} -std=c99 -Wall -Wextra -Werror -shared -fPIC -fvisibility=hidden \
	$cflags -o hello.so hello.c
exported=$(nm -D --defined-only hello.so | awk '$2 == "T" {print $3}')
[ "$exported" = "flue_plugin_entry" ] || { echo "FAIL: hello.so exports: $exported"; exit 1; }

# shellcheck disable=SC2086
$CC ${FLUE_TEST_SANITIZER_FLAGS:-} -std=c99 -Wall -Wextra -Werror $cflags -o embed embed.c $libs

flue=$staging$bindir/flue
out=$(FLUE_PLUGIN_PATH=$work "$flue" plugins 2>&1) || true
grep -Eq 'hello +sandbox +1\.2\.3 +ABI 1\.1 +loaded' <<<"$out" ||
	{ echo "FAIL: flue plugins does not list hello:"; echo "$out"; exit 1; }

status=0
out=$(FLUE_PLUGIN_PATH=$work "$flue" sandbox exec --sandbox hello -- ping 2>&1) || status=$?
[ "$status" -eq 7 ] && [ "$out" = "hello from out of tree: ping" ] ||
	{ echo "FAIL: exec through hello: status $status, output: $out"; exit 1; }

out=$(./embed "$plugindir")
[ "$out" = "embedded in bash" ] || { echo "FAIL: embed printed: $out"; exit 1; }

# The installed flue scaffolds a project and renders it, with the
# installed local plugin and the installed skills.
datadir=$staging$FLUE_TEST_DATADIR
[ -f "$datadir/skills/flue-agent-author/SKILL.md" ] ||
	{ echo "FAIL: the skills were not installed under $datadir"; exit 1; }
(
	cd "$work" && "$flue" init fresh >/dev/null && cd fresh &&
	printf -- '---\nskills: [flue-agent-author]\n---\nHi\n' >.flue/agents/author.md &&
	FLUE_PLUGIN_PATH=$staging$libdir/flue/plugins FLUE_DATA_DIR=$datadir \
		"$flue" render hello >"$work/render.txt" &&
	FLUE_PLUGIN_PATH=$staging$libdir/flue/plugins FLUE_DATA_DIR=$datadir \
		"$flue" render author --system >"$work/author.txt"
) || { echo "FAIL: flue init + render with the installed flue"; exit 1; }
grep -qx '## Role: friendly' "$work/render.txt" &&
	grep -q 'flue-agent-author' "$work/author.txt" ||
	{ echo "FAIL: the installed flue rendered:"; cat "$work/render.txt"; exit 1; }

# An out-of-tree plugin project finds flue with FLUE_PLUGIN() from the
# installed flue.m4, in one line of configure.ac.
if command -v autoconf >/dev/null && command -v aclocal >/dev/null; then
	aclocaldir=$staging$FLUE_TEST_DATADIR/../aclocal
	[ -f "$aclocaldir/flue.m4" ] || { echo "FAIL: flue.m4 not installed in $aclocaldir"; exit 1; }
	mkdir "$work/m4proj" && cd "$work/m4proj"
	printf 'AC_INIT([hello-plugin], [1.0])\nFLUE_PLUGIN([0.1.0])\nAC_OUTPUT\n' >configure.ac
	aclocal -I "$aclocaldir" >/dev/null 2>&1 && autoconf >/dev/null 2>&1 ||
		{ echo "FAIL: aclocal/autoconf with flue.m4"; exit 1; }
	./configure >"$work/m4.log" 2>&1 || { cat "$work/m4.log"; echo "FAIL: configure with FLUE_PLUGIN"; exit 1; }
	grep -q "^FLUE_CFLAGS='.*-I" config.log && grep -q "^flueplugindir='.*/flue/plugins'" config.log ||
		{ echo "FAIL: FLUE_PLUGIN set:"; grep -E '^(FLUE_CFLAGS|flueplugindir)=' config.log; exit 1; }
	echo "flue.m4: FLUE_PLUGIN found flue"
	cd "$work"
fi

echo "1 passed, 0 failed"
