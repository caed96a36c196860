#!/usr/bin/env python3
"""fbgemm_peer.py - FBGEMM's CPU embedding kernels (fbgemm-gpu-cpu's
inference TBE, IntNBitTableBatchedEmbeddingBagsCodegen on the host, with the
PyPI torch it pairs with) next to embsimd's lookup.

Kernels: FP32, FP16 and INT8 row-wise tables (INT8: FBGEMM's fp16 scale and
bias before each row; embsimd's q8_rowwise keeps the same numbers, widened
exactly to fp32, after it), output FP32; PoolingMode.NONE (the plain lookup,
bags of length 1) and PoolingMode.SUM (pooled bags; embsimd's EmbeddingBag
is still in the works, so only FBGEMM's time is given).

Exactness first, against FBGEMM's own reference semantics
(RefImplementations.cc: buf = fma(scale, q, buf + bias) from buf = 0): the
plain lookup must equal embsimd's bit for bit except where the documented
difference predicts (bias -0 and scale * q = -0: FBGEMM +0, embsimd -0);
pooled bags must equal that formula, and fp32/fp16 bags the sequential fp32
sum from +0, bit for bit.

Writes a JSON report (--json); prints PASS/FAIL lines and 'N passed, N
failed'. Exit 77 when torch or fbgemm_gpu is not installed."""

import argparse
import ctypes
import ctypes.util
import json
import os
import sys
import warnings

from peer_timing import SHAPES, bits_equal, context, first_diff, interleaved, load_embsimd

warnings.filterwarnings("ignore")
try:
    import numpy as np
    import torch
    import fbgemm_gpu  # noqa: F401  (registers torch.ops.fbgemm)
    from fbgemm_gpu.split_table_batched_embeddings_ops_inference import (
        IntNBitTableBatchedEmbeddingBagsCodegen)
    from fbgemm_gpu.split_table_batched_embeddings_ops_common import EmbeddingLocation, PoolingMode
    from fbgemm_gpu.split_embedding_configs import SparseType
except ImportError as e:
    print("SKIP: FBGEMM peer: %s (make optional-env-fbgemm installs torch and fbgemm-gpu-cpu)" % e)
    sys.exit(77)

LIBM = ctypes.CDLL(ctypes.util.find_library("m"))
LIBM.fmaf.argtypes = [ctypes.c_float, ctypes.c_float, ctypes.c_float]
LIBM.fmaf.restype = ctypes.c_float

TYPES = {"f32": SparseType.FP32, "f16": SparseType.FP16, "int8": SparseType.INT8}
EMB_TYPE = {"f32": 0, "f16": 1, "int8": 5}  # int8 as q8_rowwise


class Table:
    """One FBGEMM TBE table on the host, filled from seeded numbers, and the
    same numbers in embsimd's layout."""

    def __init__(self, name, vocab, dim, pooling, rng, adversarial=False):
        self.name, self.vocab, self.dim = name, vocab, dim
        self.m = IntNBitTableBatchedEmbeddingBagsCodegen(
            [("t", vocab, dim, TYPES[name], EmbeddingLocation.HOST)], device="cpu",
            pooling_mode=pooling, output_dtype=SparseType.FP32)
        self.m.initialize_weights()
        w, ss = self.m.split_embedding_weights(split_scale_shifts=True)[0]
        f32 = (rng.standard_normal((vocab, dim)) * 0.05).astype(np.float32)
        if name == "f32":
            w.copy_(torch.from_numpy(f32.view(np.uint8)))
            self.emb = np.ascontiguousarray(f32)
        elif name == "f16":
            h = f32.astype(np.float16)
            w.copy_(torch.from_numpy(h.view(np.uint8)))
            self.emb = np.ascontiguousarray(h)
        else:
            q = rng.integers(0, 256, (vocab, dim), dtype=np.uint8)
            scale = (rng.uniform(1e-4, 1e-2, vocab)).astype(np.float16)
            bias = (rng.uniform(-1, 1, vocab)).astype(np.float16)
            if adversarial:
                # q = 0 with a negative scale gives scale * q = -0; a -0
                # bias there is where FBGEMM's 0 + bias and fmaf differ.
                q[::7, ::5] = 0
                scale[::3] = -scale[::3]
                bias[::2] = np.float16(-0.0)
            w.copy_(torch.from_numpy(q))
            qp = np.stack([scale, bias], axis=1).view(np.uint8).reshape(vocab, 4)
            ss.copy_(torch.from_numpy(qp))
            emb = np.empty((vocab, dim + 8), np.uint8)
            emb[:, :dim] = q
            emb[:, dim:dim + 4] = scale.astype(np.float32).view(np.uint8).reshape(vocab, 4)
            emb[:, dim + 4:] = bias.astype(np.float32).view(np.uint8).reshape(vocab, 4)
            self.emb = emb
            self.q, self.scale, self.bias = q, scale.astype(np.float32), bias.astype(np.float32)

    def rows_f32(self):
        """Each row as FBGEMM's reference dequantizes it on its own
        (fma(scale, q, 0 + bias)), for the plain lookup's expectation."""
        if self.name == "f32":
            return self.emb
        if self.name == "f16":
            return self.emb.astype(np.float32)
        out = np.empty((self.vocab, self.dim), np.float32)
        for r in range(self.vocab):
            b = np.float32(0) + self.bias[r]
            out[r] = [LIBM.fmaf(float(self.scale[r]), float(x), float(b)) for x in self.q[r]]
        return out


