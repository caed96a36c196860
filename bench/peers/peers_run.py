"""peers_run.py - the peers' run: inputs per shape (as embsimd-bench builds
them), the memory budget and one-hot cap, the exactness check, timing in
Google Benchmark's manner (iterations grown until a repetition lasts
min_time, then repeated with that count), progress lines and the context."""

import ctypes
import gc
import os
import platform
import re
import statistics
import sys
import time

import torch

import embsimd_inputs as gen
import exactness
import gbench_json
from embsimd_lib import Embsimd, find_library
from peer_defs import PEERS

GIB = float(1 << 30)
MAX_ITERATIONS = 10 ** 9


def log(msg):
    sys.stderr.write(msg + "\n")
    sys.stderr.flush()


class Inputs:
    """One shape's buffers: table (of table_type: f32, f16 or bf16), dY and
    `batches` batches of ids, built from the seed exactly as bench/data.c
    builds them."""

    def __init__(self, plan, vocab, dim, tokens, kind, table_type="f32"):
        self.vocab, self.dim, self.tokens, self.kind = vocab, dim, tokens, kind
        self.table_type = table_type
        self.batches = gen.batches(plan.llc, vocab, dim, tokens, table_type)
        self.table = plan.table(vocab, dim, table_type)
        self.dy = plan.dy(tokens, dim)
        self._plan = plan
        r = gen.ids_stream(plan.seed, vocab, tokens, kind)
        ids = gen.gen_ids(r, self.batches * tokens, vocab, kind)
        self.ids64 = torch.tensor(ids, dtype=torch.int64).view(self.batches, tokens)
        self.ids32 = self.ids64.to(torch.int32)
        # One view per batch, made once: indexing a tensor in the timed loop
        # would add a microsecond of Python to every call.
        self.batch64 = list(self.ids64.unbind(0))
        self.grad_bytes = [(tokens + 2 * torch.unique(self.ids64[b]).numel()) * dim * 4
                           for b in range(self.batches)]
        elem = gen.ELEM_BYTES[table_type]
        # a lookup into the table's own type, and one widened to f32
        self.lookup_bytes = {table_type: 2 * tokens * dim * elem, "f32": tokens * dim * (elem + 4)}
        table_bytes, rows_bytes = vocab * dim * elem, tokens * dim * 4
        # bench_residency(): where the table and rows live between calls
        if table_bytes > plan.llc:
            self.label = "DRAM:table"
        else:
            self.label = "DRAM:rows" if table_bytes + rows_bytes > plan.llc else "LLC"

    def values(self, which):
        """(table, dY) of the benchmark ("finite") or full of IEEE specials."""
        if which == "finite":
            return self.table, self.dy
        return self._plan.special(self.vocab, self.dim, self.tokens, self.table_type)

    def bytes_of(self, op, b, out_type="f32"):
        """Bytes a call moves: a lookup reads N table rows and writes N
        output rows, each in its own type (embsimd-bench's definition)."""
        if op == "lookup":
            return self.lookup_bytes[out_type]
        if op == "grad":
            return self.grad_bytes[b]
        return self.lookup_bytes["f32"] + self.grad_bytes[b]  # fwd_bwd: a lookup and a grad


def _time_calls(call, prep, iters, b0, batches, bytes_of):
    """`iters` calls cycling through the batches from b0. Returns the
    repetition and the next batch. Only the calls are timed when there is a
    preparation step; otherwise the whole loop is, as Google Benchmark does.
    The batch sequence and the byte count are worked out untimed."""
    seq = [(b0 + i) % batches for i in range(iters)]
    if prep is None:
        c0, t0 = time.thread_time_ns(), time.perf_counter_ns()
        for b in seq:
            call(b)
        real, cpu = time.perf_counter_ns() - t0, time.thread_time_ns() - c0
    else:
        real = cpu = 0
        for b in seq:
            prep(b)
            c0, t0 = time.thread_time_ns(), time.perf_counter_ns()
            call(b)
            t1, c1 = time.perf_counter_ns(), time.thread_time_ns()
            real += t1 - t0
            cpu += c1 - c0
    moved = sum(bytes_of(b) for b in seq)
    return (iters, real * 1e-9, cpu * 1e-9, moved), (b0 + iters) % batches


