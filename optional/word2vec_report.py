#!/usr/bin/env python3
"""optional/word2vec_report.py - embsimd-word2vec next to gensim's Word2Vec
on the same corpus, tokenisation and settings; writes results/word2vec.md
and its plot (make word2vec-report; docs/word2vec.md).

Both models are measured by this script's own code, the same for both:
analogy accuracy on gensim's questions-words.txt restricted to the
questions whose four words both vocabularies have, an evaluation loss on a
fixed sample of pairs, and the mean cosine within word classes against
random pairs, at initialisation and after every epoch. Words per second are
each tool's training time only (gensim: its epochs, timed by callbacks;
embsimd-word2vec: its own figure, reading and evaluation excluded), with the
same numerator: corpus words x epochs.
"""
import argparse
import os
import platform
import re
import subprocess
import sys
import time

import numpy as np

PROBES = ["monday", "red", "three", "king", "nephew", "water", "horse"]
DISTANCE_PAIRS = [("nephew", "niece"), ("semiconductor", "earthworm"), ("conductor", "earthworm")]
SETTINGS = dict(dim=100, window=5, negative=5, min_count=5, sample=1e-3, alpha=0.025,
                min_alpha=0.0001)


def sh(cmd, **kw):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw).stdout


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


# ---- tables -----------------------------------------------------------------

def read_table(path):
    """An EMBTAB1 file (tools/embsimd_similar.c): words and an f32 matrix."""
    with open(path, "rb") as f:
        h = f.read(128)
        assert h[:8] == b"EMBTAB1\n", path
        typ, vocab, dim, vbytes = (int.from_bytes(h[8:12], "little"),
                                   int.from_bytes(h[16:24], "little"),
                                   int.from_bytes(h[24:32], "little"),
                                   int.from_bytes(h[32:40], "little"))
        assert typ == 0, f"{path}: type {typ} is not f32"
        rows = np.frombuffer(f.read(4 * vocab * dim), dtype="<f4").reshape(vocab, dim)
        words = f.read(vbytes).decode().split("\n")[:vocab]
    return words, rows.astype(np.float32)


class Model:
    """Word vectors and context vectors of one epoch, indexed by word."""

    def __init__(self, words, vin, vout):
        self.words, self.vin, self.vout = words, vin, vout
        self.index = {w: i for i, w in enumerate(words)}


# ---- measures ------------------------------------------------------------------

def unit(m):
    n = np.linalg.norm(m, axis=1, keepdims=True)
    return m / np.where(n > 0, n, 1)


def load_questions(path, vocab):
    sections, cur = [], None
    with open(path) as f:
        for line in f:
            if line.startswith(":"):
                cur = line[1:].strip()
                continue
            q = line.lower().split()
            if len(q) == 4 and all(w in vocab for w in q):
                sections.append((cur, q))
    return sections


def analogy(model, questions, shared):
    """3CosAdd over the shared vocabulary (the same candidates for both
    models): d = argmax cos(x, b - a + c), a, b and c excluded."""
    idx = np.array([model.index[w] for w in shared])
    pos = {w: i for i, w in enumerate(shared)}
    m = unit(model.vin[idx].astype(np.float64))
    q = np.array([[pos[w] for w in qq] for _, qq in questions])
    correct = np.zeros(len(q), bool)
    for s in range(0, len(q), 512):
        b = q[s:s + 512]
        x = m[b[:, 1]] - m[b[:, 0]] + m[b[:, 2]]
        sc = x @ m.T
        r = np.arange(len(b))
        for k in range(3):
            sc[r, b[:, k]] = -np.inf
        correct[s:s + 512] = sc.argmax(1) == b[:, 3]
    sem = np.array([not sec.startswith("gram") for sec, _ in questions])
    return (100 * correct.mean(), 100 * correct[sem].mean() if sem.any() else float("nan"),
            100 * correct[~sem].mean() if (~sem).any() else float("nan"))


