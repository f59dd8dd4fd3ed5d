#!/bin/sh
# Installs into a staging directory and builds an application the way a user would:
# only the installed header, the pkg-config file and the shared library.  Then runs it
# against a real dbmd, and the Python package twice: as make install put it where
# $TEST_PYTHON (Debian's interpreter) looks, and as pip builds it from the checkout into
# a venv.  Usage: install_check.sh SRCDIR BUILDDIR DBMD [CFLAGS...]
# $TEST_PRELOAD is the sanitizer runtime an extension built with ASan needs preloaded.
set -eu
src=$1 build=$2 dbmd=$3
shift 3
py=${TEST_PYTHON:-/usr/bin/python3}
tmp=$(mktemp -d /tmp/dbmd-install.XXXXXX)
pid=
cleanup() {
	[ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

make -s -C "$src" install B="$build" DESTDIR="$tmp/root" PREFIX=/usr/local \
	SYSCONFDIR=/etc >"$tmp/install.log" 2>&1 || { cat "$tmp/install.log"; exit 1; }
pc="$tmp/root/usr/local/lib/pkgconfig"
test -f "$pc/libdbmclient.pc"
flags=$(PKG_CONFIG_LIBDIR="$pc" PKG_CONFIG_SYSROOT_DIR="$tmp/root" \
	pkg-config --cflags --libs libdbmclient)
# Only what was installed: the example is copied away from the source tree.
cp "$src/client/example.c" "$tmp/app.c"
cc -std=c11 -Wall -Werror "$@" -o "$tmp/app" "$tmp/app.c" $flags
readelf -d "$tmp/app" | grep -q 'NEEDED.*libdbmclient\.so\.1'

# Both libraries define dbm_* and nothing else, so an application's own proto_* or
# dbmc_* names link beside the static one.
lib="$tmp/root/usr/local/lib"
for l in "$lib/libdbmclient.a" "$lib/libdbmclient.so.1"; do
	bad=$(nm -g --defined-only "$l" | awk 'NF == 3 && $3 !~ /^dbm_/ { print $3 }')
	[ -z "$bad" ] || { echo "$l defines more than dbm_*:" $bad; exit 1; }
done
cat >"$tmp/clash.c" <<'EOF'
int proto_encode_exec(void);
int dbmc_result_new(void);
int proto_encode_exec(void) { return 1; }
int dbmc_result_new(void) { return 2; }
EOF
cc -std=c11 -Wall -Werror "$@" -o "$tmp/app-static" "$tmp/app.c" "$tmp/clash.c" \
	-I"$tmp/root/usr/local/include" "$lib/libdbmclient.a"

: >"$tmp/empty.yaml"
"$dbmd" -s "$tmp/dbmd.sock" -c "$tmp/empty.yaml" --set daemon.state_dir="$tmp/state" \
	2>"$tmp/dbmd.log" &
pid=$!
i=0
while [ ! -S "$tmp/dbmd.sock" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
LD_LIBRARY_PATH="$tmp/root/usr/local/lib" DBMD_SOCKET="$tmp/dbmd.sock" "$tmp/app"
DBMD_SOCKET="$tmp/dbmd.sock" "$tmp/app-static" >/dev/null

# What the Python package must do wherever it was installed: load its compiled module
# from there and nowhere else, and run a statement through dbmd.
cat >"$tmp/check.py" <<'EOF'
import importlib.machinery, os, sys
import dbmclient
where, sock = sys.argv[1:]
ext = dbmclient._dbmclient.__file__
assert ext.startswith(os.path.join(where, "dbmclient", "_dbmclient.")), ext
assert ext.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES)), ext
conn = dbmclient.connect("development", socket=sock)
cur = conn.cursor()
cur.execute("SELECT %s + 1", (41,))
row = cur.fetchone()
conn.close()
assert row == (42,), row
print(dbmclient.apilevel)
EOF

# make install put the package in a directory on the interpreter's own sys.path (taken
# off DESTDIR), and it works from there.
pydir=
for d in $(cd / && env -u PYTHONPATH "$py" -c 'import sys; print(*filter(None, sys.path))')
do
	[ -f "$tmp/root$d/dbmclient/__init__.py" ] && pydir=$d
done
[ -n "$pydir" ] || { echo "dbmclient is not installed on $py's sys.path:" \
	$(cd "$tmp/root" && find . -name 'dbmclient*'); exit 1; }
preload=
[ -z "${TEST_PRELOAD:-}" ] || preload="LD_PRELOAD=$TEST_PRELOAD ASAN_OPTIONS=detect_leaks=0"
out=$(cd "$tmp" && env $preload PYTHONPATH="$tmp/root$pydir" PYTHONDONTWRITEBYTECODE=1 \
	"$py" "$tmp/check.py" "$tmp/root$pydir" "$tmp/dbmd.sock" 2>&1) ||
	{ echo "dbmclient installed in $pydir failed:"; echo "$out"; exit 1; }
[ "$out" = 2.0 ] || { echo "dbmclient installed in $pydir: apilevel $out"; exit 1; }

# pip from the checkout, without an index, into a venv that sees Debian's setuptools:
# the extension is built from the sources alone, at the Makefile's version, and the
# checkout is left as it was.
find "$src/client/python" | sort >"$tmp/tree.before"
"$py" -m venv --system-site-packages "$tmp/venv"
"$tmp/venv/bin/pip" install --no-index --no-build-isolation "$src/client/python" \
	>"$tmp/pip.log" 2>&1 || { cat "$tmp/pip.log"; exit 1; }
find "$src/client/python" | sort >"$tmp/tree.after"
diff "$tmp/tree.before" "$tmp/tree.after" || { echo "pip left the files above in $src"; exit 1; }
vpy="$tmp/venv/bin/python"
venvdir=$(env -u PYTHONPATH "$vpy" -c 'import sysconfig; print(sysconfig.get_path("platlib"))')
out=$(cd "$tmp" && env -u PYTHONPATH PYTHONDONTWRITEBYTECODE=1 \
	"$vpy" "$tmp/check.py" "$venvdir" "$tmp/dbmd.sock" 2>&1) ||
	{ echo "dbmclient installed by pip failed:"; echo "$out"; exit 1; }
version=$("$vpy" -c 'import importlib.metadata as m; print(m.version("dbmclient"))')
[ "$version" = "$(sed -n 's/^VERSION := //p' "$src/Makefile")" ] ||
	{ echo "pip installed dbmclient $version, not the Makefile's VERSION"; exit 1; }

kill -TERM "$pid"
wait "$pid"
pid=
echo "install check passed"
