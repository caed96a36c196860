#!/usr/bin/env python3
"""gguf_oracle.py - GGML's own Python quantizers and dequantizers (the gguf
package) as the oracle for embsimd's q8_0, q4_0, q4_K and q6_K lookups,
bit for bit:

  1. gguf quantizes fp32 rows (random and adversarial) to Q8_0 / Q4_0;
     embsimd looks the blocks up; the result must equal gguf's
     dequantization of the same blocks bit for bit. gguf has no quantizer
     for the k-quants: their blocks are random bytes made here (finite
     fp16 scales, or any bits: NaN, Inf and subnormal d and dmin);
  2. blocks made by embsimd's own generators (the benchmarks' and the
     verifier's, bin gen-blocks) are dequantized by gguf to the same bits
     as embsimd's lookup of them;
  3. every fp16 scale with every quant value (q8_0: all 256 int8 values,
     q4_0: all 16 nibbles in both halves of a byte; q4_K: every fp16 d,
     each fp16 once as dmin, every nibble; q6_K: every fp16 d, every int8
     scale, every 6-bit quant), both ways;
  4. a GGUF file holding a token-embedding tensor (token_embd.weight, with
     its vocabulary) is written with gguf's writer, read back with gguf's
     reader, and its rows looked up through embsimd: the path a llama.cpp
     model's user takes (the k-quants' tensors written as their raw
     blocks with their GGML type).

Every implementation this CPU runs is checked. A difference is printed as a
finding with the element, the block bytes and both bit patterns. Ends with
'N passed, N failed'; exit status 0 when nothing failed, 77 when gguf or
numpy is not installed (SKIP printed with the reason)."""

import argparse
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "bench", "peers"))

try:
    import numpy as np
    import gguf
    from gguf import GGMLQuantizationType as QT
    from gguf import quants as gq
except ImportError as e:  # pragma: no cover - the optional environment
    print("SKIP: gguf oracle: %s (make optional-env installs the pinned gguf and numpy)" % e)
    sys.exit(77)

import embsimd_lib  # noqa: E402

QTYPES = {"q8_0": QT.Q8_0, "q4_0": QT.Q4_0, "q4_K": QT.Q4_K, "q6_K": QT.Q6_K}
BLOCK_BYTES = {"q8_0": 34, "q4_0": 18, "q4_K": 144, "q6_K": 210}
BLOCK = {"q8_0": 32, "q4_0": 32, "q4_K": 256, "q6_K": 256}
# gguf quantizes these; the k-quants' blocks are made here.
GGUF_QUANTIZES = ("q8_0", "q4_0")
# The byte offsets of each block's fp16 scales: d (q4_K: and dmin) first,
# q6_K's d last.
SCALE_AT = {"q8_0": (0,), "q4_0": (0,), "q4_K": (0, 2), "q6_K": (208,)}


class Tally:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def result(self, ok, what):
        if ok:
            self.passed += 1
            print("PASS %s" % what)
        else:
            self.failed += 1
            print("FAIL %s" % what)


def gguf_version():
    try:
        from importlib.metadata import version
        return version("gguf")
    except Exception:  # pragma: no cover
        return "unknown"


def lookup(lib, blocks, qtype, vocab, dim, ids):
    """embsimd's emb_lookup of rows ids of a q-type table into f32."""
    blocks = np.ascontiguousarray(blocks, dtype=np.uint8)
    ids = np.ascontiguousarray(ids, dtype=np.int32)
    out = np.empty((ids.size, dim), dtype=np.float32)
    lib.lookup_raw(blocks.ctypes.data, qtype, vocab, dim, ids.ctypes.data, "i32", ids.size,
                   out.ctypes.data, "f32")
    return out