def eval_pairs(corpus_path, words, counts, n=20000, window=5, negative=5, seed=0):
    """A fixed sample of (word, context word, negatives) from the corpus."""
    index = {w: i for i, w in enumerate(words)}
    sents = []
    with open(corpus_path) as f:
        for line in f:
            ids = [index[w] for w in line.split() if w in index]
            if len(ids) > 1:
                sents.append(ids)
    rng = np.random.default_rng(seed)
    p = np.asarray(counts, np.float64) ** 0.75
    p /= p.sum()
    out = []
    while len(out) < n:
        s = sents[rng.integers(len(sents))]
        i = rng.integers(len(s))
        j = i + rng.choice([d for d in range(-window, window + 1) if d and 0 <= i + d < len(s)]
                           or [0])
        if j != i:
            out.append((s[i], s[j]))
    neg = rng.choice(len(words), size=(n, negative), p=p)
    return np.array(out), neg


def eval_loss(model, words, pairs, neg):
    """Mean over the pairs of -ln sigma(w . c) - sum ln sigma(-w . n)."""
    m = np.array([model.index[w] for w in words])
    a, c, nn = m[pairs[:, 0]], m[pairs[:, 1]], m[neg]
    vi, vo = model.vin.astype(np.float64), model.vout.astype(np.float64)
    pos = np.einsum("ij,ij->i", vi[a], vo[c])
    negs = np.einsum("ij,ikj->ik", vi[a], vo[nn])
    return float(np.mean(np.logaddexp(0, -pos) + np.logaddexp(0, negs).sum(1)))


def class_cosines(model, classes, words, pairs, centered=False):
    """Mean cosine within each class (all its pairs) and over random pairs;
    centered: after subtracting the mean word vector of the vocabulary."""
    v = model.vin.astype(np.float64)
    m = unit(v - v.mean(0) if centered else v)
    res, allc = {}, []
    for name, ws in classes:
        ids = [model.index[w] for w in ws if w in model.index]
        c = [m[i] @ m[j] for k, i in enumerate(ids) for j in ids[k + 1:]]
        res[name] = float(np.mean(c)) if c else float("nan")
        allc += c
    r = [m[model.index[words[a]]] @ m[model.index[words[b]]] for a, b in pairs]
    return res, float(np.mean(allc)), float(np.mean(r))


def nearest(model, w, k=5):
    m = unit(model.vin.astype(np.float64))
    if w not in model.index:
        return "(not in the vocabulary)"
    sc = m @ m[model.index[w]]
    sc[model.index[w]] = -np.inf
    top = np.argsort(-sc, kind="stable")[:k]
    return ", ".join(f"{model.words[i]} {sc[i]:.2f}" for i in top)


def king(model, k=5):
    m = unit(model.vin.astype(np.float64))
    i = model.index
    x = m[i["king"]] - m[i["man"]] + m[i["woman"]]
    sc = m @ x / np.linalg.norm(x)
    for w in ("king", "man", "woman"):
        sc[i[w]] = -np.inf
    top = np.argsort(-sc, kind="stable")[:k]
    return ", ".join(f"{model.words[t]} {sc[t]:.2f}" for t in top)


def pair(model, a, b):
    if a not in model.index or b not in model.index:
        return "n/a"
    v = model.vin.astype(np.float64)
    x, y = v[model.index[a]], v[model.index[b]]
    mu = v.mean(0)
    cc = (x - mu) @ (y - mu) / np.linalg.norm(x - mu) / np.linalg.norm(y - mu)
    return (f"cos {x @ y / np.linalg.norm(x) / np.linalg.norm(y):.3f}, distance "
            f"{np.linalg.norm(x - y):.3f}, centered cos {cc:.3f}")


# ---- the runs ---------------------------------------------------------------------