def measure(call, prep, inp, op, min_time, repetitions, per_call_counters, out_type="f32"):
    """Google Benchmark 1.7's method: grow the iteration count until one run
    lasts min_time (that run is the first repetition), keep it for the rest."""
    batches = inp.batches
    bytes_of = lambda b: inp.bytes_of(op, b, out_type)  # noqa: E731
    if prep:
        prep(0)
    call(0)  # warm-up: first-touch allocations, thread pools
    b, iters = 0, 1
    gc_was = gc.isenabled()
    gc.disable()
    try:
        while True:
            run, b = _time_calls(call, prep, iters, b, batches, bytes_of)
            seconds = run[1]
            if seconds >= min_time or iters >= MAX_ITERATIONS:
                break
            mult = min_time * 1.4 / max(seconds, 1e-9) if seconds / min_time > 0.1 else 10.0
            iters = min(MAX_ITERATIONS, int(round(max(mult * iters, iters + 1.0))))
        runs = [run]
        for _ in range(repetitions - 1):
            run, b = _time_calls(call, prep, iters, b, batches, bytes_of)
            runs.append(run)
    finally:
        if gc_was:
            gc.enable()
    reps = []
    for n, real, cpu, moved in runs:
        counters = {k: v * n for k, v in per_call_counters.items()}
        reps.append(gbench_json.Repetition(n, real, cpu, moved, n * inp.tokens, counters))
    return reps


def _openblas():
    """The OpenBLAS torch's generic BLAS resolves to, if any: torch does not
    pass its thread count on to it, so the run does."""
    try:
        with open("/proc/self/maps") as f:
            paths = {line.split()[-1] for line in f if "blas" in line and "/" in line}
    except OSError:
        return None, None
    for path in sorted(paths):
        try:
            lib = ctypes.CDLL(path)
            lib.openblas_set_num_threads.argtypes = [ctypes.c_int]
            return path, lib
        except (OSError, AttributeError):
            continue
    return (sorted(paths)[0] if paths else None), None


