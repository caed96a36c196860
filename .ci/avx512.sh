#!/usr/bin/env bash
# .ci/avx512.sh - runs embsimd's AVX-512 test selection with
# EMBSIMD_IMPL=avx512: natively on a CPU with AVX-512, otherwise once inside
# Bochs, which emulates a Skylake-X (AVX-512 F, CD, BW, DQ, VL), so every
# AVX-512 kernel runs on every CI machine.
set -euo pipefail

usage() {
    cat <<'EOF'
usage: .ci/avx512.sh [--emulate] [--builddir=DIR] [--no-install | --install-only]
                     [--timeout=SECONDS] [--keep]

Runs embsimd's AVX-512 test selection, each program with EMBSIMD_IMPL=avx512:
  verify/test_parity    every kernel of the library under avx512 against
                        scalar's, bit for bit, on inputs sized for an emulator
  verify/test_dispatch  the implementation table, EMBSIMD_IMPL and which
                        implementation's code runs each kernel on this CPU
It prints each program's Check summary and the kernels compared by name,
and fails unless every program ran and passed.

On a CPU with AVX-512 F, BW, VL and DQ it runs them natively. Otherwise (or
with --emulate) it installs Bochs and its helpers with apt-get, builds the
programs statically in _avx512/ (configured --disable-shared, linked
-all-static), packs them with a static busybox into an initramfs, puts that
and Debian's cloud kernel on a GRUB ISO, boots Bochs once (cpu model
corei7_skylake_x), runs them inside and reads their results from the serial
log. Boot takes about 70 s on a Zen 1; emulated AVX-512 code runs at about 20 M
instructions/s, scalar code at about 300 M/s. Kernels whose AVX-512 entry
needs a feature the emulated CPU lacks (VNNI, BF16, VBMI, FP16: none today)
run a lower implementation's code there; the output names them.

  --emulate          use Bochs even on a CPU with AVX-512 (to test this path)
  --builddir=DIR     natively, run the programs of this configured build tree
                     (make check-avx512 passes its own) instead of building
                     them in _avx512/; ignored when emulating
  --no-install       skip apt-get (the packages are already there)
  --install-only     only install what this CPU's run needs (Bochs and its
                     helpers where it will emulate, nothing natively), then
                     exit: .ci/run does this in the background
  --timeout=SECONDS  limit on the whole Bochs run (default 900); past it
                     Bochs is stopped and the run fails
  --keep             keep _avx512/ (build, image, serial.txt, bochs.log) after
                     a run that passed; a failed run always keeps it

Needs a Debian 12 amd64 machine, the build packages (./bootstrap installs
them; Check's libcheck.a is part of Debian's check), root or sudo for
apt-get, and a source tree with ./configure (./bootstrap or autoreconf -fi).
EOF
}

emulate=no
install=yes
builddir=""
timeout_s=900
keep=no
for arg in "$@"; do
    case "$arg" in
    -h | --help) usage; exit 0 ;;
    --emulate) emulate=yes ;;
    --no-install) install=no ;;
    --install-only) install=only ;;
    --builddir=*) builddir=${arg#--builddir=} ;;
    --timeout=*)
        timeout_s=${arg#--timeout=}
        [[ "$timeout_s" =~ ^[1-9][0-9]*$ ]] || {
            echo ".ci/avx512.sh: --timeout wants a whole number of seconds, not '$timeout_s'" >&2
            exit 2
        } ;;
    --keep) keep=yes ;;
    *) echo ".ci/avx512.sh: unknown argument '$arg'" >&2; usage >&2; exit 2 ;;
    esac
done

srcdir=$(cd "$(dirname "$0")/.." && pwd)
if [ -n "$builddir" ]; then
    builddir=$(cd "$builddir" 2>/dev/null && pwd) || {
        echo ".ci/avx512.sh: --builddir: no such directory" >&2
        exit 2
    }
fi
work=${builddir:-$srcdir}/_avx512
export DEBIAN_FRONTEND=noninteractive
start=$(date +%s)
step() { printf '\n=== avx512: %s (%ds) ===\n' "$*" $(($(date +%s) - start)); }
die() { echo ".ci/avx512.sh: $*" >&2; exit 1; }

