#!/usr/bin/env python3
"""peers_table.py - results/peers.md from a merged embsimd-bench + peers JSON
(compare_peers.py's): per shape and thread count, embsimd's best
implementation against PyTorch and numpy with the ratio: first against the
fair peers (index_select(out=) for the lookup, index_add_ for the gradient),
then every lookup and gradient peer, nn.Embedding(sparse=True)'s forward +
backward, nn.Embedding's default dense backward, the one-hot products, the
lookups of f16 and bf16 tables, and the bit-exactness findings."""

import json
import re
import sys

# Names with the kernel's types and the ids' type
# (lookup/avx2/bf16->f32/V:../ids:uniform/idx:i64), and the older ones
# without them (f32 -> f32; embsimd's ids int32, torch's and numpy's int64).
NAME = re.compile(r"^(?P<group>[^/]+)/(?P<impl>[^/]+)(?:/(?P<kernel>[a-z0-9_]+->[a-z0-9_]+))?"
                  r"/V:(?P<V>\d+)/D:(?P<D>\d+)/N:(?P<N>\d+)/T:(?P<T>\d+)"
                  r"(?:/ids:(?P<ids>[a-z-]+))?(?:/idx:(?P<idx>i32|i64))?"
                  r"/real_time(?:/threads:\d+)?$")

# The ids' type the peers index with.
PEER_IDX = "i64"


def medians(doc):
    """(group, impl, kernel, idx, V, D, N, T, ids) -> the median row; ids and
    idx None for the references that use uniform ids (copy, onehot/blas)."""
    out = {}
    for b in doc["benchmarks"]:
        if b.get("aggregate_name") != "median" or b.get("error_occurred"):
            continue
        m = NAME.match(b["run_name"])
        if m:
            idx = m["idx"]
            if idx is None and m["ids"] is not None:
                idx = PEER_IDX if m["group"] in ("torch", "numpy") else "i32"
            key = (m["group"], m["impl"], m["kernel"] or "f32->f32", idx if m["ids"] else None,
                   int(m["V"]), int(m["D"]), int(m["N"]), int(m["T"]), m["ids"])
            out[key] = b
    return out


def gbs(row):
    return row["bytes_per_second"] * 1e-9 if row else None


def fmt_gbs(x):
    return "—" if x is None else "%.1f" % x


def ratio(ours, theirs):
    return "—" if ours is None or theirs is None else "%.2f×" % (ours / theirs)


def fmt_time(row):
    if row is None:
        return "—"
    ns = row["real_time"]
    return "%.0f µs" % (ns * 1e-3) if ns < 1e7 else "%.1f ms" % (ns * 1e-6)


def best(rows, group, shape, kernel="f32->f32"):
    """embsimd's fastest implementation of a lookup or grad kernel at a
    shape, with the peers' int64 ids where it ran with them: (GB/s, impl,
    idx)."""
    found = [(gbs(r), k[1], k[3]) for k, r in rows.items()
             if k[0] == group and k[2] == kernel and k[4:] == shape]
    same = [f for f in found if f[2] == PEER_IDX]
    return max(same or found) if found else (None, None, None)


def shapes(rows, kernel="f32->f32"):
    return sorted({k[4:] for k in rows if k[0] in ("lookup", "grad", "torch", "numpy")
                   and k[2] == kernel and k[8] is not None},
                  key=lambda s: (s[0], s[1], s[2], s[3], s[4]))


def _row(cells):
    return "| " + " | ".join(cells) + " |"


def _header(cols):
    return [_row(cols), "|" + "---|" * len(cols)]


def _ours(rows, group, shape, kernel="f32->f32"):
    """(GB/s, "GB/s (impl)" cell, the median row) of embsimd's best; the
    cell says "int32 ids" where embsimd did not run with the peers' int64."""
    g, impl, idx = best(rows, group, shape, kernel)
    row = rows.get((group, impl, kernel, idx) + shape) if impl else None
    note = "" if not impl else " (%s)" % impl if idx == PEER_IDX else " (%s, int32 ids)" % impl
    return g, fmt_gbs(g) + note, row


def _peer(rows, peer, shape, kernel="f32->f32"):
    group, impl = peer.split("/")
    return rows.get((group, impl, kernel, PEER_IDX) + shape)