def run_ours(tool, corpus, threads, epochs, max_words, snapshots=None, dump=None, dim=None):
    settings = dict(SETTINGS, dim=dim or SETTINGS["dim"])
    cmd = [tool, f"--corpus={corpus}", f"--threads={threads}", f"--epochs={epochs}",
           "--progress=0"] + ([f"--max-words={max_words}"] if max_words else []) + [
               f"--{k.replace('_', '-')}={v}" for k, v in settings.items()]
    if snapshots:
        cmd.append(f"--snapshots={snapshots}")
    if dump:
        cmd.append(f"--write-corpus={dump}")
    load = loadavg()
    out = sh(cmd)
    ep = [dict(zip(("loss", "seconds", "wps", "cpu"), map(float, (m[1], m[2], m[3], m[4]))))
          for m in re.finditer(r"^epoch \d+ loss (\S+) .* seconds (\S+) words/s (\S+) "
                               r"cpu-seconds (\S+)$", out, re.M)]
    t = re.search(r"^trained: (\S+) s, (\d+) words/s .*; (\S+) CPU s, (\d+) words per CPU",
                  out, re.M)
    secs, wps, cpu, cpu_wps = float(t[1]), float(t[2]), float(t[3]), float(t[4])
    digest = re.search(r"^digest: (\S+)", out, re.M).group(1)
    return dict(out=out, epochs=ep, wps=wps, seconds=secs, cpu=cpu, cpu_wps=cpu_wps,
                digest=digest, load=load, cmd=" ".join(cmd))


def run_gensim(corpus_txt, threads, epochs, seed, keep, dim=None):
    from gensim.models import Word2Vec
    from gensim.models.callbacks import CallbackAny2Vec

    class Epochs(CallbackAny2Vec):
        def __init__(self):
            self.times, self.cpus, self.snaps = [], [], []

        def on_epoch_begin(self, model):
            self.t0, self.c0 = time.perf_counter(), time.process_time()

        def on_epoch_end(self, model):
            self.times.append(time.perf_counter() - self.t0)
            self.cpus.append(time.process_time() - self.c0)
            if keep:
                self.snaps.append((model.wv.vectors.copy(), model.syn1neg.copy()))

    s = SETTINGS
    m = Word2Vec(vector_size=dim or s["dim"], window=s["window"], negative=s["negative"],
                 min_count=s["min_count"], sample=s["sample"], alpha=s["alpha"],
                 min_alpha=s["min_alpha"], sg=1, hs=0, workers=threads, seed=seed,
                 epochs=epochs)
    m.build_vocab(corpus_file=corpus_txt)
    cb = Epochs()
    init = (m.wv.vectors.copy(), m.syn1neg.copy())
    load = loadavg()
    m.train(corpus_file=corpus_txt, total_examples=m.corpus_count,
            total_words=m.corpus_total_words, epochs=epochs, callbacks=[cb])
    secs, cpu = sum(cb.times), sum(cb.cpus)
    return dict(model=m, init=init, snaps=cb.snaps, times=cb.times, seconds=secs, cpu=cpu,
                wps=m.corpus_total_words * epochs / secs,
                cpu_wps=m.corpus_total_words * epochs / cpu, load=load,
                words=m.corpus_total_words)


# ---- the report --------------------------------------------------------------------