class Plan:
    def __init__(self, cfg):
        self.cfg = cfg
        self.seed = cfg["seed"]
        self.llc = cfg["llc"] or gbench_json.llc_bytes()
        self.llc_source = "--llc" if cfg["llc"] else "sysfs"
        self.peers = [PEERS[n] for n in cfg["peers"]]
        self.over_budget, self.onehot_capped = [], []
        self.shapes = []  # (V, D, N, onehot allowed)
        for v in cfg["vocab"]:
            for d in cfg["dim"]:
                for n in cfg["tokens"]:
                    self._add_shape(v, d, n)
        self.rows, self.findings, self.failures = [], [], []
        self.lib, self.lib_note = None, "not run"
        self._tables, self._dys, self._special = {}, {}, {}
        self.blas_path, self.blas = _openblas()
        self.seconds = {"inputs": 0.0, "check": 0.0, "timing": 0.0}

    def _footprint(self, v, d, n, onehot):
        """Bytes the run holds for one shape, at most: the table, its special
        twin, four V x D tables in the check (embsimd's gradient from zero
        and from the start table, a peer's result, the copy it adds into) or
        one peer's timed gradient (torch's dense, index_add_'s, numpy's),
        the rows of every batch's retained graph, dY twice, the ids."""
        t, rows = v * d * 4, n * d * 4
        b = max(gen.batches(self.llc, v, d, n, x) for x in self.cfg["types"])
        # a 16-bit table and its special twin, made from the fp32 ones
        need = 6 * t + (t if self.cfg["types"] != ["f32"] else 0) + (b + 4) * rows + b * n * 12
        return need + (n * v * 12 if onehot else 0)

    def _add_shape(self, v, d, n):
        budget = self.cfg["budget"]
        need = self._footprint(v, d, n, False)
        if need > budget:
            self.over_budget.append("V=%d D=%d N=%d needs %.2f GiB > budget %.2f GiB"
                                    % (v, d, n, need / GIB, budget / GIB))
            return
        gflop = 2.0 * n * v * d * 1e-9
        onehot = "torch/onehot_matmul" in self.cfg["peers"]
        if onehot and gflop > self.cfg["onehot_max_gflop"]:
            self.onehot_capped.append("V=%d D=%d N=%d: %.1f GFLOP per call > cap %.1f"
                                      % (v, d, n, gflop, self.cfg["onehot_max_gflop"]))
            onehot = False
        elif onehot and self._footprint(v, d, n, True) > budget:
            self.onehot_capped.append("V=%d D=%d N=%d: one-hot matrix needs %.2f GiB > budget"
                                      % (v, d, n, n * v * 12 / GIB))
            onehot = False
        self.shapes.append((v, d, n, onehot))

    def _cases(self):
        """(shape, threads, kind, table type, [(peer, output type)]) in run
        order, the filter applied."""
        for v, d, n, onehot in self.shapes:
            for t in self.cfg["threads"]:
                for kind in self.cfg["ids"]:
                    for table_type in self.cfg["types"]:
                        peers = [(p, out) for p in self.peers for src, out in p.kernels
                                 if src == table_type
                                 and (onehot or p.name != "torch/onehot_matmul")
                                 and self._selected(self.name(p, (src, out), v, d, n, t, kind))]
                        if peers:
                            yield (v, d, n, onehot), t, kind, table_type, peers

    def _selected(self, name):
        f = self.cfg["filter"]
        return f is None or f.search(name) is not None

    @staticmethod
    def name(peer, kernel, v, d, n, t, kind):
        """embsimd-bench's name layout: the kernel's types, and int64 ids
        (torch's and numpy's index type)."""
        return "%s/%s->%s/V:%d/D:%d/N:%d/T:%d/ids:%s/idx:i64/real_time" % (
            peer.name, kernel[0], kernel[1], v, d, n, t, kind)

    def names(self):
        return [self.name(p, (tt, out), s[0], s[1], s[2], t, k)
                for s, t, k, tt, ps in self._cases() for p, out in ps]

    # ---- inputs, kept while consecutive cases share them ----
    def table(self, v, d, table_type="f32"):
        """The fp32 table of the shape, or the f16 or bf16 one made of it."""
        if (v, d, "f32") not in self._tables:
            self._tables.clear()
            self._special.clear()
            if v * d * 4 >= 256 << 20:
                log("preparing a %d x %d table (%.2f GiB) from seed %d" % (v, d, v * d * 4 / GIB,
                                                                           self.seed))
            self._tables[(v, d, "f32")] = gen.fill(gen.table_stream(self.seed, v, d),
                                                   v * d).view(v, d)
        if (v, d, table_type) not in self._tables:
            for key in [k for k in self._tables if k[2] != "f32"]:
                del self._tables[key]
            self._tables[(v, d, table_type)] = gen.convert(self._tables[(v, d, "f32")], table_type)
        return self._tables[(v, d, table_type)]

    def dy(self, n, d):
        if (n, d) not in self._dys:
            self._dys.clear()
            self._dys[(n, d)] = gen.fill(gen.dy_stream(self.seed, n, d), n * d).view(n, d)
        return self._dys[(n, d)]

    def special(self, v, d, n, table_type="f32"):
        """Table (of table_type, made from the fp32 one) and dY of IEEE
        special values (gen_fill_bits, from the same streams). dY's NaNs become infinities of their sign: with no NaN in
        dY no addition sees two NaNs, whose sum IEEE 754 lets be either
        payload (verify/test_kernels.c's grad_two_nans_give_one_of_them)."""
        if ("table", v, d) not in self._special:
            self._special = {k: t for k, t in self._special.items() if k[0] != "table"}
            table = gen.fill(gen.table_stream(self.seed, v, d), v * d, "bits").view(v, d)
            self._special[("table", v, d)] = table
        if ("dy", n, d) not in self._special:
            self._special = {k: t for k, t in self._special.items() if k[0] != "dy"}
            dy = gen.fill(gen.dy_stream(self.seed, n, d), n * d, "bits").view(n, d)
            bits = dy.view(torch.int32)
            nan = ((bits & 0x7F800000) == 0x7F800000) & ((bits & 0x7FFFFF) != 0)
            bits[nan] = bits[nan] & ~0x7FFFFF
            self._special[("dy", n, d)] = dy
        if ("typed", v, d, table_type) not in self._special:
            self._special = {k: t for k, t in self._special.items() if k[0] != "typed"}
            self._special[("typed", v, d, table_type)] = gen.convert(
                self._special[("table", v, d)], table_type)
        return self._special[("typed", v, d, table_type)], self._special[("dy", n, d)]

    # ---- the library for the check ----
    def load_library(self, lib, build_dir, required):
        path, tried = find_library(lib, build_dir)
        if path is None:
            self.lib_note = "not run: libembsimd.so not found (tried %s)" % "; ".join(tried)
            if required:
                log("torch_embedding.py: --check needs libembsimd.so: tried %s. Give --lib=PATH, "
                    "--build-dir=DIR or EMBSIMD_LIB." % "; ".join(tried))
                sys.exit(2)
            log("torch_embedding.py: exactness check skipped: libembsimd.so not found (tried %s); "
                "give --lib, --build-dir or EMBSIMD_LIB" % "; ".join(tried))
            return None
        try:
            self.lib = Embsimd(path)
        except (OSError, AttributeError) as e:
            log("torch_embedding.py: cannot use %s: %s" % (path, e))
            sys.exit(2 if required else 1)
        if self.lib.active() == "none":
            log("torch_embedding.py: libembsimd.so has no usable implementation: EMBSIMD_IMPL=%s "
                "(available: %s)" % (os.environ.get("EMBSIMD_IMPL"), ", ".join(self.lib.impls())))
            sys.exit(2)
        self.lib_note = "%s (embsimd %s, implementation %s; available %s)" % (
            self.lib.path, self.lib.version, self.lib.active(), ", ".join(self.lib.impls()))
        return self.lib

    def _set_threads(self, t):
        torch.set_num_threads(t)
        if self.blas:
            self.blas.openblas_set_num_threads(t)

    # ---- the check ----
    def check(self, inp, t, peers):
        where = "V:%d/D:%d/N:%d/T:%d/ids:%s" % (inp.vocab, inp.dim, inp.tokens, t, inp.kind)
        if inp.table_type != "f32":
            where += "/%s" % inp.table_type
        ids64, ids32 = inp.ids64[0], inp.ids32[0]
        self.lib.set_threads(t)
        impl = self.lib.active()
        out = []
        for values in self.cfg["check_values"]:
            W, dy = inp.values(values)
            if inp.table_type == "f32":
                # The existing table the accumulating peers add into, and
                # emb_grad_f32 with them: the table's own bits (finite, or
                # the IEEE special values), so that the check sees additions
                # into nonzero rows, not only sums from zero.
                start = W
                ours = {"lookup": torch.empty(inp.tokens, inp.dim),
                        "grad": torch.zeros(inp.vocab, inp.dim),
                        "grad_into": start.clone(), "dy": dy}
                self.lib.lookup(W, ids32, ours["lookup"])
                self.lib.grad(ours["grad"], ids32, dy)
                self.lib.grad(ours["grad_into"], ids32, dy)
            else:
                # A 16-bit table: its lookups, a bit copy and widened to f32,
                # with the int64 ids the peers index with.
                start = None
                ours = {"lookup": torch.empty(inp.tokens, inp.dim, dtype=W.dtype),
                        "lookup_f32": torch.empty(inp.tokens, inp.dim)}
                self.lib.lookup_typed(W, ids64, ours["lookup"])
                self.lib.lookup_typed(W, ids64, ours["lookup_f32"])
            for p in dict.fromkeys(p for p, _ in peers):
                for label, got, want in p.result(W, ids64, dy, start):
                    if inp.table_type != "f32" and "->" not in label:
                        label += " %s->%s" % (inp.table_type, inp.table_type)
                    out.append(exactness.compare(label, want, values, where, got, ours[want],
                                                 ids64, impl))
                    del got
            del ours
        bad = [f for f in out if not f.identical]
        log("check %s: %d comparisons with embsimd (%s), %s" % (
            where, len(out), impl,
            "all bit-identical" if not bad else "%d differ:" % len(bad)))
        for f in bad:
            log("  [%s inputs] %s" % (f.values, f.line()))
        self.findings.extend(out)

    # ---- the run ----
    def run(self, check, timing, lib):
        status = 0
        family = 0
        inp_key, inp = None, None
        for (v, d, n, onehot), t, kind, table_type, peers in self._cases():
            t0 = time.monotonic()
            if (v, d, n, kind, table_type) != inp_key:
                inp = None  # the old shape's buffers go before the new ones are made
                inp = Inputs(self, v, d, n, kind, table_type)
                inp_key = (v, d, n, kind, table_type)
            self._set_threads(t)
            t1 = time.monotonic()
            if check and lib is not None:
                self.check(inp, t, peers)
            t2 = time.monotonic()
            self.seconds["inputs"] += t1 - t0
            self.seconds["check"] += t2 - t1
            if not timing:
                continue
            for p, out_type in peers:
                name = self.name(p, (table_type, out_type), v, d, n, t, kind)
                try:
                    call, prep = p.setup(inp)
                    counters = p.counters(inp) if p.counters else {}
                    reps = measure(call, prep, inp, p.op, self.cfg["min_time"],
                                   self.cfg["repetitions"], counters, out_type)
                    del call, prep
                except (RuntimeError, MemoryError, ValueError) as e:
                    self.rows.append(gbench_json.error_row(name, family, str(e)))
                    log("%s  ERROR: %s" % (name, e))
                    status = 1
                    family += 1
                    continue
                self.rows.extend(gbench_json.rows(name, family, reps, inp.label))
                family += 1
                self._progress(name, reps, inp.label)
            self.seconds["timing"] += time.monotonic() - t2
        log("seconds spent: building inputs %.1f, exactness check %.1f, timing %.1f" % (
            self.seconds["inputs"], self.seconds["check"], self.seconds["timing"]))
        return status

    @staticmethod
    def _progress(name, reps, label):
        real = statistics.median(r.real_s / r.iterations for r in reps)
        cpu = statistics.median(r.cpu_s / r.iterations for r in reps)
        gbs = statistics.median(r.bytes / r.real_s for r in reps) * 1e-9
        log("%-72s %12.0f ns %12.0f ns %3d x %-8d %8.2f GB/s %s" % (
            name, real * 1e9, cpu * 1e9, len(reps), reps[0].iterations, gbs, label))

    # ---- the JSON ----
    def _exactness_context(self):
        """Per peer and input set: how many checks were bit-identical."""
        ctx = {}
        summary = {}
        for f in self.findings:
            s = summary.setdefault((f.peer, f.values), [0, 0, None])
            s[0] += 1
            if f.identical:
                s[1] += 1
            elif s[2] is None:
                s[2] = "%s: %s" % (f.where, f.line())
        for (peer, values), (runs, same, first) in sorted(summary.items()):
            text = "bit-identical to embsimd in %d of %d checks" % (same, runs)
            if first:
                text += "; first difference at %s" % first
            ctx["exactness %s (%s inputs)" % (peer, values)] = text
        return ctx

    def context(self):
        cfg = self.cfg
        ctx = gbench_json.machine_context("%s %s" % (sys.executable, os.path.abspath(sys.argv[0])))
        flags = gbench_json.cpuinfo("flags") or ""
        simd = [f for f in ("sse2", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512vl",
                            "avx512dq", "avx512_bf16", "avx512_vnni", "asimd", "sve")
                if f in flags.split()]
        show = torch.__config__.show()
        capability = re.search(r"CPU capability usage: (\S+)", show)
        ctx.update({
            "bytes_definition": "lookups (embedding_fwd, index_select_out, index_select_float, "
            "onehot_matmul, take): N*(table row + output row) per call, each row in its own "
            "type's bytes (2*N*D*4 for f32; N*D*(2+4) for index_select_float), read once and "
            "written once; "
            "gradients (index_add, embedding_bwd, add_at): N*D*4 (read dY) + 2*U*D*4 (read and "
            "write each of the U distinct rows the batch touches); embedding_sparse (forward + "
            "backward): a lookup's bytes plus a gradient's. torch's dense backward also "
            "allocates and zero-fills a V*D*4 gradient per call: in its time, not in its bytes.",
            "cold_warm": "ids cycle through enough batches to read min(table, 4 x LLC) bytes of "
            "rows before reusing one, as embsimd-bench; label LLC: table + N*D*4 fit the LLC; "
            "DRAM:rows: the table fits, not with the rows; DRAM:table: table > LLC. No flushing.",
            "cpu_model": gbench_json.cpuinfo("model name") or platform.processor() or "unknown",
            "cpu_flags": flags,
            "cpu_simd_flags": " ".join(simd),
            "python": "%s (Python %s)" % (sys.executable, platform.python_version()),
            "torch_version": torch.__version__,
            "torch_cpu_capability": capability.group(1) if capability else "unknown",
            "torch_parallel_info": torch.__config__.parallel_info(),
            "torch_build": show,
            "torch_blas": (self.blas_path or "none found in the process") +
            ("; thread count set with openblas_set_num_threads" if self.blas else ""),
            "ids_dtype": "int64 for torch and numpy (their index type); names say idx:i64",
            "types": ", ".join(cfg["types"]),
            "peers": ", ".join(p.name for p in self.peers),
            "grid": "%s: V {%s} x D {%s} x N {%s}; memory budget %.2f GiB; one-hot product up "
            "to %.1f GFLOP per call" % (cfg["grid_name"], ", ".join(map(str, cfg["vocab"])),
                                        ", ".join(map(str, cfg["dim"])),
                                        ", ".join(map(str, cfg["tokens"])), cfg["budget"] / GIB,
                                        cfg["onehot_max_gflop"]),
            "threads": ", ".join(map(str, cfg["threads"])) + " (torch.set_num_threads; numpy "
            "is single-threaded)",
            "id_distributions": ", ".join(cfg["ids"]),
            "seed": str(self.seed),
            "llc": "%.1f MiB (%s)" % (self.llc / float(1 << 20), self.llc_source),
            "llc_bytes": str(self.llc),
            "timing": "%d repetitions of at least %g s each, wall clock (perf_counter); one "
            "untimed warm-up call per benchmark; iterations grown as Google Benchmark does; "
            "median reported; embedding_bwd times each backward alone, embedding_sparse each "
            "forward + backward alone (the gradient reset to None between calls, untimed)"
            % (cfg["repetitions"], cfg["min_time"]),
            "run_date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
            "skipped_over_budget": "; ".join(self.over_budget) or "none",
            "skipped_onehot": "; ".join(self.onehot_capped) or "none",
            "exactness_check": self.lib_note,
        })
        try:
            import numpy
            ctx["numpy_version"] = numpy.__version__
        except ImportError:
            ctx["numpy_version"] = "not importable: numpy peers left out"
        ctx.update(self._exactness_context())
        return ctx

    def write(self, path):
        for what, notes in (("over the memory budget", self.over_budget),
                            ("without torch/onehot_matmul", self.onehot_capped)):
            if notes:
                log("shapes %s:\n  %s" % (what, "\n  ".join(notes)))
        gbench_json.write(path, self.context(), self.rows)
        if path not in (None, "-"):
            log("wrote %s (%d benchmarks)" % (path, len({r["run_name"] for r in self.rows})))
