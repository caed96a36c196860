#!/usr/bin/env python3
"""ggml_peer.py - ggml's own get_rows (the CPU backend of ggml-python,
built from its source distribution with -march=native) next to embsimd's
lookup, on f32, f16, q8_0 and q4_0 tables into f32 rows.

First exactness: ggml dequantizes by the same formulas (q*d in fp32, f16
widened exactly), so every bit must agree, on the timed tables and on
embsimd's adversarial ones (random bit patterns: NaN payloads, Inf and
subnormal scales). Then the time per call, both sides interleaved, on one
thread: ggml's CPU backend schedules GGML_OP_GET_ROWS as a single task
whatever n_threads is (ggml-cpu.c: n_tasks = 1 for GET_ROWS), so embsimd
is timed on 1 thread for the ratio, and on 2 as an extra column.

Writes a JSON report (--json); prints PASS/FAIL lines and 'N passed, N
failed'. Exit 77 when ggml is not installed."""

import argparse
import ctypes
import json
import os
import subprocess
import sys

from peer_timing import (SHAPES, bits_equal, context, first_diff, interleaved, load_embsimd,
                         normal_table, uniform_ids)

try:
    import numpy as np
    import ggml
    from gguf import GGMLQuantizationType as QT
    from gguf import quants as gq
except ImportError as e:
    print("SKIP: ggml peer: %s (make optional-env builds ggml-python from source)" % e)
    sys.exit(77)

TYPES = {"f32": ggml.GGML_TYPE_F32, "f16": ggml.GGML_TYPE_F16, "q8_0": ggml.GGML_TYPE_Q8_0,
         "q4_0": ggml.GGML_TYPE_Q4_0}


def make_table(name, f32):
    """The table of type name from f32 rows: numpy's f16 conversion, gguf's
    quantizers (GGML's own Python ones)."""
    if name == "f32":
        return f32
    if name == "f16":
        return f32.astype(np.float16)
    with np.errstate(all="ignore"):
        return gq.quantize(f32, QT.Q8_0 if name == "q8_0" else QT.Q4_0)


class GetRows:
    """One ggml graph: out = get_rows(table, ids), on numpy buffers."""

    def __init__(self, name, table, vocab, dim, ids, out, threads=1):
        self.keep = (table, ids, out)
        params = ggml.ggml_init_params(mem_size=ggml.ggml_tensor_overhead() * 8 +
                                       ggml.ggml_graph_overhead() + (1 << 16),
                                       mem_buffer=None, no_alloc=True)
        self.ctx = ggml.ggml_init(params)
        a = ggml.ggml_new_tensor_2d(self.ctx, TYPES[name], dim, vocab)
        b = ggml.ggml_new_tensor_1d(self.ctx, ggml.GGML_TYPE_I32, ids.size)
        c = ggml.ggml_get_rows(self.ctx, a, b)
        a.contents.data = ctypes.c_void_p(table.ctypes.data)
        b.contents.data = ctypes.c_void_p(ids.ctypes.data)
        c.contents.data = ctypes.c_void_p(out.ctypes.data)
        self.gf = ggml.ggml_new_graph(self.ctx)
        ggml.ggml_build_forward_expand(self.gf, c)
        self.plan = ggml.ggml_graph_plan(self.gf, threads, None)
        if self.plan.work_size:
            self.work = np.empty(self.plan.work_size, np.uint8)
            self.plan.work_data = self.work.ctypes.data_as(ctypes.POINTER(ctypes.c_uint8))
        self.plan_p = ctypes.byref(self.plan)

    def __call__(self):
        if ggml.ggml_graph_compute(self.gf, self.plan_p) != 0:
            raise RuntimeError("ggml_graph_compute failed")

    def close(self):
        ggml.ggml_free(self.ctx)


def emb_call(lib, name, table, vocab, dim, ids, out):
    tp, ip, op = table.ctypes.data, ids.ctypes.data, out.ctypes.data
    n = ids.size
    f = lib.lib.emb_lookup
    tcode = {"f32": 0, "f16": 1, "q8_0": 3, "q4_0": 4}[name]

    def call():
        if f(tp, tcode, vocab, dim, ip, 0, n, op, 0) != 0:
            raise RuntimeError(lib.lib.emb_last_error().decode())
    return call