def first_difference(a, b, blocks, qtype, dim, ids):
    """A finding: the first element whose bits differ, with its block."""
    ua, ub = a.view(np.uint32), b.view(np.uint32)
    bad = np.argwhere(ua != ub)
    r, j = (int(x) for x in bad[0])
    row = int(ids[r])
    bb, blk = BLOCK_BYTES[qtype], BLOCK[qtype]
    block = blocks[row, (j // blk) * bb:(j // blk + 1) * bb]
    return ("%d of %d elements differ; first: row %d element %d: embsimd 0x%08x, gguf 0x%08x; "
            "block bytes %s" % (bad.shape[0], ua.size, row, j, ua[r, j], ub[r, j],
                                bytes(block).hex()))


def compare(tally, lib, impls, blocks, qtype, dim, what, ids=None):
    """embsimd's lookup of every row (and of ids, when given) under every
    implementation against gguf's dequantization of the same blocks."""
    vocab = blocks.shape[0]
    with np.errstate(all="ignore"):
        ref = gq.dequantize(blocks, QTYPES[qtype]).reshape(vocab, dim).astype(np.float32)
    sets = [("every row", np.arange(vocab, dtype=np.int32))]
    if ids is not None:
        sets.append(("%d random ids" % ids.size, ids))
    for impl in impls:
        lib.use_impl(impl)
        for label, idx in sets:
            got = lookup(lib, blocks, qtype, vocab, dim, idx)
            want = ref[idx]
            ok = np.array_equal(got.view(np.uint32), want.view(np.uint32))
            msg = "%s %s, %s (%d x %d), %s: %d elements bit-equal" % (
                qtype, what, label, vocab, dim, impl, got.size)
            if not ok:
                msg = "%s %s, %s (%d x %d), %s: FINDING: %s" % (
                    qtype, what, label, vocab, dim, impl,
                    first_difference(got, want, blocks, qtype, dim, idx))
            tally.result(ok, msg)
    lib.use_impl("auto")


def adversarial_rows(rng, dim):
    """fp32 rows each built to stress one corner of the quantizers: their
    blocks are whatever gguf makes of them; the check is on dequantization."""
    rows = []
    f = np.float32
    rows.append(np.zeros(dim, f))                                   # d = 0
    rows.append(np.full(dim, -0.0, f))                              # -0 everywhere
    rows.append(np.full(dim, 1.0, f))                               # one value
    rows.append(np.linspace(-1, 1, dim, dtype=f))                   # ramps
    rows.append((np.arange(dim) % 32 - 15.5).astype(f))             # halves: ties
    rows.append(rng.standard_normal(dim).astype(f) * f(1e-7))       # d subnormal in fp16
    rows.append(rng.standard_normal(dim).astype(f) * f(1e-12))      # d underflows to 0
    rows.append(rng.standard_normal(dim).astype(f) * f(6e6))        # d near fp16's max
    rows.append(rng.standard_normal(dim).astype(f) * f(1e9))        # d overflows: Inf scale
    big = rng.standard_normal(dim).astype(f)
    big[::32] = f(3.0e38)
    rows.append(big)                                                # one huge per block
    inf = rng.standard_normal(dim).astype(f)
    inf[5::32] = np.inf
    inf[17::64] = -np.inf
    rows.append(inf)                                                # Inf in the block
    nan = rng.standard_normal(dim).astype(f)
    nan[3::32] = np.nan
    rows.append(nan)                                                # NaN in the block
    sub = (rng.standard_normal(dim) * 1e-39).astype(f)
    rows.append(sub)                                                # fp32 subnormals
    one = np.zeros(dim, f)
    one[::32] = f(-2.5)
    rows.append(one)                                                # one nonzero per block
    return np.stack(rows)


def quantize(blocks_from, qtype):
    with np.errstate(all="ignore"):
        return gq.quantize(blocks_from, QTYPES[qtype])


def random_k_blocks(rng, qtype, rows, dim, finite):
    """Rows of k-quant super-blocks of random bytes; with finite, the fp16
    scales are N(0, 1) values times e^-8 .. e^8 (finite), else whatever
    the bytes are (NaN, Inf and subnormal scales among them)."""
    bb, nb = BLOCK_BYTES[qtype], dim // BLOCK[qtype]
    blocks = rng.integers(0, 256, (rows * nb, bb), dtype=np.uint8)
    if finite:
        for at in SCALE_AT[qtype]:
            v = rng.standard_normal(rows * nb) * np.exp(rng.uniform(-8, 8, rows * nb))
            blocks[:, at:at + 2] = v.astype(np.float16).view(np.uint8).reshape(-1, 2)
    return blocks.reshape(rows, nb * bb)


def exhaustive_k_blocks(rng, qtype):
    """One super-block per fp16 pattern h: d = h; q4_K's dmin the pattern
    h x 40503 + 12345 (every pattern once), its packed 6-bit scales and mins
    random, each byte of qs holding nibble j % 16 low and 15 - j % 16 high;
    q6_K's int8 scales running through all 256 values every 16 rows, the
    element e of each super-block the 6-bit code e % 64."""
    h = np.arange(65536, dtype=np.uint32)
    if qtype == "q4_K":
        blocks = np.zeros((65536, 144), dtype=np.uint8)
        blocks[:, 0:2] = h.astype(np.uint16).view(np.uint8).reshape(-1, 2)
        dmin = ((h * 40503 + 12345) & 0xFFFF).astype(np.uint16)
        blocks[:, 2:4] = dmin.view(np.uint8).reshape(-1, 2)
        blocks[:, 4:16] = rng.integers(0, 256, (65536, 12), dtype=np.uint8)
        j = np.arange(128)
        blocks[:, 16:] = ((j % 16) | ((15 - j % 16) << 4)).astype(np.uint8)
        return blocks, 256
    blocks = np.zeros((65536, 210), dtype=np.uint8)
    e = np.arange(256)
    code = e % 64
    n, r, l = e // 128, (e % 128) // 32, e % 32
    ql = np.zeros(128, dtype=np.uint8)
    qh = np.zeros(64, dtype=np.uint8)
    np.bitwise_or.at(ql, 64 * n + 32 * (r & 1) + l,
                     ((code & 15) << (4 * (r >> 1))).astype(np.uint8))
    np.bitwise_or.at(qh, 32 * n + l, ((code >> 4) << (2 * r)).astype(np.uint8))
    blocks[:, :128] = ql
    blocks[:, 128:192] = qh
    blocks[:, 192:208] = ((h[:, None] * 16 + np.arange(16)) & 0xFF).astype(np.uint8)
    blocks[:, 208:210] = h.astype(np.uint16).view(np.uint8).reshape(-1, 2)
    return blocks, 256


def exhaustive_blocks(rng, qtype):
    """Every fp16 scale pattern with every quant value."""
    if qtype in ("q4_K", "q6_K"):
        return exhaustive_k_blocks(rng, qtype)
    scales = np.arange(65536, dtype=np.uint16).view(np.uint8).reshape(65536, 2)
    if qtype == "q8_0":
        per = 8  # 8 blocks of 32 quants: all 256 int8 values
        q = (np.arange(per * 32) % 256).astype(np.uint8).reshape(per, 32)
        blocks = np.concatenate([np.repeat(scales, per, axis=0), np.tile(q, (65536, 1))], axis=1)
        return blocks.reshape(65536, per * 34), per * 32
    # q4_0: one block; byte j holds nibble j in its low half and 15 - j in its high one
    j = np.arange(16, dtype=np.uint8)
    qs = (j | ((15 - j) << 4)).astype(np.uint8)
    blocks = np.concatenate([scales, np.tile(qs, (65536, 1))], axis=1)
    return blocks.reshape(65536, 18), 32


def gen_blocks(tool, qtype, generator, rows, dim, seed):
    out = subprocess.run([tool, qtype, generator, str(rows), str(dim), str(seed)],
                         check=True, stdout=subprocess.PIPE).stdout
    return np.frombuffer(out, dtype=np.uint8).reshape(rows, -1).copy()


def gguf_file_check(tally, lib, impls, tmpdir, rng):
    """Writes token_embd.weight (f32, f16, q8_0, q4_0, q4_K, q6_K) with a
    vocabulary to GGUF files, reads them back and looks tokens up through
    embsimd. gguf cannot quantize the k-quants: their tensors are raw
    super-blocks (finite scales) handed to the writer with their type."""
    vocab, dim = 1000, 256
    tokens = ["<unk>"] + ["tok%d" % i for i in range(1, vocab)]
    table = rng.standard_normal((vocab, dim)).astype(np.float32)
    words = ["tok7", "tok999", "<unk>", "tok7", "tok512"]
    want_types = {"f32": QT.F32, "f16": QT.F16, "q8_0": QT.Q8_0, "q4_0": QT.Q4_0,
                  "q4_K": QT.Q4_K, "q6_K": QT.Q6_K}
    for name, qt in want_types.items():
        path = os.path.join(tmpdir, "token_embd-%s.gguf" % name)
        w = gguf.GGUFWriter(path, "llama")
        w.add_token_list(tokens)
        if name == "f32":
            w.add_tensor("token_embd.weight", table)
        elif name == "f16":
            w.add_tensor("token_embd.weight", table.astype(np.float16))
        elif name in GGUF_QUANTIZES:
            w.add_tensor("token_embd.weight", quantize(table, name), raw_dtype=qt)
        else:
            w.add_tensor("token_embd.weight", random_k_blocks(rng, name, vocab, dim, True),
                         raw_dtype=qt)
        w.write_header_to_file()
        w.write_kv_data_to_file()
        w.write_tensors_to_file()
        w.close()

        r = gguf.GGUFReader(path)
        t = next(t for t in r.tensors if t.name == "token_embd.weight")
        field = r.fields["tokenizer.ggml.tokens"]
        vocab_read = [bytes(field.parts[i]).decode() for i in field.data]
        ne = [int(x) for x in t.shape]  # GGML order: ne[0] = dim, ne[1] = vocab
        ok_meta = (t.tensor_type == qt and ne == [dim, vocab] and vocab_read == tokens)
        raw = np.ascontiguousarray(t.data).view(np.uint8).reshape(vocab, -1)
        ids = np.array([vocab_read.index(w_) for w_ in words], dtype=np.int32)
        with np.errstate(all="ignore"):
            if name == "f32":
                ref = raw.view(np.float32)
            elif name == "f16":
                ref = raw.view(np.float16).astype(np.float32)
            else:
                ref = gq.dequantize(raw, qt).reshape(vocab, dim)
        for impl in impls:
            lib.use_impl(impl)
            out = np.empty((ids.size, dim), dtype=np.float32)
            lib.lookup_raw(raw.ctypes.data, name, vocab, dim, ids.ctypes.data, "i32", ids.size,
                           out.ctypes.data, "f32")
            ok = ok_meta and np.array_equal(out.view(np.uint32), ref[ids].view(np.uint32))
            extra = "" if name != "f32" else ", rows equal to the table written"
            if name == "f32":
                ok = ok and np.array_equal(out.view(np.uint32), table[ids].view(np.uint32))
            tally.result(ok, "GGUF file token_embd.weight %s (%d x %d, %d tokens by name: %s), "
                         "gguf %s reader, %s: embsimd's rows bit-equal to gguf's values%s" % (
                             name, vocab, dim, ids.size, " ".join(words), gguf_version(), impl,
                             extra))
        lib.use_impl("auto")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build-dir", default=".", help="where src/.libs/libembsimd.so is")
    ap.add_argument("--lib", help="the library to load (default: from --build-dir)")
    ap.add_argument("--gen-blocks", help="the gen-blocks program (default: BUILD/optional/gen-blocks)")
    ap.add_argument("--seed", type=int, default=20240229)
    args = ap.parse_args()

    path, tried = embsimd_lib.find_library(args.lib, args.build_dir)
    if path is None:
        print("gguf_oracle: libembsimd.so not found; tried %s" % ", ".join(tried), file=sys.stderr)
        return 2
    lib = embsimd_lib.Embsimd(path)
    impls = lib.impls()
    tool = args.gen_blocks or os.path.join(args.build_dir, "optional", "gen-blocks")
    print("gguf %s, numpy %s, embsimd %s (%s), implementations: %s" % (
        gguf_version(), np.__version__, lib.version, path, ", ".join(impls)))
    tally = Tally()
    rng = np.random.default_rng(args.seed)

    for qtype in QTYPES:
        dim = 256 if qtype in GGUF_QUANTIZES else 512
        ids = rng.integers(0, 2048, 4096).astype(np.int32)
        if qtype in GGUF_QUANTIZES:
            # 1. gguf quantizes, embsimd looks up, gguf dequantizes
            rand = rng.standard_normal((2048, dim)).astype(np.float32)
            wide = (rng.standard_normal((512, dim))
                    * np.exp(rng.uniform(-20, 20, (512, 1)))).astype(np.float32)
            adv = adversarial_rows(rng, dim)
            compare(tally, lib, impls, quantize(rand, qtype), qtype, dim,
                    "quantized by gguf from N(0,1) rows", ids)
            compare(tally, lib, impls, quantize(wide, qtype), qtype, dim,
                    "quantized by gguf from rows of magnitude e^-20 .. e^20")
            compare(tally, lib, impls, quantize(adv, qtype), qtype, dim,
                    "quantized by gguf from %d adversarial rows" % adv.shape[0])
        else:
            # 1. random super-blocks (gguf has no k-quant quantizer)
            compare(tally, lib, impls, random_k_blocks(rng, qtype, 2048, dim, True), qtype, dim,
                    "random super-blocks, finite scales", ids)
            compare(tally, lib, impls, random_k_blocks(rng, qtype, 2048, dim, False), qtype, dim,
                    "random super-blocks, any bits (NaN, Inf, subnormal scales)", ids)
        # 2. embsimd's generators make the blocks
        if os.path.isfile(tool):
            for gen in ("bench", "finite", "bits", "adversarial"):
                blocks = gen_blocks(tool, qtype, gen, 1024, dim, args.seed)
                compare(tally, lib, impls, blocks, qtype, dim,
                        "made by embsimd's %s generator" % gen)
        else:
            tally.result(False, "%s: gen-blocks not found at %s (make optional/gen-blocks)" % (qtype, tool))
        # 3. every scale with every quant
        blocks, edim = exhaustive_blocks(rng, qtype)
        compare(tally, lib, impls, blocks, qtype, edim, "every fp16 scale x every quant")

    with tempfile.TemporaryDirectory(prefix="embsimd-gguf-") as tmpdir:
        gguf_file_check(tally, lib, impls, tmpdir, rng)

    print("%d passed, %d failed" % (tally.passed, tally.failed))
    return 0 if tally.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
