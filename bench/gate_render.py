"""gate_render.py - what the regression gate writes: the verdict table, Google
Benchmark JSON of each build's runs (for compare.py), and the recorded
baselines' markdown, SVG and section of results/README.md.

Standard library only.
"""

import json
import os

FORMAT = "embsimd-gate-baseline/1"

KIND_LABEL = {"time": "CPU time", "memcpy": "÷ memcpy", "scalar": "÷ scalar",
              "instructions": "instructions"}


def say(msg=""):
    print(msg, flush=True)


def _fmt(kind, x):
    if x is None:
        return "–"
    if kind == "instructions":
        return "{:,}".format(x)
    if kind == "time":
        return "%.1f µs" % (x / 1000.0) if x < 1e7 else "%.2f ms" % (x / 1e6)
    return "%.3f" % x


def _fmt_change(change):
    return "–" if change is None else "%+.1f %%" % (100.0 * change)


def verdict(row):
    text = row.status + (" (%s)" % row.note if row.note else "")
    if row.recheck is not None:
        text += "; recheck: %s %s, p %s" % (
            _fmt_change(row.recheck.change), row.recheck.status,
            "%.3f" % row.recheck.p if row.recheck.p is not None else "–")
    return text


def print_table(rows):
    """One line per figure: reference, head, change (positive: head slower),
    the rank test's p-value and the verdict."""
    header = ["kernel", "figure", "reference", "head", "slower by", "p", "verdict"]
    lines = [[r.case, KIND_LABEL.get(r.kind, r.kind), _fmt(r.kind, r.ref), _fmt(r.kind, r.head),
              _fmt_change(r.change), "%.3f" % r.p if r.p is not None else "–", verdict(r)]
             for r in rows]
    widths = [max([len(h)] + [len(l[i]) for l in lines]) for i, h in enumerate(header)]

    def row(cells):
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths)) + " |"

    say(row(header))
    say("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for l in lines:
        say(row(l))


def gbench_entries(records):
    """Measurements in Google Benchmark's JSON form: one family per case, one
    repetition per measurement, so compare.py can pair two builds."""
    names = []
    for r in records:
        if r["case"] not in names:
            names.append(r["case"])
    entries = []
    for fi, name in enumerate(names):
        mine = [r for r in records if r["case"] == name]
        for i, r in enumerate(mine):
            entries.append({
                "name": name, "family_index": fi, "per_family_instance_index": 0,
                "run_name": name, "run_type": "iteration", "repetitions": len(mine),
                "repetition_index": i, "threads": 1, "iterations": r["iterations"],
                "real_time": r["real_ns"], "cpu_time": r["cpu_ns"], "time_unit": "ns",
                "bytes_per_second": r["bytes"] / (r["real_ns"] * 1e-9) if r["real_ns"] > 0 else 0.0,
                "label": r.get("label", "")})
    return entries


def write_gbench_json(path, ctx, records):
    """Google Benchmark's JSON layout with the gate's context: compare.py
    benchmarks ref.json head.json pairs the two builds' measurements."""
    doc = {"context": ctx, "benchmarks": gbench_entries(records)}
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    os.replace(tmp, path)


def write_verdict_json(path, ctx, rows, extra):
    doc = dict(extra, context=ctx, figures=[r.as_dict() for r in rows])
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    os.replace(tmp, path)


# --- recorded baselines: history and cross-machine reporting -------------------------


def write_baseline(path, ctx, entries, figs, counts):
    """entries: Google Benchmark JSON entries (gbench_entries)."""
    # One measurement per line: the file stays readable and a third the size.
    head = json.dumps({"format": FORMAT, "context": ctx}, indent=1)[:-2]

    def lines(d):
        return "{\n" + ",\n".join("   %s: %s" % (json.dumps(k), json.dumps(v)) for k, v in d.items()) + "\n  }"

    gate = '{\n  "ratios": %s,\n  "instructions": %s\n }' % (lines(figs), lines(counts))
    entries = ",\n  ".join(json.dumps(e) for e in entries)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write('%s,\n "benchmarks": [\n  %s\n ],\n "gate": %s\n}\n' % (head, entries, gate))
    os.replace(tmp, path)


def _esc(s):
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def markdown_tables(doc, image=None):
    """A recorded baseline's context, ratios and counts as markdown."""
    ctx, figs, counts = doc["context"], doc["gate"]["ratios"], doc["gate"]["instructions"]
    out = ["| context | |", "| --- | --- |"]
    for label, key in (("date", "run_date"), ("host", "run_host"), ("CPU", "cpu_model"),
                       ("SIMD flags", "cpu_simd_flags"), ("last-level cache", "llc"),
                       ("compiler", "compiler"), ("compiler flags", "compiler_flags"),
                       ("configure", "configure_options"), ("embsimd", "embsimd_version"),
                       ("git revision", "git_revision"), ("C library", "libc"),
                       ("valgrind", "valgrind"), ("load", "load_average"),
                       ("recordings", "recordings"), ("timing", "gate_timing")):
        value = ctx.get(key)
        if isinstance(value, list):
            value = "; ".join(value)
        if value:
            out.append("| %s | %s |" % (label, value.replace("|", "\\|")))
    out += ["", "Same-run ratios by CPU time: the figure recorded (see *timing*); *range*: "
            "from the lowest to the highest process median.", "",
            "| kernel | ÷ memcpy | range | ÷ scalar | range |", "| --- | ---: | ---: | ---: | ---: |"]

    def cell(f, digits):
        if f is None:
            return ["–", "–"]
        pv = f.get("process_values", [f["value"]])
        return ["%.*f" % (digits, f["value"]), "%.*f–%.*f" % (digits, min(pv), digits, max(pv))]

    cases = []
    for f in figs.values():
        if f["case"] not in cases:
            cases.append(f["case"])
    for case in cases:
        cells = cell(figs.get(case + " / memcpy"), 3) + cell(figs.get(case + " / scalar"), 2)
        out.append("| %s | %s |" % (case, " | ".join(cells)))
    out += ["", "Instructions inside one API call (callgrind; embsimd's own code, the rest is "
            "the C library's memcpy and pthread_once):", "",
            "| kernel | instructions | of which embsimd |", "| --- | ---: | ---: |"]
    for case in counts:
        out.append("| %s | {:,} | {:,} |".format(counts[case]["instructions"], counts[case]["embsimd"]) % case)
    if image:
        out += ["", "![same-run ratios of the baseline](%s)" % image]
    return "\n".join(out) + "\n"


def svg_plot(doc, path):
    """Bars of a baseline's ratios with the range of their samples."""
    figs = doc["gate"]["ratios"]
    panels = [("memcpy", "kernel ÷ same-run memcpy of its bytes (CPU time)"),
              ("scalar", "SIMD kernel ÷ scalar kernel, same shape")]
    row_h, label_w, bar_w, top = 18, 330, 420, 40
    parts, y = [], top
    for kind, title in panels:
        items = [f for f in figs.values() if f["kind"] == kind]
        if not items:
            continue
        hi = max(max(f.get("samples", []) + [f["value"]]) for f in items)
        scale = bar_w / (hi * 1.08)
        parts.append('<text x="10" y="%d" font-weight="bold">%s</text>' % (y, _esc(title)))
        y += 10
        for f in items:
            w = f["value"] * scale
            samples = f.get("samples") or [f["value"]]
            lo_x = label_w + min(samples) * scale
            hi_x = label_w + max(samples) * scale
            parts.append('<text x="%d" y="%d" text-anchor="end">%s</text>' % (label_w - 6, y + 13, _esc(f["case"])))
            parts.append('<rect x="%d" y="%d" width="%.1f" height="%d" fill="#4a7bb7"/>' % (
                label_w, y + 3, w, row_h - 6))
            parts.append('<line x1="%.1f" x2="%.1f" y1="%d" y2="%d" stroke="black"/>' % (lo_x, hi_x, y + row_h // 2, y + row_h // 2))
            parts.append('<text x="%.1f" y="%d">%.3f</text>' % (max(hi_x, label_w + w) + 6, y + 13, f["value"]))
            y += row_h
        if kind == "memcpy":
            x1 = label_w + scale
            parts.append('<line x1="%.1f" x2="%.1f" y1="%d" y2="%d" stroke="#c33" stroke-dasharray="4 3"/>' % (x1, x1, y - row_h * len(items), y))
        y += 30
    ctx = doc["context"]
    caption = "%s; %s; %s; %s" % (ctx.get("cpu_model", ""), ctx.get("compiler", ""),
                                  ctx.get("git_revision", ""), ctx.get("run_date", ""))
    parts.append('<text x="10" y="%d" font-size="11">%s</text>' % (y - 16, _esc(caption)))
    parts.append('<text x="10" y="%d" font-size="11">bar: the recorded figure; line: range of '
                 'all rounds; dashed: memcpy</text>' % y)
    y += 10
    width = label_w + bar_w + 90
    svg = ['<?xml version="1.0" encoding="UTF-8"?>',
           '<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="monospace" font-size="12">' % (width, y + 5),
           '<rect width="100%" height="100%" fill="white"/>'] + parts + ["</svg>"]
    with open(path, "w") as f:
        f.write("\n".join(svg) + "\n")


def render_baseline(path):
    """Writes the .md table and .svg plot next to the baseline file at path."""
    with open(path) as f:
        doc = json.load(f)
    stem = os.path.splitext(path)[0]
    name = os.path.basename(stem)
    svg_plot(doc, stem + ".svg")
    with open(stem + ".md", "w") as f:
        f.write("# Recorded gate figures: %s\n\nGenerated by `make bench-gate-baseline` "
                "(`bench/gate.py --update-baseline`) from `%s.json`; see "
                "`results/README.md`. History and cross-machine reporting: the gate itself "
                "compares the head with a reference build measured in the same run.\n\n"
                % (doc["context"].get("cpu_model", name), name))
        f.write(markdown_tables(doc, name + ".svg"))


README_BEGIN = "<!-- gate-baseline: generated by `make bench-gate-baseline`; do not edit by hand -->"
README_END = "<!-- gate-baseline: end -->"


def update_readme(results):
    """Rewrites the generated section of results/README.md from every baseline."""
    readme = os.path.join(results, "README.md")
    try:
        with open(readme) as f:
            text = f.read()
    except OSError:
        say("%s not found: its baseline section was not written" % readme)
        return
    if README_BEGIN not in text or README_END not in text:
        say("%s lacks the generated-section markers: its baseline section was not written" % readme)
        return
    base_dir = os.path.join(results, "baseline")
    section = [README_BEGIN, ""]
    for fn in sorted(os.listdir(base_dir)):
        if not fn.endswith(".json"):
            continue
        with open(os.path.join(base_dir, fn)) as f:
            doc = json.load(f)
        slug = fn[:-5]
        section += ["### %s" % doc["context"].get("cpu_model", slug), "",
                    "From `baseline/%s.json` (also as `baseline/%s.md`)." % (slug, slug), "",
                    markdown_tables(doc, "baseline/%s.svg" % slug)]
    section.append(README_END)
    head, rest = text.split(README_BEGIN, 1)
    tail = rest.split(README_END, 1)[1]
    with open(readme, "w") as f:
        f.write(head + "\n".join(section) + tail)
    say("regenerated the baseline section of %s" % readme)
