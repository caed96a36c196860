#!/usr/bin/env bash
# .ci/background.sh - a CI preparation that runs while other steps do, and a
# later step that waits for it. .ci/run starts the downloads (PyPI's venvs,
# the cross compiler, qemu and Bochs from apt) right after bootstrap, so the
# network and the package manager work while the compilers do; each step
# that needs one waits for it first, then runs as it would alone (its own
# make targets and scripts find the work done and skip it, or redo what
# failed and report it themselves).
set -euo pipefail

usage() {
    cat <<'EOF'
usage: .ci/background.sh queue NAME...
       .ci/background.sh run NAME COMMAND [ARG...]
       .ci/background.sh wait NAME [TIMEOUT_SECONDS]

queue marks each NAME as to be run (_ci/NAME.queued): a wait for a job
      still in line behind another then waits instead of failing.

run   runs COMMAND now, its output in _ci/NAME.log, then writes its exit
      status to _ci/NAME.rc and its seconds to _ci/NAME.seconds (start it
      with & to run it in the background; several in a row in one (...) &
      run one after another).
wait  waits until _ci/NAME.rc exists (at most TIMEOUT_SECONDS, 3600 by
      default), prints one line (how long it ran, how long this waited) and,
      if it failed, the last 20 lines of its log; exits with its status.
EOF
}

dir=${EMBSIMD_CI_BACKGROUND_DIR:-_ci}
case "${1:-}" in
-h | --help) usage; exit 0 ;;
queue)
    shift
    mkdir -p "$dir"
    for name in "$@"; do rm -f "$dir/$name.rc"; : >"$dir/$name.queued"; done ;;
run)
    [ $# -ge 3 ] || { usage >&2; exit 2; }
    name=$2
    shift 2
    mkdir -p "$dir"
    rm -f "$dir/$name.rc" "$dir/$name.seconds"
    t0=$(date +%s)
    rc=0
    "$@" >"$dir/$name.log" 2>&1 </dev/null || rc=$?
    echo $(($(date +%s) - t0)) >"$dir/$name.seconds"
    # The status last: wait reads it as "finished".
    echo "$rc" >"$dir/$name.rc.tmp" && mv "$dir/$name.rc.tmp" "$dir/$name.rc"
    exit "$rc" ;;
wait)
    if [ $# -lt 2 ] || [ $# -gt 3 ]; then usage >&2; exit 2; fi
    name=$2
    limit=${3:-3600}
    case "$limit" in '' | *[!0-9]*)
        echo ".ci/background.sh: TIMEOUT_SECONDS is a whole number, not '$limit'" >&2; exit 2 ;;
    esac
    t0=$(date +%s)
    [ -f "$dir/$name.queued" ] || [ -f "$dir/$name.log" ] || [ -f "$dir/$name.rc" ] || {
        echo "background $name: never started (no $dir/$name.log)"
        exit 1
    }
    while [ ! -f "$dir/$name.rc" ]; do
        if [ $(($(date +%s) - t0)) -ge "$limit" ]; then
            echo "background $name: not finished after waiting ${limit}s; last lines of $dir/$name.log:"
            tail -n 20 "$dir/$name.log" 2>/dev/null || echo "(it has not started)"
            exit 1
        fi
        sleep 2
    done
    rc=$(cat "$dir/$name.rc")
    echo "background $name: exit $rc after $(cat "$dir/$name.seconds")s," \
        "waited $(($(date +%s) - t0))s for it"
    if [ "$rc" != 0 ]; then
        echo "--- $dir/$name.log, last 20 lines ---"
        tail -n 20 "$dir/$name.log"
    fi
    exit "$rc" ;;
*)
    usage >&2
    exit 2 ;;
esac