def _copy(rows, shape, kernel="f32->f32"):
    return rows.get(("copy", "memcpy", kernel, None) + shape[:4] + (None,))


def _where(rows, shape, kernel="f32->f32"):
    for peer in ("torch/index_select_out", "torch/index_select_float", "torch/embedding_fwd",
                 "torch/index_add"):
        r = _peer(rows, peer, shape, kernel)
        if r:
            return r.get("label", "")
    return (_copy(rows, shape, kernel) or {}).get("label", "")


def fair_table(rows):
    """The leading table: each side against its fair peer."""
    out = _header(["V", "D", "N", "T", "ids", "where", "lookup: embsimd (best impl)",
                   "torch index_select(out=)", "×", "grad: embsimd (best impl)",
                   "torch index_add_", "×"])
    for shape in shapes(rows):
        look, look_cell, _ = _ours(rows, "lookup", shape)
        grad, grad_cell, _ = _ours(rows, "grad", shape)
        sel = gbs(_peer(rows, "torch/index_select_out", shape))
        add = gbs(_peer(rows, "torch/index_add", shape))
        out.append(_row(["%d" % x for x in shape[:4]] + [
            shape[4], _where(rows, shape), look_cell, fmt_gbs(sel), ratio(look, sel),
            grad_cell, fmt_gbs(add), ratio(grad, add)]))
    return out


# Two threads over one: never below SCALE_FLOOR, and at least SCALE_WANT where
# memcpy of the same bytes itself gains SCALE_MEMCPY.
SCALE_FLOOR, SCALE_WANT, SCALE_MEMCPY = 0.95, 1.5, 1.6


def scaling_table(rows):
    """T=2 over T=1 for embsimd's lookup and gradient at every shape run at
    both, next to memcpy's, each against the floor and the want above."""
    out = _header(["V", "D", "N", "ids", "where", "lookup T=1 → T=2, GB/s", "×",
                   "grad T=1 → T=2, GB/s", "×", "memcpy ×", "meets"])
    pairs = sorted({s[:3] + s[4:] for s in shapes(rows) if s[3] == 1
                    and s[:3] + (2,) + s[4:] in set(shapes(rows))})
    for v, d, n, ids in pairs:
        one, two = (v, d, n, 1, ids), (v, d, n, 2, ids)
        c1, c2 = gbs(_copy(rows, one)), gbs(_copy(rows, two))
        copy_gain = c2 / c1 if c1 and c2 else None
        cells, short = [], []
        for group in ("lookup", "grad"):
            g1, g2 = best(rows, group, one)[0], best(rows, group, two)[0]
            gain = g2 / g1 if g1 and g2 else None
            cells += ["%s → %s" % (fmt_gbs(g1), fmt_gbs(g2)),
                      "—" if gain is None else "%.2f×" % gain]
            if gain is not None and (gain < SCALE_FLOOR or (
                    copy_gain is not None and copy_gain >= SCALE_MEMCPY and gain < SCALE_WANT)):
                short.append(group)
        out.append(_row(["%d" % v, "%d" % d, "%d" % n, ids, _where(rows, one)] + cells + [
            "—" if copy_gain is None else "%.2f×" % copy_gain,
            "yes" if not short else "no: " + ", ".join(short)]))
    return out


def forward_table(rows):
    out = _header(["V", "D", "N", "T", "ids", "where", "embsimd (best impl)",
                   "torch index_select(out=)", "×", "torch F.embedding", "×", "numpy take",
                   "×", "memcpy"])
    for shape in shapes(rows):
        ours, cell, _ = _ours(rows, "lookup", shape)
        cols = [cell]
        for peer in ("torch/index_select_out", "torch/embedding_fwd", "numpy/take"):
            theirs = gbs(_peer(rows, peer, shape))
            cols += [fmt_gbs(theirs), ratio(ours, theirs)]
        copy = _copy(rows, shape)
        out.append(_row(["%d" % x for x in shape[:4]] + [shape[4], _where(rows, shape)] + cols
                        + [fmt_gbs(gbs(copy))]))
    return out


# The 16-bit tables' lookups and their peers: a bit copy next to
# index_select(out=) of the same dtype, the widening lookup next to
# index_select then .float() (copy_ into a preallocated f32 output).
TYPED = (("bf16->f32", "torch/index_select_float"), ("f16->f32", "torch/index_select_float"),
         ("bf16->bf16", "torch/index_select_out"), ("f16->f16", "torch/index_select_out"))