def adversarial(gen_blocks, name, vocab, dim):
    """embsimd's verifier's random-bit tables (NaN payloads, Inf scales)."""
    out = subprocess.run([gen_blocks, name, "bits", str(vocab), str(dim), "7"], check=True,
                         stdout=subprocess.PIPE).stdout
    return np.frombuffer(out, np.uint8).reshape(vocab, -1).copy()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build-dir", default=".")
    ap.add_argument("--json", help="write the report here")
    ap.add_argument("--check-only", action="store_true", help="exactness only, no timing")
    ap.add_argument("--reps", type=int, default=5)
    args = ap.parse_args()
    lib = load_embsimd(args.build_dir)
    gen_blocks = os.path.join(args.build_dir, "optional", "gen-blocks")
    ggml.ggml_cpu_init()
    from importlib.metadata import version
    ctx = context({"ggml-python": version("ggml-python"), "gguf": version("gguf"),
                   "embsimd": lib.version, "implementations": lib.impls(),
                   "ggml build": "ggml-python sdist, CMake defaults: -O3, GGML_NATIVE (-march=native), OpenMP",
                   "ggml threads": "1 (get_rows is one task in ggml's CPU backend)"})
    passed = failed = 0
    rows = []
    # Exactness, every implementation, the adversarial tables too.
    for name in TYPES:
        vocab, dim, n = 2000, 256, 4096
        ids = uniform_ids(vocab, n)
        tables = [("N(0, 0.05) rows", make_table(name, normal_table(vocab, dim)))]
        if os.path.isfile(gen_blocks):
            raw = adversarial(gen_blocks, name, vocab, dim)
            tables.append(("embsimd's random-bit table", raw.view(np.float32) if name == "f32" else
                           raw.view(np.float16) if name == "f16" else raw))
        for label, table in tables:
            table = np.ascontiguousarray(table)
            want = np.zeros((n, dim), np.float32)
            g = GetRows(name, table, vocab, dim, ids, want)
            g()
            g.close()
            for impl in lib.impls():
                lib.use_impl(impl)
                got = np.zeros((n, dim), np.float32)
                emb_call(lib, name, table, vocab, dim, ids, got)()
                ok = bits_equal(got, want)
                line = "ggml get_rows %s, %s (%d x %d, %d ids), embsimd %s: %s" % (
                    name, label, vocab, dim, n, impl,
                    "bit-equal" if ok else "FINDING: " + first_diff(got, want))
                print(("PASS " if ok else "FAIL ") + line)
                passed += ok
                failed += not ok
            lib.use_impl("auto")
    if not args.check_only:
        for vocab, dim, n in SHAPES:
            f32 = normal_table(vocab, dim)
            ids = uniform_ids(vocab, n)
            for name in TYPES:
                table = np.ascontiguousarray(make_table(name, f32))
                out_g = np.zeros((n, dim), np.float32)
                out_e = np.zeros((n, dim), np.float32)
                g = GetRows(name, table, vocab, dim, ids, out_g)
                e = emb_call(lib, name, table, vocab, dim, ids, out_e)
                lib.set_threads(1)
                (tg, te), _ = interleaved([g, e], reps=args.reps)
                lib.set_threads(2)
                (te2,), _ = interleaved([e], reps=args.reps)
                lib.set_threads(0)
                ok = bits_equal(out_e, out_g)
                g.close()
                row_bytes = table.nbytes // vocab
                nbytes = n * (row_bytes + dim * 4)
                rows.append({"V": vocab, "D": dim, "N": n, "type": name, "bytes": nbytes,
                             "ggml_s": tg, "embsimd_s": te, "embsimd_t2_s": te2,
                             "impl": lib.active(), "bit_equal": ok})
                print("time %s V=%d D=%d N=%d: ggml %.1f GB/s, embsimd T=1 %.1f GB/s (%.2fx), "
                      "T=2 %.1f GB/s%s" % (name, vocab, dim, n, nbytes / tg / 1e9, nbytes / te / 1e9,
                                            tg / te, nbytes / te2 / 1e9, "" if ok else " NOT BIT-EQUAL"))
                passed += ok
                failed += not ok
    report = {"peer": "ggml", "context": ctx, "rows": rows, "passed": passed, "failed": failed}
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)
    print("%d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
