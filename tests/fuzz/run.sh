#!/bin/sh
# Build and run the libFuzzer targets of issue 8 (see doc/RELIABILITY.md).
#
#   sh tests/fuzz/run.sh [SECONDS_PER_TARGET=60] [TARGET...]
#   FUZZ_RUNS=10000000 sh tests/fuzz/run.sh 14400     # the long local run
#
# TARGET is a name of tests/fuzz/fuzz_<name>.c (default: all). Each target
# is built with clang (libFuzzer + ASan + UBSan) into a temporary build
# dir, first replays tests/fuzz/regressions/<name>/ (if any) with -runs=0,
# then fuzzes for SECONDS_PER_TARGET seconds (or FUZZ_RUNS executions,
# whichever comes first) starting from a scratch copy of
# tests/fuzz/corpus/<name>/ (the repository is never written). Prints
# "fuzz <name>: N execs in S s, N crashes" per target; exits 1 when any
# target crashed (the crash input's path is printed and kept), 2 on a build
# or usage error.
#
# Environment: CC (default clang), FUZZ_WORKDIR (default: a new mktemp -d
# dir, removed at the end unless something crashed), FUZZ_TIMEOUT (seconds
# one input may take before it counts as a hang, default 5; a long run on a
# busy machine wants more: the sanitizer's allocator can be held up that
# long in the kernel), FUZZ_RUNS (stop a target after this many
# executions; default: no limit but the time). Targets run one after
# another, each on one core.
#
# Debian 12 needs: apt-get install -y clang libclang-rt-14-dev \
#   libyaml-dev libcsv-dev zlib1g-dev
set -u

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
secs=${1:-60}
case $secs in
'' | *[!0-9]*)
    echo "usage: $0 [SECONDS_PER_TARGET] [TARGET...]" >&2
    exit 2
    ;;