# The selection, one program a line: its name, then the environment it
# runs with beyond EMBSIMD_IMPL=avx512 (verify/avx512.mk's AVX512_SELECTION
# names the same programs, for make check-avx512 to build).
#   test_parity    every kernel of the library under avx512 against scalar's
#   test_dispatch  the implementation table, EMBSIMD_IMPL, which code runs
#                  each kernel on this CPU
# The other suites' per-implementation cases (test_kernels, test_layer,
# test_bag, test_scan, test_threads) take 1.6-17 s each natively, hours
# under Bochs, and Check selects no less than a case (CK_RUN_CASE): the
# parity suite is their emulator-sized stand-in. test_verify's "lemma
# kernels" case would add the verifier's AVX-512 sweep (used only on AVX-512
# CPUs, where make check runs it) for 15 s under Bochs and a build of the
# verifier; it is left out.
selection_lines='test_parity
test_dispatch'
selection=$(printf '%s\n' "$selection_lines" | cut -d' ' -f1 | paste -sd' ')

# --- the runner: the same script natively and inside the guest --------------
# It prints the markers report() reads: BEGIN, the program's output, END
# with its exit status, each with /proc/uptime (in the guest: emulated time).
write_runner() {
    {
        cat <<'EOF'
#!/bin/sh
# run-tests DIR: embsimd's AVX-512 selection from DIR, EMBSIMD_IMPL=avx512.
dir=$1
export EMBSIMD_IMPL=avx512
# Check's per-test timeouts count the guest's emulated seconds: room for
# the slow ones (the whole run has its own limit outside).
export CK_TIMEOUT_MULTIPLIER=${CK_TIMEOUT_MULTIPLIER:-4}
up() { cut -d' ' -f1 /proc/uptime; }
status=0
run() {
    t=$1
    shift
    echo "AVX512-BEGIN $t uptime=$(up)"
    env "$@" "$dir/$t" 2>&1
    rc=$?
    echo "AVX512-END $t rc=$rc uptime=$(up)"
    [ "$rc" = 0 ] || status=1
}
EOF
        printf '%s\n' "$selection_lines" | while read -r name env; do
            if [ -n "$env" ]; then printf "run %s '%s'\n" "$name" "$env"; else printf 'run %s\n' "$name"; fi
        done
        # shellcheck disable=SC2016 # for the runner, not here
        echo 'exit $status'
    } >"$1"
    chmod 755 "$1"
}

