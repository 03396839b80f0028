#!/bin/sh
# The generated ecrm-pipeline(5) documents every option of every bundled
# plugin and every campaign option, and all man pages render cleanly.
. "${top_srcdir:?}/tests/lib.sh"
man5="$top_builddir/doc/ecrm-pipeline.5"
check "ecrm-pipeline.5 was generated" test -s "$man5"
"$ECRM" plugins --json > "$T/plugins.json"
for spec in $(json_get "$T/plugins.json" '" ".join(p["kind"] + ":" + p["name"] for p in j if "error" not in p)'); do
    check "man page has section for $spec" grep -q "^\.SS \"${spec%%:*} ${spec#*:}\"" "$man5"
    "$ECRM" plugins --describe "$spec" --json > "$T/d.json"
    for opt in $(json_get "$T/d.json" '" ".join(o["name"] for o in j["options"])'); do
        # the option must appear inside its plugin's section
        awk -v sec=".SS \"${spec%%:*} ${spec#*:}\"" -v opt=".B $opt" '
            $0 == sec { in_sec = 1; next }
            /^\.SS / { in_sec = 0 }
            in_sec && $0 == opt { found = 1 }
            END { exit !found }' "$man5" && ok || bad "$spec option $opt missing from ecrm-pipeline(5)"
    done
done
for opt in personalizer channel template subject recurrence items \
    max_per_day max_per_week max_per_month quiet_hours default_timezone; do
    grep -q "^\.B $opt\$" "$man5" && ok || bad "campaign option $opt missing"
done
# every sub-command of `ecrm --help` is documented in ecrm(1)
for cmd in $("$ECRM" --help | awk '/^commands:/ { on = 1; next } on && NF { print $1 }'); do
    grep -q "^\.B[I]* \"ecrm $cmd" "$top_srcdir/doc/ecrm.1" && ok || bad "ecrm(1) lacks the $cmd command"
done
for page in "$top_srcdir/doc/ecrm.1" "$man5" "$top_srcdir/doc/ecrm-plugin.3"; do
    out=$(LC_ALL=C.UTF-8 groff -ww -z -man -Tutf8 "$page" 2>&1)
    check "$(basename "$page") renders without warnings" test -z "$out"
    [ -z "$out" ] || echo "$out" >&2
done
finish