esac
[ $# -gt 0 ] && shift
CC=${CC:-clang}
timeout=${FUZZ_TIMEOUT:-5}
runs=${FUZZ_RUNS:--1}

all="weblog csv conf segment template mime gsm7 jsonl checkpoint replies"
targets=${*:-$all}

# Sources each target links (relative to the top directory) and libraries.
srcs_weblog="plugins/source_weblog/logformat.c"
libs_weblog=""
srcs_csv="plugins/common/csvsource.c plugins/common/filepos.c plugins/common/utf8.c tests/fuzz/fakehost.c"
libs_csv="-lcsv -lz"
srcs_conf="core/diag.c core/conf.c core/schema.c core/buf.c core/util.c core/segment_lex.c core/segment_parse.c"
libs_conf="-lyaml"
srcs_segment="core/diag.c core/segment_lex.c core/conf.c core/buf.c core/util.c"
libs_segment="-lyaml"
srcs_template="core/diag.c core/template.c core/conf.c core/buf.c core/util.c"
libs_template="-lyaml"
# Smaller render limits (see core/template.h) keep the pace of long runs.
cflags_template="-DECRM_TPL_MAX_STEPS=8192 -DECRM_TPL_MAX_OUTPUT=65536"
srcs_mime="plugins/common/mime.c plugins/common/sha256.c plugins/common/strbuf.c"
libs_mime=""
srcs_gsm7="plugins/channel_sms_http/gsm7.c"
libs_gsm7=""
srcs_jsonl="plugins/common/jsonl.c plugins/common/strbuf.c plugins/common/utf8.c"
libs_jsonl=""
srcs_checkpoint="plugins/common/filepos.c"
libs_checkpoint=""
srcs_replies="plugins/source_sms_replies/sms_replies.c plugins/common/recsrc.c
 plugins/common/csvsource.c plugins/common/linesrc.c plugins/common/jsonl.c
 plugins/common/filepos.c plugins/common/phone.c tests/fuzz/fakehost.c
 plugins/common/strbuf.c plugins/common/utf8.c
 core/diag.c core/conf.c core/schema.c core/buf.c core/util.c
 core/segment_lex.c core/segment_parse.c"
libs_replies="-lcsv -lz -lyaml"

CFLAGS="-std=c11 -g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -D_GNU_SOURCE"
INC="-I$top/include -I$top/core -I$top/plugins/common -I$top/plugins/source_weblog -I$top/plugins/channel_sms_http"

if [ -n "${FUZZ_WORKDIR:-}" ]; then
    work=$FUZZ_WORKDIR
    mkdir -p "$work" || exit 2
    keep=1
else
    work=$(mktemp -d "${TMPDIR:-/tmp}/ecrm-fuzz.XXXXXX") || exit 2
    keep=0
fi
# Targets that need files (csv) create them under TMPDIR: keep it here.
mkdir -p "$work/tmp"
export TMPDIR="$work/tmp"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

status=0
for t in $targets; do
    eval "srcs=\${srcs_$t-}"
    eval "libs=\${libs_$t-}"
    eval "tflags=\${cflags_$t-}"
    if [ ! -f "$here/fuzz_$t.c" ] || [ -z "$srcs" ]; then
        echo "fuzz $t: unknown target (known: $all)" >&2
        status=2
        continue
    fi
    bin="$work/fuzz_$t"
    files="$here/fuzz_$t.c"
    for s in $srcs; do files="$files $top/$s"; done
    # shellcheck disable=SC2086
    if ! $CC $CFLAGS $tflags $INC -o "$bin" $files $libs -lm >"$work/$t.build.log" 2>&1; then
        echo "fuzz $t: BUILD FAILED (see below)"
        cat "$work/$t.build.log"
        status=2
        continue
    fi
    art="$work/artifacts/$t/"
    mkdir -p "$art" "$work/corpus/$t"
    crashes=0
    # 1. Regressions: every input that once crashed must now pass.
    if [ -d "$here/regressions/$t" ] &&
        [ -n "$(ls -A "$here/regressions/$t" 2>/dev/null)" ]; then
        if ! "$bin" -runs=0 -timeout="$timeout" -rss_limit_mb=2048 \
            -artifact_prefix="$art" "$here/regressions/$t" \
            >"$work/$t.regress.log" 2>&1; then
            crashes=$((crashes + 1))
            echo "fuzz $t: REGRESSION failed, log $work/$t.regress.log"
            tail -n 40 "$work/$t.regress.log"
        fi
    fi
    # 2. Fuzzing from a scratch copy of the seed corpus.
    if [ -d "$here/corpus/$t" ]; then
        cp -R "$here/corpus/$t/." "$work/corpus/$t/"
    fi
    t0=$(date +%s)
    "$bin" -max_total_time="$secs" -runs="$runs" -timeout="$timeout" \
        -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$art" \
        "$work/corpus/$t" >"$work/$t.log" 2>&1
    rc=$?
    took=$(($(date +%s) - t0))
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/$t.log" | tail -n 1)
    for f in "$art"crash-* "$art"leak-* "$art"timeout-* "$art"oom-*; do
        [ -e "$f" ] || continue
        crashes=$((crashes + 1))
        echo "fuzz $t: crash input $f"
    done
    if [ $rc -ne 0 ] && [ "$crashes" -eq 0 ]; then
        crashes=1
        echo "fuzz $t: libFuzzer exited $rc without an artifact"
    fi
    echo "fuzz $t: ${execs:-0} execs in $took s, $crashes crashes"
    if [ "$crashes" -ne 0 ]; then
        grep -E '^(==[0-9]+==ERROR|SUMMARY|.*runtime error)' "$work/$t.log" | head -n 5
        echo "fuzz $t: log $work/$t.log"
        [ $status -eq 0 ] && status=1
        keep=1
    fi
done

if [ $keep -eq 0 ]; then
    rm -rf "$work"
else
    echo "fuzz: work dir kept: $work"
fi
exit $status