def emb_lookup(lib, t, ids, out):
    tp, ip, op = t.emb.ctypes.data, ids.ctypes.data, out.ctypes.data
    f, code, v, d, n = lib.lib.emb_lookup, EMB_TYPE[t.name], t.vocab, t.dim, ids.size

    def call():
        if f(tp, code, v, d, ip, 0, n, op, 0) != 0:
            raise RuntimeError(lib.lib.emb_last_error().decode())
    return call


def bag_model(t, ids, offsets):
    """FBGEMM's reference for pooled bags, element by element."""
    out = np.zeros((offsets.size - 1, t.dim), np.float32)
    for b in range(offsets.size - 1):
        buf = np.zeros(t.dim, np.float32)
        for i in ids[offsets[b]:offsets[b + 1]]:
            if t.name == "int8":
                buf = np.array([LIBM.fmaf(float(t.scale[i]), float(x), float(np.float32(y) + t.bias[i]))
                                for x, y in zip(t.q[i], buf)], np.float32)
            else:
                buf = buf + t.emb[i].astype(np.float32)
        out[b] = buf
    return out


def exactness(lib, rng):
    passed = failed = 0
    vocab, dim, n = 500, 64, 2048
    for name in TYPES:
        for adversarial in ((False, True) if name == "int8" else (False,)):
            t = Table(name, vocab, dim, PoolingMode.NONE, rng, adversarial)
            ids = rng.integers(0, vocab, n).astype(np.int32)
            offs = np.arange(n + 1, dtype=np.int32)
            got_f = t.m(torch.from_numpy(ids), torch.from_numpy(offs)).numpy()
            ref = t.rows_f32()[ids]
            ok_ref = bits_equal(got_f, ref)
            line = "FBGEMM TBE %s lookup (PoolingMode.NONE)%s, %d x %d, %d ids: %s FBGEMM's reference" % (
                name, ", adversarial (-0 bias, -0 products)" if adversarial else "", vocab, dim, n,
                "bit-equal to" if ok_ref else "differs from (%s)" % first_diff(got_f, ref))
            print(("PASS " if ok_ref else "FAIL ") + line)
            passed += ok_ref
            failed += not ok_ref
            for impl in lib.impls():
                lib.use_impl(impl)
                out = np.zeros((n, dim), np.float32)
                emb_lookup(lib, t, ids, out)()
                diff = out.view(np.uint32) != got_f.view(np.uint32)
                if name == "int8":
                    # Predicted: FBGEMM +0 where bias is -0 and scale * q is -0.
                    r = ids[:, None]
                    pred = ((t.bias[r] == 0) & np.signbit(t.bias[r]) & (t.q[ids] == 0) &
                            np.signbit(t.scale[r]))
                    ok = np.array_equal(diff, pred) and np.all(got_f.view(np.uint32)[pred] == 0) \
                        and np.all(out.view(np.uint32)[pred] == 0x80000000)
                    what = ("bit-equal" if not pred.any() else
                            "bit-equal but for the %d predicted elements (bias -0, scale*q -0: FBGEMM +0, "
                            "embsimd -0)" % int(pred.sum()))
                else:
                    ok = not diff.any()
                    what = "bit-equal"
                line = "embsimd %s lookup %s vs FBGEMM TBE%s: %s" % (
                    impl, "q8_rowwise (same scale and bias in fp32)" if name == "int8" else name + "->f32",
                    " (adversarial)" if adversarial else "",
                    what if ok else "FINDING: " + first_diff(out, got_f))
                print(("PASS " if ok else "FAIL ") + line)
                passed += ok
                failed += not ok
            lib.use_impl("auto")
        # Pooled bags against the reference formula.
        t = Table(name, vocab, dim, PoolingMode.SUM, rng)
        lengths = rng.integers(0, 21, 200)
        offs = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32)
        ids = rng.integers(0, vocab, int(offs[-1])).astype(np.int32)
        got = t.m(torch.from_numpy(ids), torch.from_numpy(offs)).numpy()
        ref = bag_model(t, ids, offs)
        ok = bits_equal(got, ref)
        line = "FBGEMM TBE %s pooled bags (SUM, 200 bags of 0-20 ids, %d x %d): %s %s" % (
            name, vocab, dim, "bit-equal to" if ok else "differs from",
            "fma(scale, q, buf + bias) from buf = 0" if name == "int8" else "the sequential fp32 sum from +0")
        print(("PASS " if ok else "FAIL ") + line + ("" if ok else ": " + first_diff(got, ref)))
        passed += ok
        failed += not ok
    return passed, failed


