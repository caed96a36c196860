# bench/peers/peers.mk - the PyTorch comparison (included from Makefile.am).
# `make compare-peers`: embsimd-bench and bench/peers/torch_embedding.py run
# interleaved on the same shapes and thread counts; writes results/peers.md
# and results/runs/peers-<host>-<UTC date>.json. Without PyTorch it says how
# to install it and is skipped, not failed.
EXTRA_DIST += \
	bench/peers/peers.mk \
	bench/peers/compare_peers.py \
	bench/peers/embsimd_inputs.py \
	bench/peers/embsimd_lib.py \
	bench/peers/exactness.py \
	bench/peers/gbench_json.py \
	bench/peers/peer_defs.py \
	bench/peers/peers_run.py \
	bench/peers/peers_table.py \
	bench/peers/reruns.py \
	bench/peers/test_reruns.py \
	bench/peers/test_peers_table.py \
	bench/checks.py \
	bench/peers/test_torch_embedding.sh \
	bench/peers/torch_embedding.py \
	bench/peers/layer_peers.py \
	bench/peers/test_layer_peers.sh \
	bench/peers/torch_test_env.sh

# compare_peers.py needs only the standard library; it looks for an
# interpreter that imports torch itself ($PYTHON, /usr/bin/python3, python3).
PEERS_PY = python3
# Extra arguments: make compare-peers PEERS_FLAGS='--vocab=50257 --threads=1,2'
PEERS_FLAGS =

# The smoke test compares the Python input generator with verify/gen.c
# through this dump, and skips (77) where no Python imports torch.
check_PROGRAMS += bench/peers/gen-dump
bench_peers_gen_dump_SOURCES = bench/peers/gen_dump.c
bench_peers_gen_dump_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/verify -I$(top_srcdir)/bench
bench_peers_gen_dump_LDADD = verify/libgen.la
TESTS += bench/peers/test_layer_peers.sh \
	bench/peers/test_peers_table.py \
	bench/peers/test_reruns.py

.PHONY: compare-peers
if EMB_BENCH
compare-peers: bench/embsimd-bench src/libembsimd.la
	@rc=0; $(PEERS_PY) $(top_srcdir)/bench/peers/compare_peers.py --bench=bench/embsimd-bench \
	  --results=$(BENCH_RESULTS) --rerun-cv=5 $(PEERS_FLAGS) || rc=$$?; \
	if test $$rc -eq 3; then \
	  echo "compare-peers: SKIPPED: no Python here imports torch (Debian: apt-get install python3-torch)"; \
	else \
	  test $$rc -eq 0 || exit $$rc; \
	  py=python3; /usr/bin/python3 -c 'import torch' 2>/dev/null && py=/usr/bin/python3; \
	  $$py $(top_srcdir)/bench/peers/layer_peers.py --build-dir=. --results=$(BENCH_RESULTS) || exit $$?; \
	fi; \
	$(MAKE) $(AM_MAKEFLAGS) compare-peers-optional
else
compare-peers:
	@echo "make $@ needs embsimd-bench, which needs Google Benchmark and OpenBLAS (pkg-config benchmark openblas), not found at configure time." >&2
	@exit 1
endif
