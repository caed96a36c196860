#!/usr/bin/env python3
"""peers_section.py - writes the ggml and FBGEMM section of results/peers.md
from the reports of optional/ggml_peer.py and optional/fbgemm_peer.py (or,
for a peer that could not run, one line saying why), between the markers
below, and keeps the reports as results/runs/peers-optional-<host>-<UTC
date>.json. Standard library only.

Usage: peers_section.py --results DIR [--ggml JSON | --ggml-skip REASON]
                        [--fbgemm JSON | --fbgemm-skip REASON]"""

import argparse
import json
import os
import socket
import sys
import time

BEGIN = "<!-- optional-peers: begin (make compare-peers, optional/peers_section.py) -->"
END = "<!-- optional-peers: end -->"


def gbs(nbytes, seconds):
    return "%.1f" % (nbytes / seconds / 1e9)


def context_table(ctx, keys):
    lines = ["| | |", "|---|---|"]
    for k in keys:
        if k in ctx:
            v = ctx[k]
            if isinstance(v, list):
                v = ", ".join(v)
            lines.append("| %s | %s |" % (k, v))
    return lines


def ggml_section(rep):
    ctx = rep["context"]
    out = ["### ggml get_rows (ggml-python %s, built from source)" % ctx.get("ggml-python", "?"), ""]
    out.append("Exactness first: %d checks passed, %d failed (f32, f16, q8_0 and q4_0 tables, "
               "N(0, 0.05) rows and embsimd's random-bit tables with NaN payloads and Inf "
               "scales, every embsimd implementation: ggml's rows and embsimd's are bit-equal)."
               % (rep["passed"], rep["failed"]))
    out.append("ggml's CPU backend runs GET_ROWS as one task whatever its thread count "
               "(`n_tasks = 1` in ggml-cpu.c), so the ratio × is against embsimd on 1 thread; "
               "embsimd on 2 threads is the last column. GB/s count N·(table row + f32 output "
               "row) bytes for both. × > 1: embsimd is faster.")
    out.append("")
    out += context_table(ctx, ["cpu", "date", "load", "cpus", "revision", "embsimd", "implementations",
                               "ggml-python", "ggml build", "ggml threads", "gguf", "numpy", "python"])
    out += ["", "| V | D | N | table | ggml GB/s (T=1) | embsimd GB/s (T=1) | × | embsimd GB/s (T=2) | bit-equal |",
            "|---|---|---|---|---|---|---|---|---|"]
    for r in rep["rows"]:
        out.append("| %d | %d | %d | %s | %s | %s (%s) | %.2f× | %s | %s |" % (
            r["V"], r["D"], r["N"], r["type"], gbs(r["bytes"], r["ggml_s"]),
            gbs(r["bytes"], r["embsimd_s"]), r["impl"], r["ggml_s"] / r["embsimd_s"],
            gbs(r["bytes"], r["embsimd_t2_s"]), "yes" if r["bit_equal"] else "NO"))
    return out


