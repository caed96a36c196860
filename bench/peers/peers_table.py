#!/usr/bin/env python3
"""peers_table.py - results/peers.md from a merged embsimd-bench + peers JSON
(compare_peers.py's): per shape and thread count, embsimd's best
implementation against PyTorch and numpy, forward and backward, with the
ratio, the one-hot products, and the bit-exactness findings."""

import json
import re
import sys

NAME = re.compile(r"^(?P<group>[^/]+)/(?P<impl>[^/]+)/V:(?P<V>\d+)/D:(?P<D>\d+)/N:(?P<N>\d+)"
                  r"/T:(?P<T>\d+)(?:/ids:(?P<ids>[a-z-]+))?/real_time(?:/threads:\d+)?$")


def medians(doc):
    """(group, impl, V, D, N, T, ids) -> the median row; ids None for the
    references that use uniform ids (copy, onehot/blas)."""
    out = {}
    for b in doc["benchmarks"]:
        if b.get("aggregate_name") != "median" or b.get("error_occurred"):
            continue
        m = NAME.match(b["run_name"])
        if m:
            key = (m["group"], m["impl"], int(m["V"]), int(m["D"]), int(m["N"]), int(m["T"]),
                   m["ids"])
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


def best(rows, group, shape):
    """embsimd's fastest implementation of lookup or grad at a shape."""
    found = [(gbs(r), k[1]) for k, r in rows.items()
             if k[0] == group and k[2:] == shape]
    return max(found) if found else (None, None)


def shapes(rows):
    return sorted({k[2:] for k in rows if k[0] in ("lookup", "grad", "torch", "numpy")
                   and k[6] is not None}, key=lambda s: (s[0], s[1], s[2], s[3], s[4]))


def forward_table(rows):
    out = ["| V | D | N | T | ids | where | embsimd (best impl) | torch F.embedding | × "
           "| torch index_select(out=) | × | numpy take | × | memcpy |",
           "|" + "---|" * 14]
    for v, d, n, t, ids in shapes(rows):
        ours, impl = best(rows, "lookup", (v, d, n, t, ids))
        fwd = rows.get(("torch", "embedding_fwd", v, d, n, t, ids))
        sel = rows.get(("torch", "index_select_out", v, d, n, t, ids))
        take = rows.get(("numpy", "take", v, d, n, t, ids))
        copy = rows.get(("copy", "memcpy", v, d, n, t, None))
        where = (fwd or sel or copy or {}).get("label", "")
        out.append("| %d | %d | %d | %d | %s | %s | %s%s | %s | %s | %s | %s | %s | %s | %s |" % (
            v, d, n, t, ids, where, fmt_gbs(ours), " (%s)" % impl if impl else "",
            fmt_gbs(gbs(fwd)), ratio(ours, gbs(fwd)), fmt_gbs(gbs(sel)), ratio(ours, gbs(sel)),
            fmt_gbs(gbs(take)), ratio(ours, gbs(take)), fmt_gbs(gbs(copy))))
    return out


def backward_table(rows):
    out = ["| V | D | N | T | ids | embsimd grad (best impl) | torch backward | × "
           "| numpy add.at | × | embsimd time | torch time |",
           "|" + "---|" * 12]
    for v, d, n, t, ids in shapes(rows):
        ours, impl = best(rows, "grad", (v, d, n, t, ids))
        bwd = rows.get(("torch", "embedding_bwd", v, d, n, t, ids))
        add = rows.get(("numpy", "add_at", v, d, n, t, ids))
        ours_row = rows.get(("grad", impl, v, d, n, t, ids)) if impl else None
        out.append("| %d | %d | %d | %d | %s | %s%s | %s | %s | %s | %s | %s | %s |" % (
            v, d, n, t, ids, fmt_gbs(ours), " (%s)" % impl if impl else "",
            fmt_gbs(gbs(bwd)), ratio(ours, gbs(bwd)), fmt_gbs(gbs(add)), ratio(ours, gbs(add)),
            fmt_time(ours_row), fmt_time(bwd)))
    return out


def onehot_table(rows):
    out = ["| V | D | N | T | embsimd lookup | OpenBLAS one-hot GEMM | torch one_hot @ W "
           "| lookup speed-up over torch one-hot |", "|" + "---|" * 8]
    seen = sorted({k[2:6] for k in rows if k[:2] == ("torch", "onehot_matmul")})
    for v, d, n, t in seen:
        mm = rows.get(("torch", "onehot_matmul", v, d, n, t, "uniform"))
        blas = rows.get(("onehot", "blas", v, d, n, t, None))
        _, impl = best(rows, "lookup", (v, d, n, t, "uniform"))
        look = rows.get(("lookup", impl, v, d, n, t, "uniform")) if impl else None
        speed = "—" if not (mm and look) else "%.0f×" % (mm["real_time"] / look["real_time"])
        out.append("| %d | %d | %d | %d | %s | %s | %s | %s |" % (
            v, d, n, t, fmt_time(look), fmt_time(blas), fmt_time(mm), speed))
    return out if seen else ["No shape within the one-hot work cap."]


def context_lines(ctx):
    keys = (("CPU", "cpu_model"), ("SIMD flags", "cpu_simd_flags"), ("last-level cache", "llc"),
            ("date", "run_date"), ("host", "run_host"), ("load", "load_average"),
            ("embsimd", "embsimd_version"), ("revision", "git_revision"),
            ("compiler", "compiler"), ("flags", "compiler_flags"),
            ("implementations", "implementations"), ("PyTorch", "peers torch_version"),
            ("PyTorch CPU capability", "peers torch_cpu_capability"),
            ("PyTorch BLAS", "peers torch_blas"), ("numpy", "peers numpy_version"),
            ("Python", "peers python"), ("seed", "seed"), ("timing (embsimd)", "timing"),
            ("timing (peers)", "peers timing"), ("interleaving", "peers_interleaving"),
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
        "## Context", ""] + context_lines(ctx) + [
        "", "## Forward: lookup, GB/s", ""] + forward_table(rows) + [
        "", "## Backward: gradient into the table, GB/s", "",
        "torch's dense backward allocates and zero-fills a V×D gradient per call (counted in "
        "its time, not its bytes); embsimd and numpy.add.at add into an existing one.", ""
        ] + backward_table(rows) + [
        "", "## One-hot product (what the lookup replaces), time per call, uniform ids", ""
        ] + onehot_table(rows) + [
        "", "## Bit-exactness against embsimd", "",
        "Each peer's result on the first batch of ids, compared bit for bit with embsimd's on "
        "the same inputs, for every shape, id distribution and thread count above: `finite` "
        "are the benchmark's inputs, `special` a table of IEEE special values (NaN payloads, "
        "±0, ±Inf, subnormals) and a dY of them without NaNs.", ""] + exactness_lines(ctx) + [""]
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