def timing(lib, rng, reps):
    rows = []
    for vocab, dim, n in SHAPES:
        ids = np.random.default_rng(20240229).integers(0, vocab, n).astype(np.int32)
        ids_t = torch.from_numpy(ids)
        offs1 = torch.arange(n + 1, dtype=torch.int32)
        bag = 20
        offs_bag = torch.arange(0, n + 1, bag, dtype=torch.int32)
        for name in TYPES:
            t = Table(name, vocab, dim, PoolingMode.NONE, rng)
            tb = Table(name, vocab, dim, PoolingMode.SUM, rng)
            out = np.zeros((n, dim), np.float32)
            e = emb_lookup(lib, t, ids, out)
            row_bytes = t.emb.nbytes // vocab if name != "int8" else dim + 4
            for threads in (1, 2):
                torch.set_num_threads(threads)
                lib.set_threads(threads)

                def fb():
                    t.m(ids_t, offs1)

                def fb_bag():
                    tb.m(ids_t, offs_bag)
                (tf, te, tbag), _ = interleaved([fb, e, fb_bag], reps=reps)
                nbytes = n * (row_bytes + dim * 4)
                bag_bytes = n * row_bytes + (n // bag) * dim * 4
                rows.append({"V": vocab, "D": dim, "N": n, "T": threads, "type": name,
                             "bytes": nbytes, "fbgemm_s": tf, "embsimd_s": te, "impl": lib.active(),
                             "fbgemm_bag_s": tbag, "bag_len": bag, "bag_bytes": bag_bytes})
                print("time %s V=%d D=%d N=%d T=%d: FBGEMM lookup %.1f GB/s, embsimd %.1f GB/s "
                      "(%.2fx); FBGEMM bags of %d %.1f GB/s" % (
                          name, vocab, dim, n, threads, nbytes / tf / 1e9, nbytes / te / 1e9, tf / te,
                          bag, bag_bytes / tbag / 1e9))
            lib.set_threads(0)
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build-dir", default=".")
    ap.add_argument("--json")
    ap.add_argument("--check-only", action="store_true")
    ap.add_argument("--reps", type=int, default=5)
    args = ap.parse_args()
    lib = load_embsimd(args.build_dir)
    from importlib.metadata import version
    ctx = context({"torch": torch.__version__, "fbgemm-gpu-cpu": version("fbgemm-gpu-cpu"),
                   "torch CPU capability": torch.backends.cpu.get_cpu_capability(),
                   "embsimd": lib.version, "implementations": lib.impls(),
                   "fbgemm call": "IntNBitTableBatchedEmbeddingBagsCodegen(...)(ids, offsets) on the host, "
                                  "output FP32, allocated by the call; int32 ids and offsets",
                   "embsimd call": "emb_lookup through ctypes into a preallocated output, int32 ids"})
    rng = np.random.default_rng(20240229)
    passed, failed = exactness(lib, rng)
    rows = [] if args.check_only else timing(lib, rng, args.reps)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"peer": "fbgemm", "context": ctx, "rows": rows, "passed": int(passed),
                       "failed": int(failed)}, f, indent=1)
    print("%d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
