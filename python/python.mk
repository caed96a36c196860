# python/python.mk - the embsimd Python package (included from Makefile.am).
#
#   make python-install PYTHON=VENV/bin/python  build libembsimd and install the
#                       package into that interpreter, the library bundled
#   make python-env     the cached test venv (python/venv.sh: numpy, ml_dtypes,
#                       pytest, torch from PyPI) with the package installed
#   make check          runs python/check_python.sh (skips, saying why, when
#                       the interpreter lacks pytest or torch >= 2.4)
EXTRA_DIST += \
	python/python.mk \
	docs/python.md \
	python/README.md \
	python/pyproject.toml \
	python/requirements-test.txt \
	python/venv.sh \
	python/check_python.sh \
	python/bench_train.py \
	python/embsimd/__init__.py \
	python/embsimd/_lib.py \
	python/embsimd/_arrays.py \
	python/embsimd/ops.py \
	python/embsimd/py.typed \
	python/embsimd/torch/__init__.py \
	python/embsimd/torch/_ops.py \
	python/embsimd/torch/modules.py \
	python/embsimd/torch/optim.py \
	python/tests/conftest.py \
	python/tests/test_numpy_ops.py \
	python/tests/test_conversions.py \
	python/tests/test_torch_ops.py \
	python/tests/test_modules.py \
	.ci/python.sh

# (python/check_python.sh is listed with the slowest tests in Makefile.am.)

PYTHON = python3
# pip's flags, e.g. --no-build-isolation where PyPI cannot be reached
PYTHON_PIP_FLAGS =
PYTHON_STAGE = $(abs_top_builddir)/_python_stage

.PHONY: python-install python-env
# The package is staged with this build's library inside it, so the
# installed copy needs neither the tree nor LD_LIBRARY_PATH.
python-install: src/libembsimd.la
	rm -rf $(PYTHON_STAGE)
	$(MKDIR_P) $(PYTHON_STAGE)
	cp -R $(srcdir)/python/embsimd $(srcdir)/python/pyproject.toml $(srcdir)/python/README.md \
	  $(PYTHON_STAGE)/
	chmod -R u+w $(PYTHON_STAGE)
	cp -L src/.libs/libembsimd.so $(PYTHON_STAGE)/embsimd/libembsimd.so
	$(PYTHON) -m pip install -q $(PYTHON_PIP_FLAGS) $(PYTHON_STAGE)
	rm -rf $(PYTHON_STAGE)
	cd / && $(PYTHON) -c 'import embsimd; print("embsimd", embsimd.__version__, "installed:", embsimd.library_path)'

python-env:
	@py=$$($(srcdir)/python/venv.sh) && \
	$(MAKE) $(AM_MAKEFLAGS) python-install PYTHON=$$py && \
	echo "python-env: $$py"