def fbgemm_section(rep):
    ctx = rep["context"]
    out = ["### FBGEMM TBE on the CPU (fbgemm-gpu-cpu %s, torch %s)" % (
        ctx.get("fbgemm-gpu-cpu", "?"), ctx.get("torch", "?")), ""]
    out.append("Exactness first: %d checks passed, %d failed. FBGEMM's plain lookup "
               "(PoolingMode.NONE) equals embsimd's f32 and f16 lookups bit for bit, and its "
               "INT8 row-wise lookup equals embsimd's q8_rowwise of the same scale and bias "
               "except exactly where embsimd's docs/api.md predicts (bias −0 and scale·q = −0: "
               "FBGEMM's `fma(scale, q, 0 + bias)` gives +0, embsimd's `fmaf(scale, q, bias)` −0); "
               "FBGEMM's pooled bags equal its reference formula (`buf = fma(scale, q, buf + "
               "bias)`, fp32/fp16: the sequential sum from +0) bit for bit."
               % (rep["passed"], rep["failed"]))
    out.append("Both sides on T threads (torch.set_num_threads, emb_set_num_threads). FBGEMM is "
               "called through its Python module, which allocates the output per call; embsimd "
               "through ctypes into a preallocated output. GB/s: lookup N·(table row + f32 row); "
               "bags of 20 ids: N·(table row) + N/20·(f32 row). embsimd's pooled bags are pending "
               "(the EmbeddingBag work): FBGEMM's time only. INT8 rows are FBGEMM's D + 4 bytes "
               "(fp16 scale and bias) on its side, D + 8 (fp32) on embsimd's; GB/s count D + 4 "
               "for both.")
    out.append("")
    out += context_table(ctx, ["cpu", "date", "load", "cpus", "revision", "embsimd", "implementations",
                               "torch", "fbgemm-gpu-cpu", "torch CPU capability", "fbgemm call",
                               "embsimd call", "numpy", "python"])
    out += ["", "| V | D | N | T | table | FBGEMM lookup GB/s | embsimd GB/s | × | FBGEMM bags of 20, GB/s | embsimd bags |",
            "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rep["rows"]:
        out.append("| %d | %d | %d | %d | %s | %s | %s (%s) | %.2f× | %s | pending |" % (
            r["V"], r["D"], r["N"], r["T"], r["type"], gbs(r["bytes"], r["fbgemm_s"]),
            gbs(r["bytes"], r["embsimd_s"]), r["impl"], r["fbgemm_s"] / r["embsimd_s"],
            gbs(r["bag_bytes"], r["fbgemm_bag_s"])))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--results", required=True)
    ap.add_argument("--ggml")
    ap.add_argument("--ggml-skip")
    ap.add_argument("--fbgemm")
    ap.add_argument("--fbgemm-skip")
    ap.add_argument("--notes", help="a markdown file appended to the section")
    args = ap.parse_args()
    lines = [BEGIN, "", "## ggml and FBGEMM (optional peers)", "",
             "From `make compare-peers` when the optional environments are installed "
             "(`make optional-env`, `make optional-env-fbgemm`; docs/peers.md, \"Optional references and "
             "peers\"). Times are medians of 5 interleaved repetitions of at least 0.05 s, wall clock; "
             "uniform int32 ids from seed 20240229.", ""]
    reports = {}
    for peer, path, skip, section in (("ggml", args.ggml, args.ggml_skip, ggml_section),
                                       ("fbgemm", args.fbgemm, args.fbgemm_skip, fbgemm_section)):
        rep = None
        if path and os.path.isfile(path):
            with open(path) as f:
                rep = json.load(f)
        if rep is not None:
            reports[peer] = rep
            lines += section(rep) + [""]
        else:
            lines += ["### %s" % ("ggml get_rows" if peer == "ggml" else "FBGEMM"), "",
                      "Not measured in this run: %s" % ((skip or "no report").replace("_", " ")), ""]
    if args.notes and os.path.isfile(args.notes):
        with open(args.notes) as f:
            lines += [f.read().rstrip(), ""]
    lines.append(END)
    md = os.path.join(args.results, "peers.md")
    text = ""
    if os.path.isfile(md):
        with open(md) as f:
            text = f.read()
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        tail = rest.split(END, 1)[1]
        text = head.rstrip("\n") + "\n\n" + "\n".join(lines) + tail
    else:
        text = text.rstrip("\n") + "\n\n" + "\n".join(lines) + "\n"
    with open(md, "w") as f:
        f.write(text)
    if reports:
        runs = os.path.join(args.results, "runs")
        os.makedirs(runs, exist_ok=True)
        name = "peers-optional-%s-%s.json" % (socket.gethostname().split(".")[0],
                                              time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()))
        with open(os.path.join(runs, name), "w") as f:
            json.dump(reports, f, indent=1)
        print("peers_section: wrote %s and runs/%s" % (md, name))
    else:
        print("peers_section: wrote %s (no peer measured)" % md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