def typed_table(rows):
    out = _header(["V", "D", "N", "T", "ids", "where", "kernel", "embsimd (best impl)",
                   "torch", "GB/s", "×", "memcpy"])
    seen = False
    for kernel, peer in TYPED:
        for shape in shapes(rows, kernel):
            ours, cell, _ = _ours(rows, "lookup", shape, kernel)
            theirs = gbs(_peer(rows, peer, shape, kernel))
            if ours is None and theirs is None:
                continue
            seen = True
            what = "index_select(out=)" if peer.endswith("_out") else "index_select + .float()"
            out.append(_row(["%d" % x for x in shape[:4]] + [
                shape[4], _where(rows, shape, kernel), kernel, cell, what, fmt_gbs(theirs),
                ratio(ours, theirs), fmt_gbs(gbs(_copy(rows, shape, kernel)))]))
    return out if seen else ["Not run (compare_peers.py --types without f16 or bf16)."]


def grad_table(rows):
    out = _header(["V", "D", "N", "T", "ids", "embsimd grad (best impl)", "torch index_add_",
                   "×", "numpy add.at", "×", "embsimd time", "index_add_ time"])
    for shape in shapes(rows):
        ours, cell, ours_row = _ours(rows, "grad", shape)
        add = _peer(rows, "torch/index_add", shape)
        at = gbs(_peer(rows, "numpy/add_at", shape))
        out.append(_row(["%d" % x for x in shape[:4]] + [
            shape[4], cell, fmt_gbs(gbs(add)), ratio(ours, gbs(add)), fmt_gbs(at),
            ratio(ours, at), fmt_time(ours_row), fmt_time(add)]))
    return out


def sparse_table(rows):
    """nn.Embedding(sparse=True) forward + backward against embsimd's lookup
    + grad, time per call (the sum of the two best implementations' medians)."""
    out = _header(["V", "D", "N", "T", "ids", "embsimd lookup + grad",
                   "nn.Embedding(sparse=True) forward + backward", "×"])
    seen = False
    for shape in shapes(rows):
        sp = _peer(rows, "torch/embedding_sparse", shape)
        if sp is None:
            continue
        seen = True
        _, _, look = _ours(rows, "lookup", shape)
        _, _, grad = _ours(rows, "grad", shape)
        both = None
        if look and grad:
            both = {"real_time": look["real_time"] + grad["real_time"]}
        speed = "—" if both is None else "%.2f×" % (sp["real_time"] / both["real_time"])
        out.append(_row(["%d" % x for x in shape[:4]] + [shape[4], fmt_time(both),
                                                          fmt_time(sp), speed]))
    return out if seen else ["Not run."]


def dense_table(rows):
    out = _header(["V", "D", "N", "T", "ids", "embsimd grad (best impl)",
                   "torch dense backward", "×", "V×D zero-filled per call", "embsimd time",
                   "torch time"])
    for shape in shapes(rows):
        ours, cell, ours_row = _ours(rows, "grad", shape)
        bwd = _peer(rows, "torch/embedding_bwd", shape)
        fill = shape[0] * shape[1] * 4 / float(1 << 20)
        out.append(_row(["%d" % x for x in shape[:4]] + [
            shape[4], cell, fmt_gbs(gbs(bwd)), ratio(ours, gbs(bwd)), "%.1f MiB" % fill,
            fmt_time(ours_row), fmt_time(bwd)]))
    return out


def onehot_table(rows):
    out = ["| V | D | N | T | embsimd lookup | OpenBLAS one-hot GEMM | torch one_hot @ W "
           "| lookup speed-up over torch one-hot |", "|" + "---|" * 8]
    seen = sorted({k[4:8] for k in rows if k[:2] == ("torch", "onehot_matmul")})
    for v, d, n, t in seen:
        mm = _peer(rows, "torch/onehot_matmul", (v, d, n, t, "uniform"))
        blas = rows.get(("onehot", "blas", "f32->f32", None, v, d, n, t, None))
        _, impl, idx = best(rows, "lookup", (v, d, n, t, "uniform"))
        look = rows.get(("lookup", impl, "f32->f32", idx, v, d, n, t, "uniform")) if impl else None
        speed = "—" if not (mm and look) else "%.0f×" % (mm["real_time"] / look["real_time"])
        out.append("| %d | %d | %d | %d | %s | %s | %s | %s |" % (
            v, d, n, t, fmt_time(look), fmt_time(blas), fmt_time(mm), speed))
    return out if seen else ["No shape within the one-hot work cap."]