# --- reading the results -------------------------------------------------------
# report LOG [MARKERS TSC_MHZ]: every program of the selection began, ended
# with status 0 and printed Check's "100%" summary; the parity suite
# accounted for every kernel. Under Bochs, MARKERS holds the markers with
# the wall-clock seconds at which they arrived, the uptimes of LOG are
# emulated time, and TSC_MHZ is the guest kernel's TSC rate: Bochs advances
# the TSC by one each instruction, so emulated seconds times that rate
# count the instructions run (to the uptime's 10 ms).
report() {
    local log=$1 markers=${2:-} mhz=${3:-} ok=yes t
    for t in $selection; do
        local line wall=""
        if [ -n "$markers" ]; then
            wall=$(awk -v t="$t" '$2 == "AVX512-BEGIN" && $3 == t { b = $1 }
                $2 == "AVX512-END" && $3 == t { print $1 - b; exit }' "$markers")
        fi
        line=$(awk -v t="$t" -v wall="$wall" -v mhz="$mhz" '
            $1 == "AVX512-BEGIN" && $2 == t { begun = 1; split($3, u, "="); t0 = u[2]; next }
            begun && $1 == "AVX512-END" && $2 == t {
                split($3, r, "="); split($4, u, "="); rc = r[2]; t1 = u[2]; ended = 1; exit }
            begun && /^[0-9]+%: Checks: / { summary = $0 }
            END {
                if (!begun) { print "FAIL never started"; exit }
                if (!ended) { print "FAIL started but never finished"; exit }
                if (wall != "" && mhz > 0)
                    took = sprintf("%d s under Bochs, %.2f s emulated: about %.1e instructions",
                                   wall, t1 - t0, (t1 - t0) * mhz * 1e6)
                else if (wall != "")
                    took = sprintf("%d s under Bochs, %.2f s emulated", wall, t1 - t0)
                else
                    took = sprintf("%.2f s", t1 - t0)
                pass = rc == 0 && summary ~ /^100%: Checks: [1-9][0-9]*, Failures: 0, Errors: 0$/
                printf "%s %s (exit %s, %s)\n", pass ? "PASS" : "FAIL",
                    summary == "" ? "no Check summary" : summary, rc, took
            }' "$log")
        printf '%-14s %s\n' "$t:" "${line#* }"
        case "$line" in PASS*) ;; *) ok=no ;; esac
    done

    # The parity suite's account of the kernels: the listing of which code
    # runs each, then one line per kernel, compared or not.
    local total compared skipped
    total=$(sed -n 's/^avx512: [0-9]* of \([0-9]*\) kernels run its own code.*/\1/p' "$log" | head -n 1)
    compared=$(sed -n 's/^parity: \(.*\) under avx512: [0-9]* calls, .*/\1/p' "$log")
    skipped=$(sed -n 's/^parity: \(.*\) under avx512: not compared: \([a-z0-9]*\).s code runs it.*/\1: runs the \2 code/p' "$log")
    local nc ns
    nc=$(printf '%s' "$compared" | grep -c . || true)
    ns=$(printf '%s' "$skipped" | grep -c . || true)
    echo
    echo "kernels run as AVX-512 code and identical to scalar's: $nc of ${total:-?}"
    printf '%s\n' "$compared" | paste -sd' ' | fold -s -w 100 | sed 's/ *$//; s/^/  /'
    if [ "$ns" -gt 0 ]; then
        echo "kernels not run as AVX-512 code here: $ns (emb_kernel_impl names another implementation's"
        echo "code for them on this CPU: their AVX-512 entry needs a feature it lacks, such as VNNI, BF16,"
        echo "VBMI or FP16 under Bochs' Skylake-X, or EMBSIMD_KERNEL_IMPL moved them):"
        printf '%s\n' "$skipped" | sed 's/^/  /'
    else
        echo "kernels not run as AVX-512 code here: none"
    fi
    if [ -z "$total" ] || [ $((nc + ns)) -ne "$total" ]; then
        echo "the parity suite accounted for $((nc + ns)) kernels of ${total:-an unknown number}" >&2
        ok=no
    fi
    [ "$ok" = yes ]
}

# An ELF program with no interpreter (no dynamic loader) is static.
is_static() {
    LC_ALL=C readelf -lW "$1" 2>/dev/null | grep -q '^ *LOAD' &&
        ! LC_ALL=C readelf -lW "$1" | grep -q 'INTERP'
}

has_avx512() {
    local f
    for f in avx512f avx512bw avx512vl avx512dq; do
        grep -qw "$f" /proc/cpuinfo || return 1
    done
}

# --- a static build of the selection ----------------------------------------------
# Configured out of tree in _avx512/build. configure refuses a source tree
# configured in place: then it builds from a copy of the distribution that
# the tree's own Makefile makes (make distdir).
build_static() {
    local src=$srcdir
    [ -x "$srcdir/configure" ] || die "./configure is missing; run ./bootstrap (or autoreconf -fi) first"
    rm -rf "$work/build" "$work/src"
    mkdir -p "$work/build"
    if [ -f "$srcdir/config.status" ]; then
        echo "the source tree is configured in place: building from its distribution (make distdir)"
        make -s -C "$srcdir" distdir distdir="$work/src" >"$work/distdir.log" 2>&1 || {
            cat "$work/distdir.log"
            die "make distdir failed in $srcdir"
        }
        src=$work/src
    fi
    cd "$work/build"
    "$src/configure" --enable-werror --disable-shared >configure.out 2>&1 || {
        cat configure.out
        die "configure failed; see $work/build/config.log"
    }
    sed -n '/^  embsimd /,/implementations/p' configure.out
    grep -q 'avx512=yes' configure.out || die "configure did not enable AVX-512; see $work/build/config.log"
    grep -q 'Check: *yes' configure.out || die "configure did not find Check; install check and libxxhash-dev"
    local programs="" t
    for t in $selection; do programs="$programs verify/$t"; done
    # -all-static: libtool links every library statically (libcheck.a,
    # libsubunit.a, glibc), so the programs run from a bare initramfs.
    # shellcheck disable=SC2086
    make -j2 LDFLAGS=-all-static $programs >build.out 2>&1 || {
        tail -n 60 build.out
        die "building$programs failed"
    }
    for t in $selection; do
        is_static "verify/$t" || die "verify/$t is not a statically linked program"
    done
    cd "$srcdir"
}

