#!/bin/sh
# similar_demo.sh - embsimd-similar on the real MiniLM token table and its
# bf16, q8_0 and q4_0 quantizations (make real-table): nearest tokens, the
# analogy, the lecture's pair distances, each scan checked on every
# implementation and thread count (--all-impls); the neighbours that
# survive quantization; the scan's speed next to memcpy. Prints SKIP and
# exits 0 when the table files are missing.
# Usage: similar_demo.sh BUILD_DIR REAL_DIR
build=$1 real=$2
tool=$build/tools/embsimd-similar
fail=0 passed=0
if ! test -f "$real/minilm-f32.emb"; then
  echo "SKIP: embsimd-similar on the real table: no $real/minilm-f32.emb (make optional-env real-table)"
  exit 0
fi
run() {
  echo "\$ embsimd-similar $*"
  out=$("$tool" "$@" 2>&1); rc=$?
  printf '%s\n' "$out"
  if test $rc -ne 0; then echo "FAIL: embsimd-similar $* exited $rc"; fail=$((fail + 1)); else passed=$((passed + 1)); fi
}
for t in f32 bf16 q8_0 q4_0; do
  f=$real/minilm-$t.emb
  run --all-impls "$f" near king paris
  run --all-impls "$f" analogy king man woman
  case $out in
    *" 1  queen "*) echo "PASS: $t: king - man + woman = queen (nearest)";;
    *) echo "NOTE: $t: the nearest to king - man + woman is not queen";;
  esac
  run --all-impls "$f" distance nephew niece semiconductor earthworm king queen man woman
  if test $t != f32; then run "$f" survival "$real/minilm-f32.emb"; fi
done
for t in f32 bf16 q8_0 q4_0; do run "$real/minilm-$t.emb" speed; done
echo "$passed passed, $fail failed"
test $fail -eq 0