def context_lines(ctx):
    keys = (("CPU", "cpu_model"), ("SIMD flags", "cpu_simd_flags"), ("last-level cache", "llc"),
            ("date", "run_date"), ("host", "run_host"), ("load", "load_average"),
            ("embsimd", "embsimd_version"), ("revision", "git_revision"),
            ("compiler", "compiler"), ("flags", "compiler_flags"),
            ("implementations", "implementations"), ("schedule", "schedule"),
            ("PyTorch", "peers torch_version"),
            ("PyTorch CPU capability", "peers torch_cpu_capability"),
            ("PyTorch BLAS", "peers torch_blas"), ("numpy", "peers numpy_version"),
            ("Python", "peers python"), ("seed", "seed"), ("timing (embsimd)", "timing"),
            ("timing (peers)", "peers timing"), ("reruns", "peers_reruns"),
            ("interleaving", "peers_interleaving"),
            ("bytes", "peers bytes_definition"), ("one-hot left out", "peers skipped_onehot"),
            ("command", "peers_command"))
    out = ["| | |", "|---|---|"]
    for label, key in keys:
        if key in ctx:
            out.append("| %s | %s |" % (label, str(ctx[key]).replace("|", "\\|").replace("\n", " ")))
    return out


def exactness_lines(ctx):
    out = []
    for key in sorted(k for k in ctx if k.startswith("exactness ")):
        out.append("- `%s`: %s" % (key[len("exactness "):], ctx[key]))
    return out or ["- not checked (libembsimd.so was not found by torch_embedding.py)"]