# ================================================================================
if [ "$emulate" = no ] && has_avx512; then
    [ "$install" != only ] || { echo "This CPU has AVX-512: nothing to install"; exit 0; }
    echo "This CPU has AVX-512 F, BW, VL and DQ: running the AVX-512 selection natively"
    echo "($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'))."
    if [ -n "$builddir" ]; then
        dir=$builddir/verify
        for t in $selection; do
            [ -x "$dir/$t" ] || die "$dir/$t is missing: run make check-avx512 (it builds it) or make check"
        done
    else
        step "build the selection in _avx512/build"
        build_static
        dir=$work/build/verify
    fi
    mkdir -p "$work"
    write_runner "$work/run-tests"
    step "run it natively, EMBSIMD_IMPL=avx512"
    status=0
    "$work/run-tests" "$dir" >"$work/native.log" 2>&1 || status=$?
    if ! report "$work/native.log" || [ "$status" != 0 ]; then
        echo; echo "--- $work/native.log ---"; cat "$work/native.log"
        die "the AVX-512 selection failed natively (log: $work/native.log)"
    fi
    [ "$keep" = yes ] || rm -rf "$work"
    step "done: the AVX-512 selection passed natively"
    exit 0
fi

if [ "$emulate" = yes ]; then
    echo "--emulate: running the AVX-512 selection under Bochs, whatever this CPU has."
else
    echo "This CPU lacks AVX-512 F, BW, VL or DQ: running the AVX-512 selection under Bochs."
fi

# Debian's cloud kernel, not linux-image-amd64: its image is LZ4-compressed,
# the other's xz, which the emulated CPU took 154 s to unpack on a Zen 1
# (4 s for LZ4's; the boot to /init went from 228 s to 73).
packages="bochs bochsbios bochs-term linux-image-cloud-amd64 busybox-static cpio grub-pc-bin grub-common xorriso mtools"
missing=""
for p in $packages; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
done
if [ -n "$missing" ]; then
    [ "$install" = yes ] || die "--no-install, but these packages are missing:$missing"
    step "install:$missing"
    SUDO=""
    [ "$(id -u)" = 0 ] || SUDO=sudo
    $SUDO apt-get update -qq
    # shellcheck disable=SC2086
    $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
else
    echo "packages present: $packages"
fi
[ "$install" != only ] || exit 0

step "static build of the selection in _avx512/build"
build_static

step "initramfs and GRUB ISO"
kernel=$(printf '%s\n' /boot/vmlinuz-*-cloud-amd64 | sort -V | tail -n 1)
[ -f "$kernel" ] || kernel=""
[ -n "$kernel" ] || die "no /boot/vmlinuz-*-cloud-amd64: install linux-image-cloud-amd64"
busybox=$(command -v busybox || true)
if [ -z "$busybox" ] || ! is_static "$busybox"; then
    die "no static busybox: install busybox-static"
