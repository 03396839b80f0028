#!/bin/sh
# configure names the Debian package of a missing dependency; a run on a
# terminal shows progress and a summary (off a terminal it is silent, see
# e2e_demo.sh).
. "${top_srcdir:?}/tests/lib.sh"

# --- configure without libyaml's pkg-config file: the message names the
# package. A copy of the sources, so that nothing here is reconfigured.
mkdir -p "$T/src"
(cd "$top_srcdir" && tar cf - --exclude=./tests/fuzz --exclude='*.o' --exclude='*.lo' \
    --exclude=.git --exclude=_asan . ) | (cd "$T/src" && tar xf -)
rm -f "$T/src/config.status" "$T/src/config.cache"
(cd "$T/src" && PKG_CONFIG_LIBDIR="$T/nowhere" PKG_CONFIG_PATH= ./configure -q) \
    > "$T/conf.out" 2>&1; rc=$?
check "configure fails without libyaml" test "$rc" -ne 0
check "configure names the package to install" grep -q "install libyaml-dev" "$T/conf.out"

# --- on a terminal: progress lines and a summary
D=$T/d
mkdir -p "$D"
cp "$top_srcdir/etc/demo.yaml" "$D/"
cp -r "$top_srcdir/etc/templates" "$D/"
"$ECRM" sample --out "$D/sample" --customers 20 --items 10 --orders 50
script -qec "\"$ECRM\" run \"$D/demo.yaml\"" /dev/null > "$T/tty.out" 2>&1
check "on a terminal a run shows the summary" grep -q "messages: [0-9]* planned, [0-9]* sent" "$T/tty.out"
check "on a terminal a run shows progress per stage" grep -q "ingest: shop_orders" "$T/tty.out"
finish