def write(json_path, md_path, json_ref):
    with open(json_path) as f:
        doc = json.load(f)
    rows, ctx = medians(doc), doc["context"]
    lines = [
        "# embsimd next to PyTorch and numpy",
        "",
        "Generated by `make compare-peers` (bench/peers/compare_peers.py) from `%s`; do not edit."
        % json_ref,
        "GB/s count the same bytes for every column (see *bytes* below), so a ratio × is also "
        "the ratio of times per call; × > 1: embsimd is faster. Medians of the repetitions; "
        "`where`: LLC (table and rows fit the last-level cache), DRAM:rows, DRAM:table.",
        "",
        "The fair peers lead: embsimd's lookup next to `torch.index_select(W, 0, ids, out=)` "
        "into a preallocated output, and its gradient next to `dW.index_add_(0, ids, dY)` "
        "into a preallocated fp32 V×D table that, like emb_grad_f32's dtable, accumulates "
        "across calls. Neither allocates in the timed call and both are deterministic on the "
        "CPU; their results equal embsimd's bit for bit (see *Bit-exactness*). What they do "
        "that embsimd's C call does not, in their time: a Python call and PyTorch's dispatch "
        "(microseconds, visible when N is small). Both sides index with int64 ids (embsimd's "
        "`idx:i64` kernels; a cell marked *int32 ids* comes from a run without them). "
        "index_add_ adds one id's row at a time, on one thread at these D whatever T is. "
        "The other peers follow, then what `nn.Embedding` does by default.",
        "",
        "## Context", ""] + context_lines(ctx) + [
        "", "## Fair peers: lookup vs index_select(out=), gradient vs index_add_, GB/s", "",
        ] + fair_table(rows) + [
        "", "## Two threads over one, embsimd", "",
        "embsimd's best implementation at each thread count, and memcpy's copy of the same "
        "bytes split in two. Each figure must reach %.2f× at two threads, and %.1f× where "
        "memcpy itself gains %.1f× or more (*meets*)." % (SCALE_FLOOR, SCALE_WANT, SCALE_MEMCPY),
        ""] + scaling_table(rows) + [
        "", "## Lookup, every peer, GB/s", "",
        "`F.embedding` also allocates its N×D output on every call; `numpy.take` writes into "
        "a preallocated `out=` on one thread. memcpy: embsimd-bench's copy of the same bytes, "
        "the bound.", ""] + forward_table(rows) + [
        "", "## Gradient into an existing table, every peer, GB/s", "",
        "Each adds the batch's dY into one preallocated V×D table that accumulates across "
        "calls: nothing is allocated or zeroed in the timed call. `numpy.add.at` is "
        "single-threaded.", ""] + grad_table(rows) + [
        "", "## nn.Embedding(sparse=True): forward + backward, time per call", "",
        "`emb(ids).backward(dY)` with `nn.Embedding(V, D, sparse=True)` whose weight shares the "
        "table's memory: the forward allocates its N×D output and records the autograd graph; "
        "the backward returns an uncoalesced sparse COO gradient whose indices are the ids "
        "and whose values are dY itself (the same memory: nothing copied, nothing summed). It "
        "does not add into a table: the optimizer does that later, outside this time (SGD "
        "adds the entries into the weight one by one, `param.add_(grad, alpha=-lr)`; "
        "SparseAdam and Adagrad first `coalesce()` it: sort the ids, sum the duplicates). "
        "embsimd's column is its lookup plus its gradient added into the table (the sum of "
        "the two best implementations' times). Untimed: `weight.grad = None` between calls, "
        "which frees the last sparse gradient. × > 1: embsimd's lookup + grad takes less "
        "time.", ""] + sparse_table(rows) + [
        "", "## What nn.Embedding does by default: the dense backward, GB/s", "",
        "`nn.Embedding`'s default (`sparse=False`) backward, timed alone: it allocates a V×D "
        "fp32 gradient and zero-fills it on every call (the column *V×D zero-filled*: in its "
        "time, not in its bytes), then adds dY into it; `weight.grad = None` between calls, "
        "untimed. emb_grad_f32 adds into an existing table, so this is not its fair peer: "
        "at large V most of this time is the allocation and the zero-fill, which "
        "`torch.zeros(V, D)` alone would take.", ""
        ] + dense_table(rows) + [
        "", "## One-hot product (what the lookup replaces), time per call, uniform ids", ""
        ] + onehot_table(rows) + [
        "", "## f16 and bf16 tables: lookups, GB/s", "",
        "A 16-bit table read into its own type (a bit copy) next to `torch.index_select(W, 0, "
        "ids, out=)` of that dtype, and widened to f32 next to `index_select` followed by "
        "`.float()`, timed as `index_select(out=rows16)` then `out32.copy_(rows16)` so that "
        "nothing is allocated in the call. Bytes: each table row and output row in its own "
        "type (N·D·(2+4) widened, 2·N·D·2 copied); memcpy: embsimd-bench's copy of the same "
        "bytes. Both results are compared with embsimd's bit for bit (*Bit-exactness*, the "
        "`index_select_float` and `index_select_out bf16->bf16` lines).", ""] + typed_table(rows) + [
        "", "## Bit-exactness against embsimd", "",
        "Each peer's result on the first batch of ids, compared bit for bit with embsimd's on "
        "the same inputs, for every shape, id distribution and thread count above: `finite` "
        "are the benchmark's inputs, `special` a table of IEEE special values (NaN payloads, "
        "±0, ±Inf, subnormals) and a dY of them without NaNs. The peers that add into an "
        "existing table (index_add, add_at, and the sparse gradient added with "
        "`table.add_(grad)`, as SGD adds it) start from the table's own bits, as does "
        "emb_grad_f32 next to them; the dense backward and the sparse gradient's `coalesce()` "
        "(what SparseAdam and Adagrad sum) are compared with emb_grad_f32 from zero; the "
        "sparse gradient's values with dY.", ""] + exactness_lines(ctx) + [""]
    with open(md_path, "w") as f:
        f.write("\n".join(lines))


if __name__ == "__main__":
    if len(sys.argv) != 3:
        wants_help = len(sys.argv) == 2 and sys.argv[1] in ("-h", "--help")
        (sys.stdout if wants_help else sys.stderr).write(
            "usage: peers_table.py MERGED.json OUT.md\n"
            "  MERGED.json: compare_peers.py's results/runs/peers-*.json\n")
        sys.exit(0 if wants_help else 2)
    write(sys.argv[1], sys.argv[2], sys.argv[1])