fi
rm -rf "$work/image" "$work/iso" "$work/run"
mkdir -p "$work/image"/{bin,dev,proc,sys,tmp,tests} "$work/iso/boot/grub" "$work/run"
cp "$busybox" "$work/image/bin/busybox"
# Without their debug information: 2 MiB a program instead of 11, which the
# emulated kernel would unpack at boot.
for t in $selection; do strip -o "$work/image/tests/$t" "$work/build/verify/$t"; done
write_runner "$work/image/bin/run-tests"
cat >"$work/image/init" <<'EOF'
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev 2>/dev/null
mount -t tmpfs tmp /tmp
echo "AVX512-GUEST uptime=$(cut -d' ' -f1 /proc/uptime)"
echo "AVX512-FLAGS $(grep -o 'avx512[a-z0-9_]*' /proc/cpuinfo | sort -u | tr '\n' ' ')"
echo "AVX512-CPU $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-)"
echo "AVX512-TSC $(dmesg | sed -n 's/.*tsc: Detected \([0-9.]*\) MHz.*/\1/p' | head -n 1)"
/bin/run-tests /tests
echo "AVX512-DONE rc=$? uptime=$(cut -d' ' -f1 /proc/uptime)"
poweroff -f
EOF
chmod 755 "$work/image/init"
(cd "$work/image" && find . | cpio -o -H newc --quiet | gzip -1 >"$work/iso/boot/initrd.gz")
cp "$kernel" "$work/iso/boot/vmlinuz"
# clearcpuid=pku,xsaves,xsavec: with them, the XSAVE sizes Bochs reports make
# the kernel turn AVX-512 off. panic=-1 reboots on a panic: the second boot
# is seen below, and the run stopped.
cat >"$work/iso/boot/grub/grub.cfg" <<'EOF'
serial --unit=0 --speed=115200
terminal_input serial console
terminal_output serial console
set timeout=0
set default=0
menuentry "embsimd avx512" {
  linux /boot/vmlinuz console=ttyS0,115200 nokaslr mitigations=off tsc=reliable no_timer_check panic=-1 clearcpuid=pku,xsaves,xsavec quiet
  initrd /boot/initrd.gz
}
EOF
grub-mkrescue -o "$work/run/avx512.iso" "$work/iso" >"$work/run/grub-mkrescue.log" 2>&1 || {
    cat "$work/run/grub-mkrescue.log"
    die "grub-mkrescue failed"
}
echo "kernel $(basename "$kernel"); initramfs $(du -k "$work/iso/boot/initrd.gz" | cut -f1) KiB;" \
    "ISO $(du -k "$work/run/avx512.iso" | cut -f1) KiB"

# Bochs' emulated instructions a second: what its emulated clocks count.
BOCHS_IPS=50000000
# Only corei7_skylake_x boots under Bochs 2.7 (tigerlake and icelake hang
# early in the kernel). 128 MiB: the selection needs a few, and each 128 MiB
# more cost the kernel 2 s of boot. sound: Bochs aborts without a driver.
# The term display needs a tty: script gives it one.
cat >"$work/run/bochsrc" <<EOF
cpu: model=corei7_skylake_x, count=1, ips=$BOCHS_IPS, reset_on_triple_fault=0
memory: guest=128, host=128
romimage: file=/usr/share/bochs/BIOS-bochs-latest
vgaromimage: file=/usr/share/bochs/VGABIOS-lgpl-latest
ata0-master: type=cdrom, path=avx512.iso, status=inserted
boot: cdrom
com1: enabled=1, mode=file, dev=serial.txt
display_library: term
clock: sync=none, time0=local
log: bochs.log
panic: action=fatal
error: action=report
info: action=report
debug: action=ignore
mouse: enabled=0
speaker: enabled=0
sound: driver=dummy
EOF
echo c >"$work/run/dbg.rc"

step "boot Bochs once and run the selection inside (limit ${timeout_s}s)"
cd "$work/run"
: >serial.txt
boot_start=$(date +%s)
# Bochs runs in script's pty, in a session of its own: the pid it writes is
# how it is stopped on a timeout.
TERM=vt100 timeout --kill-after=10 "$timeout_s" \
    script -qfec 'echo $$ >bochs.pid; exec bochs -q -f bochsrc -rc dbg.rc' /dev/null \
    </dev/null >bochs-term.out 2>&1 &
