#!/bin/sh
# verify/compare_digests.sh - compares the canonical digests of two
# embsimd-verify JSON reports (say x86-64 and AArch64 under qemu): exit 0
# when both reports passed and their digests are equal, 1 otherwise, with the
# cases that differ.
set -eu

usage() {
    cat <<USAGE
Usage: verify/compare_digests.sh REPORT_A.json REPORT_B.json

Each report comes from 'embsimd-verify --json FILE' (make check writes
verify/verify-quick.json). Every run inside one report already gave the
same digest; this compares the two machines' canonical digests, and on a
mismatch lists the canonical cases whose outputs differ.
USAGE
}

case "${1:-}" in -h|--help) usage; exit 0;; esac
if [ $# -ne 2 ]; then
    usage >&2
    exit 2
fi

# The report writes one key per line, so a key's value is one sed away.
value() { # file key
    sed -n "s/^ *\"$2\": \"\\(.*\\)\",\\{0,1\\}\$/\\1/p" "$1"
}

status=0
for f in "$1" "$2"; do
    if [ ! -r "$f" ]; then
        echo "compare_digests: cannot read $f" >&2
        exit 2
    fi
    if ! grep -q '^  "result": "PASS"' "$f"; then
        echo "compare_digests: $f is not a passing report" >&2
        status=1
    fi
done

a=$(value "$1" canonical_digest)
b=$(value "$2" canonical_digest)
cpu_a=$(value "$1" cpu)
cpu_b=$(value "$2" cpu)
if [ -z "$a" ] || [ -z "$b" ]; then
    echo "compare_digests: no canonical digest in ${a:+$2}${a:-$1} (section E missing or failed)" >&2
    exit 1
fi
init_a=$(value "$1" init_digest)
init_b=$(value "$2" init_digest)
if [ -z "$init_a" ] || [ "$init_a" != "$init_b" ]; then
    echo "emb_init digests DIFFER or are missing: A ${init_a:-none}, B ${init_b:-none}"
    status=1
else
    echo "emb_init digests agree: $init_a"
fi
echo "A: $a  ($1: $cpu_a)"
echo "B: $b  ($2: $cpu_b)"
if [ "$a" = "$b" ]; then
    echo "canonical digests agree"
    exit $status
fi
echo "canonical digests DIFFER; cases that differ:"
i=0
while :; do
    key=$(printf 'case_%02d' "$i")
    ca=$(value "$1" "$key")
    cb=$(value "$2" "$key")
    [ -n "$ca" ] || [ -n "$cb" ] || break
    [ "$ca" = "$cb" ] || printf '  %s\n    A %s\n    B %s\n' "$key" "$ca" "$cb"
    i=$((i + 1))
done
exit 1