def context(build):
    cpu = sh(["lscpu"])
    model = re.search(r"^Model name:\s*(.*)$", cpu, re.M).group(1)
    fam = re.search(r"^CPU family:\s*(.*)$", cpu, re.M)
    mod = re.search(r"^Model:\s*(.*)$", cpu, re.M)
    flags = re.search(r"^Flags:\s*(.*)$", cpu, re.M).group(1).split()
    isa = " ".join(f for f in ("avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512_bf16")
                   if f in flags)
    cc = sh(["sh", "-c", "${CC:-gcc} --version | head -n 1"]).strip()
    mk = open(os.path.join(build, "Makefile")).read()
    cflags = " ".join(re.search(rf"^{v} = (.*)$", mk, re.M).group(1).strip()
                      for v in ("CFLAGS", "EMB_CFLAGS"))
    try:
        rev = sh(["git", "-C", build, "describe", "--always", "--dirty"]).strip()
    except (subprocess.CalledProcessError, FileNotFoundError):
        rev = "unknown"
    return dict(cpu=f"{model} (family {fam.group(1) if fam else '?'}, model "
                    f"{mod.group(1) if mod else '?'}), {os.cpu_count()} CPUs; {isa}",
                cc=cc, cflags=cflags, rev=rev)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build-dir", required=True)
    ap.add_argument("--corpus", default="/usr/share/dictd/gcide.dict.dz")
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--work", default="_word2vec")
    ap.add_argument("--out", default="results/word2vec.md")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--max-words", type=int, default=0, help="a slice of the corpus (trials)")
    args = ap.parse_args()
    import gensim
    from gensim.test.utils import datapath

    b = os.path.abspath(args.build_dir)
    tool = os.path.join(b, "tools", "embsimd-word2vec")
    similar = os.path.join(b, "tools", "embsimd-similar")
    os.makedirs(args.work, exist_ok=True)
    snapdir = os.path.join(args.work, "ours")
    corpus_txt = os.path.join(args.work, "corpus.txt")
    threads = [int(t) for t in args.threads.split(",")]
    start = time.time()
    ctx = context(b)
    date = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    E = args.epochs

    def say(msg):
        print(f"word2vec-report: {msg} ({time.time() - start:.0f} s)", flush=True)

    # Interleaved, so that the load changes hit both tools alike.
    ours, gens = {}, {}
    for t in threads:
        ours[t] = run_ours(tool, args.corpus, t, E, args.max_words, snapshots=snapdir if t == threads[0] else None,
                           dump=corpus_txt if t == threads[0] else None)
        say(f"embsimd-word2vec T={t}: {ours[t]['wps']:.0f} words/s, digest {ours[t]['digest']}")
        gens[t] = run_gensim(corpus_txt, t, E, 1, keep=t == threads[0])
        say(f"gensim T={t}: {gens[t]['wps']:.0f} words/s")
    digests = {ours[t]["digest"] for t in threads}
    # The kernels' tail: a row of 100 is not a whole number of 32-element
    # pieces. One epoch at 1 thread with dim 128 shows what that costs
    # (elements a second at both dims).
    o128 = run_ours(tool, args.corpus, 1, 1, args.max_words, dim=128)
    g128 = run_gensim(corpus_txt, 1, 1, 1, keep=False, dim=128)
    say(f"dim 128, 1 epoch, T=1: ours {o128['wps']:.0f}, gensim {g128['wps']:.0f} words/s")

    # Models per epoch, 0 = initialisation.
    words, _ = read_table(os.path.join(snapdir, "epoch-0.emb"))
    g0 = gens[threads[0]]
    gm = g0["model"]
    ours_m = [Model(words, read_table(os.path.join(snapdir, f"epoch-{e}.emb"))[1],
                    read_table(os.path.join(snapdir, f"epoch-{e}.out.emb"))[1]) for e in range(E + 1)]
    gw = list(gm.wv.index_to_key)
    gen_m = [Model(gw, *g0["init"])] + [Model(gw, vi, vo) for vi, vo in g0["snaps"]]
    shared = [w for w in words if w in gm.wv.key_to_index]
    sset = set(shared)
    questions = load_questions(datapath("questions-words.txt"), sset)
    counts = [gm.wv.get_vecattr(w, "count") for w in words] if all(
        w in gm.wv.key_to_index for w in words) else [1] * len(words)
    pairs, neg = eval_pairs(corpus_txt, words, counts)
    classes = [(l.split(":")[0], l.split(":")[1].split())
               for l in sh([tool, "--list-classes"]).strip().split("\n")]
    rng = np.random.default_rng(1)
    top = min(10000, len(words))
    rpairs = [(a, b2) for a, b2 in rng.integers(0, top, (2000, 2)) if a != b2]
    rows = []
    for e in range(E + 1):
        r = {}
        for name, mm in (("ours", ours_m[e]), ("gensim", gen_m[e])):
            r[name] = dict(analogy=analogy(mm, questions, shared),
                           loss=eval_loss(mm, words, pairs, neg),
                           classes=class_cosines(mm, classes, words, rpairs),
                           centered=class_cosines(mm, classes, words, rpairs, True))
        rows.append(r)
    say("evaluated every epoch")

    # The plot.
    dat = os.path.join(args.work, "word2vec.dat")
    with open(dat, "w") as f:
        f.write("# epoch loss_ours loss_gensim analogy_ours analogy_gensim\n")
        for e, r in enumerate(rows):
            f.write(f"{e} {r['ours']['loss']:.5f} {r['gensim']['loss']:.5f} "
                    f"{r['ours']['analogy'][0]:.3f} {r['gensim']['analogy'][0]:.3f}\n")
    svg = os.path.splitext(args.out)[0] + ".svg"
    gp = f"""set terminal svg size 900,380 dynamic font 'sans,11'
set output '{svg}'
set multiplot layout 1,2
set xlabel 'epoch (0: initialisation)'
set key top right
set grid
set title 'evaluation loss (20000 fixed pairs, 5 negatives)'
plot '{dat}' u 1:2 w lp t 'embsimd-word2vec', '' u 1:3 w lp t 'gensim'
set title 'analogy accuracy, shared vocabulary (%)'
set key bottom right
plot '{dat}' u 1:4 w lp t 'embsimd-word2vec', '' u 1:5 w lp t 'gensim'
unset multiplot
"""
    subprocess.run(["gnuplot"], input=gp, text=True, check=True)

    final_table = os.path.join(snapdir, f"epoch-{E}.emb")
    def sim(table, *a):
        return sh([similar, "--top=5", os.path.relpath(table)] + list(a)).rstrip()
    probes = [p for p in PROBES if p in sset]
    near_before = sim(os.path.join(snapdir, "epoch-0.emb"), "near", *probes)
    near_after = sim(final_table, "near", *probes)
    king_ours = sim(final_table, "analogy", "king", "man", "woman")
    # The lecture's far pair needs "semiconductor", a word younger than
    # Webster's 1913: where it is missing, "conductor" stands in.
    pairs_shown = [p for p in DISTANCE_PAIRS if p[0] in sset and p[1] in sset]
    dist_ours = sim(final_table, "distance", *[x for p in pairs_shown for x in p]) \
        if pairs_shown else "(none of the pairs is in the vocabulary)"
    total = time.time() - start
    say(f"done; the report in {args.out}")

    # ---- the page -------------------------------------------------------------------
    fin = rows[-1]
    L = []
    w = L.append
    w("# word2vec: embsimd-word2vec next to gensim\n")
    w(f"Generated by `make word2vec-report` ({os.path.basename(__file__)}) on {date}, in "
      f"{total:.0f} s. Every number below comes from that run; the method is "
      "[docs/word2vec.md](../docs/word2vec.md).\n")
    w("## Context\n")
    w(f"- CPU: {ctx['cpu']}")
    w(f"- compiler: {ctx['cc']}, `{ctx['cflags']}`; revision {ctx['rev']}")
    w(f"- gensim {gensim.__version__}, numpy {np.__version__}, Python {platform.python_version()}")
    w(f"- load average (1, 5, 15 min) as each timed run started: " + "; ".join(
        f"ours T={t}: {ours[t]['load']}, gensim T={t}: {gens[t]['load']}" for t in threads) +
      f"; at the end: {loadavg()}. **The machine is shared with other work**: the speed "
      "figures move by 10-30 % between runs, and more when the load exceeds the CPU count.")
    w(f"- corpus: `{args.corpus}` (Debian's dict-gcide), tokenised by embsimd-word2vec "
      f"and written out for gensim (`--write-corpus`, read by gensim's `corpus_file`): "
      f"{g0['words']} words, vocabulary {len(words)} words (min count {SETTINGS['min_count']}), "
      f"the same {len(shared)} words in both.")
    w(f"- settings, both tools: skip-gram, negative sampling, dim {SETTINGS['dim']}, window "
      f"{SETTINGS['window']} (reduced at random), {SETTINGS['negative']} negatives, sample "
      f"{SETTINGS['sample']}, alpha {SETTINGS['alpha']} -> {SETTINGS['min_alpha']}, {E} epochs, "
      f"seed 1; embsimd-word2vec's batch: its default.\n")
    w("## Speed\n")
    w("Words/s = corpus words x epochs / training seconds (gensim: the sum of its epochs, "
      "timed by callbacks; embsimd-word2vec: its own figure; reading the corpus and the "
      "vocabulary excluded for both). Wall seconds are what the targets name; on a shared "
      "machine they also count the time other programs held the CPUs, so the CPU seconds "
      "of the process (all its threads) are given as well: words per CPU second.\n")
    w("| threads | embsimd-word2vec words/s | gensim words/s | ratio (wall) | target | met | "
      "ours words per CPU s | gensim words per CPU s | ratio (CPU) |")
    w("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for t in threads:
        ratio = ours[t]["wps"] / gens[t]["wps"]
        cratio = ours[t]["cpu_wps"] / gens[t]["cpu_wps"]
        tgt = 1.5 if t == 1 else 1.2
        w(f"| {t} | {ours[t]['wps']:.0f} | {gens[t]['wps']:.0f} | {ratio:.2f} | >= {tgt} | "
          f"{'yes' if ratio >= tgt else 'no'} | {ours[t]['cpu_wps']:.0f} | "
          f"{gens[t]['cpu_wps']:.0f} | {cratio:.2f} |")
    w(f"| 1, dim 128, 1 epoch | {o128['wps']:.0f} | {g128['wps']:.0f} | "
      f"{o128['wps'] / g128['wps']:.2f} | (not a target) | | {o128['cpu_wps']:.0f} | "
      f"{g128['cpu_wps']:.0f} | {o128['cpu_wps'] / g128['cpu_wps']:.2f} |")
    w("")
    d100, t1 = SETTINGS["dim"], threads[0]
    w("The last row is one more epoch at dim 128, whose rows are a whole number of the "
      "kernels' 32-element pieces (100 is not: a tail). Words/s times the dim, millions of "
      f"elements a second at 1 thread: embsimd-word2vec {ours[t1]['wps'] * d100 / 1e6:.1f} at "
      f"{d100} and {o128['wps'] * 128 / 1e6:.1f} at 128, gensim "
      f"{gens[t1]['wps'] * d100 / 1e6:.1f} and {g128['wps'] * 128 / 1e6:.1f} "
      "(docs/word2vec.md).\n")
    w(f"Trained table digest (FNV-1a 64 of both tables) for " + ", ".join(
        f"T={t}: `{ours[t]['digest']}`" for t in threads) +
      (": **identical**." if len(digests) == 1 else ": **DIFFERENT** (a bug).") +
      " (`make check` compares the digests of every implementation this CPU has and 1-3 "
      "threads on a slice.)\n")
    w("## Quality per epoch\n")
    w("Both models measured by the same code. Analogy: gensim's `questions-words.txt`, "
      f"the {len(questions)} questions whose four words both vocabularies have (of 19544), "
      "3CosAdd over the shared vocabulary, question words excluded; semantic = the five "
      "non-`gram` sections. Evaluation loss: mean over 20000 fixed (word, context word) "
      "pairs from the corpus with 5 fixed negatives each of -ln sigma(w.c) - sum ln "
      "sigma(-w.n), both tables of each model. Epoch 0 is the initialisation.\n")
    w("| epoch | analogy % ours (sem / syn) | analogy % gensim (sem / syn) | eval loss ours | "
      "eval loss gensim | training loss ours |")
    w("| --- | --- | --- | --- | --- | --- |")
    t1 = threads[0]
    for e, r in enumerate(rows):
        ao, ag = r["ours"]["analogy"], r["gensim"]["analogy"]
        tl = f"{ours[t1]['epochs'][e - 1]['loss']:.4f}" if e else ""
        w(f"| {e} | {ao[0]:.2f} ({ao[1]:.2f} / {ao[2]:.2f}) | {ag[0]:.2f} ({ag[1]:.2f} / "
          f"{ag[2]:.2f}) | {r['ours']['loss']:.4f} | {r['gensim']['loss']:.4f} | {tl} |")
    diff = fin["ours"]["analogy"][0] - fin["gensim"]["analogy"][0]
    w(f"\nAfter {E} epochs embsimd-word2vec's analogy accuracy is {diff:+.2f} points from "
      f"gensim's (target: within 2 points or better: "
      f"{'met' if diff >= -2 else 'not met'}).\n")
    w(f"![loss and analogy accuracy per epoch]({os.path.basename(svg)})\n")
    w("## Similar words converge\n")
    w("Mean cosine over all pairs within each class (`embsimd-word2vec --list-classes`) and "
      f"over {len(rpairs)} fixed random pairs of the {top} most frequent words; ours / gensim.\n")
    names = [n for n, _ in classes]

    def class_table(key):
        w("| epoch | " + " | ".join(names) + " | all classes | random pairs |")
        w("| --- " * (len(names) + 3) + "|")
        for e, r in enumerate(rows):
            co, cg = r["ours"][key], r["gensim"][key]
            w(f"| {e} | " + " | ".join(f"{co[0][n]:.2f} / {cg[0][n]:.2f}" for n in names) +
              f" | {co[1]:.2f} / {cg[1]:.2f} | {co[2]:.2f} / {cg[2]:.2f} |")
        above = [n for n in names if fin["ours"][key][0][n] > fin["ours"][key][2]]
        w(f"\nAfter training, {len(above)} of {len(names)} classes of embsimd-word2vec sit "
          "above the random pairs" + (f" (not: {', '.join(n for n in names if n not in above)})"
                                      if len(above) < len(names) else "") + ".\n")

    class_table("classes")
    w("Random pairs are far from 0 in both models: skip-gram's word vectors share a common "
      "direction, strongest on a corpus this small. The same cosines after subtracting "
      "each model's mean word vector (over its vocabulary) from every vector:\n")
    class_table("centered")
    w("## Nearest words, king - man + woman, the lecture's distances\n")
    w("embsimd-word2vec, through `embsimd-similar` on its tables (initialisation, then after "
      "training):\n")
    w("```\n" + near_before + "\n```\n")
    w("```\n" + near_after + "\n```\n")
    w("```\n" + king_ours + "\n```\n")
    w("```\n" + dist_ours + "\n```\n")
    missing = [x for p in DISTANCE_PAIRS for x in p if x not in sset]
    if missing:
        w(f"Not in the vocabulary (the corpus is Webster's 1913 with later additions): "
          f"{', '.join(sorted(set(missing)))}; conductor / earthworm stands in for the far "
          "pair.\n")
    w("`embsimd-similar analogy` ranks by cosine to the sum of the raw rows (king - man + "
      "woman); the table below, like gensim's `most_similar`, sums unit vectors, so the two "
      "lists can differ in order.\n")
    w("gensim after training (cosine):\n")
    w("| word | gensim's nearest | embsimd-word2vec's nearest |")
    w("| --- | --- | --- |")
    for p in PROBES:
        w(f"| {p} | {nearest(gen_m[-1], p)} | {nearest(ours_m[-1], p)} |")
    w(f"| king - man + woman | {king(gen_m[-1])} | {king(ours_m[-1])} |")
    w("")
    w("| pair | embsimd-word2vec | gensim |")
    w("| --- | --- | --- |")
    for a, b2 in DISTANCE_PAIRS:
        w(f"| {a} / {b2} | {pair(ours_m[-1], a, b2)} | {pair(gen_m[-1], a, b2)} |")
    w("")
    w("## Reproduce\n")
    w("```sh\n./bootstrap && make word2vec-report\n```\n")
    w("The commands it ran for embsimd-word2vec:\n")
    w("```\n" + "\n".join(ours[t]["cmd"] for t in threads) + "\n```")
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    with open(args.out, "w") as f:
        f.write("\n".join(L) + "\n")
    ok = len(digests) == 1
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