runner=$!
seen=0
# Each marker of the serial log as it arrives, with the seconds since Bochs
# started (markers: what the results below read the wall times from).
: >markers
progress() {
    local lines
    lines=$(wc -l <serial.txt)
    [ "$lines" -gt "$seen" ] || return 0
    sed -n "$((seen + 1)),${lines}p" serial.txt | tr -d '\r' | while IFS= read -r l; do
        local at=$(($(date +%s) - boot_start))
        case "$l" in
        AVX512-GUEST*)
            echo "$at $l" >>markers
            printf '  (%ds) the guest reached /init (%s emulated)\n' "$at" "${l#*uptime=}" ;;
        AVX512-FLAGS*) printf '  guest CPU flags: %s\n' "${l#AVX512-FLAGS }" ;;
        AVX512-BEGIN* | AVX512-END* | AVX512-DONE*)
            echo "$at $l" >>markers
            printf '  (%ds) %s\n' "$at" "$l" ;;
        [0-9]*%:\ Checks:*) printf '  (%ds) %s\n' "$at" "$l" ;;
        esac
    done
    seen=$lines
}
stop_bochs() {
    if [ -s bochs.pid ] && kill -0 "$(cat bochs.pid)" 2>/dev/null; then
        kill "$(cat bochs.pid)" 2>/dev/null || true
    fi
}
# Stopped early: when the guest panics or boots a second time, and when it
# is done but Bochs has not exited 30 s later.
aborted=""
while kill -0 "$runner" 2>/dev/null; do
    progress
    if grep -q 'Kernel panic' serial.txt; then
        aborted="the guest kernel panicked"
    elif [ "$(grep -c "Booting .embsimd avx512" serial.txt)" -gt 1 ]; then
        aborted="the guest rebooted"
    fi
    done_at=$(awk '$2 == "AVX512-DONE" { print $1; exit }' markers)
    if [ -n "$aborted" ] ||
        { [ -n "$done_at" ] && [ $(($(date +%s) - boot_start - done_at)) -gt 30 ]; }; then
        stop_bochs
        break
    fi
    sleep 1
done
bochs_rc=0
wait "$runner" || bochs_rc=$?
progress
# Whatever ended the run, Bochs must not outlive it.
stop_bochs
boot_end=$(date +%s)
tr -d '\r' <serial.txt >serial.log
cd "$srcdir"

step "results"
log=$work/run/serial.log
fail() {
    echo "--- the serial log ($log), last 60 lines ---" >&2
    tail -n 60 "$log" >&2 || true
    echo "--- bochs.log, last 20 lines ---" >&2
    tail -n 20 "$work/run/bochs.log" >&2 || true
    die "$1 (everything is kept in $work)"
}
[ -z "$aborted" ] || fail "$aborted"
if [ "$bochs_rc" = 124 ] || [ "$bochs_rc" = 137 ]; then
    fail "Bochs ran past ${timeout_s}s and was stopped"
fi
grep -q '^AVX512-GUEST' "$log" || fail "the guest never reached /init"
echo "guest CPU:       $(sed -n 's/^AVX512-CPU *//p' "$log")"
flags=$(sed -n 's/^AVX512-FLAGS //p' "$log")
echo "guest AVX-512:   ${flags:-none}"
for f in avx512f avx512bw avx512vl avx512dq; do
    case " $flags " in *" $f "*) ;; *) fail "the guest kernel does not report $f" ;; esac
done
grep -q '^AVX512-DONE' "$log" || fail "the selection did not finish in the guest"
t_init=$(sed -n 's/^AVX512-GUEST uptime=//p' "$log")
t_done=$(sed -n 's/^AVX512-DONE rc=[0-9]* uptime=//p' "$log")
tsc_mhz=$(sed -n 's/^AVX512-TSC //p' "$log")
if ! report "$log" "$work/run/markers" "$tsc_mhz"; then
    fail "the AVX-512 selection failed under Bochs"
fi
w_init=$(awk '$2 == "AVX512-GUEST" { print $1; exit }' "$work/run/markers")
w_done=$(awk '$2 == "AVX512-DONE" { print $1; exit }' "$work/run/markers")
echo
echo "Bochs: $((boot_end - boot_start)) s in all: ${w_init:-?} s to boot to /init ($t_init s emulated)," \
    "$((${w_done:-0} - ${w_init:-0})) s for the selection ($(awk -v a="$t_init" -v b="$t_done" \
    -v m="${tsc_mhz:-0}" 'BEGIN { printf "%.2f s emulated, about %.1e instructions", b - a, (b - a) * m * 1e6 }'))"
[ "$keep" = yes ] || rm -rf "$work"
step "done: the AVX-512 selection passed under Bochs"
