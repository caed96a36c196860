#!/usr/bin/env python3
"""test_similar.py - embsimd-similar on a tiny hand-made table (standard
library only, so make check needs nothing beyond Debian): the file format,
nearest tokens, the analogy, pair distances, a WordPiece split, every scan
on every implementation and thread count (--all-impls), and the errors.
Prints 'N passed, N failed'; exit 0 when nothing failed."""

import os
import struct
import subprocess
import sys
import tempfile

TOOL = os.path.join(os.environ.get("BUILD_DIR", "."), "tools", "embsimd-similar")

TOKENS = ["[PAD]", "king", "queen", "man", "woman", "earth", "##worm", "apple"]
ROWS = [
    (0.0, 0.0, 0.0, 0.0),
    (1.0, 1.0, 0.0, 0.25),   # king
    (0.0, 1.0, 1.0, 0.25),   # queen = king - man + woman exactly
    (1.0, 0.0, 0.0, 0.0),    # man
    (0.0, 0.0, 1.0, 0.0),    # woman
    (2.0, 0.0, 0.0, 2.0),    # earth
    (0.0, 2.0, 0.0, 2.0),    # ##worm
    (-1.0, 0.5, -1.0, 3.0),  # apple
]


def write_table(path):
    vocab_block = "".join(t + "\n" for t in TOKENS).encode()
    header = b"EMBTAB1\n" + struct.pack("<IIqqQ", 0, 0, len(TOKENS), 4, len(vocab_block))
    header += b"a hand-made test table".ljust(88, b"\0")
    with open(path, "wb") as f:
        f.write(header)
        for r in ROWS:
            f.write(struct.pack("<4f", *r))
        f.write(vocab_block)


def command():
    """The tool, or, in a cross build (make check TEST_WRAPPER=qemu-aarch64),
    the tool through libtool and the emulator, as verify/verify_quick.sh
    runs the verifier."""
    wrapper = os.environ.get("TEST_WRAPPER", "").split()
    if not wrapper:
        return [TOOL]
    libtool = os.environ.get("LIBTOOL", "").split() or \
        ["/bin/sh", os.path.join(os.environ.get("BUILD_DIR", "."), "libtool")]
    return libtool + ["--mode=execute"] + wrapper + [TOOL]


def run(*args):
    p = subprocess.run(command() + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True)
    return p.returncode, p.stdout, p.stderr


def main():
    passed = failed = 0

    def check(ok, what, detail=""):
        nonlocal passed, failed
        print(("PASS " if ok else "FAIL ") + what + ("" if ok else ": " + detail))
        passed += ok
        failed += not ok

    with tempfile.TemporaryDirectory() as d:
        table = os.path.join(d, "t.emb")
        write_table(table)
        rc, out, err = run("--help")
        check(rc == 0 and "Usage: embsimd-similar" in out, "--help", out + err)
        rc, out, err = run("--all-impls", table, "analogy", "king", "man", "woman")
        check(rc == 0 and " 1  queen " in out and "cosine 1.000000" in out,
              "king - man + woman = queen, cosine 1", out + err)
        check("every one of" in out and "same bits" in out, "--all-impls checked the scans", out)
        rc, out, err = run("--all-impls", "--top", "2", table, "near", "king")
        # cos(king, man) = 1 / sqrt(2.0625) = 0.696311, above earth's and queen's
        check(rc == 0 and " 1  man " in out and "cosine 0.696311" in out and
              "king " not in out.split("(cosine):")[1],
              "near king: man first, king itself left out", out + err)
        rc, out, err = run("--metric", "l2", "--top", "1", table, "near", "man")
        # |man - woman| = sqrt(2) = 1.414214; |man - [PAD]| = 1: [PAD] is nearest
        check(rc == 0 and "[PAD]" in out and "distance 1.000000" in out, "near by l2", out + err)
        rc, out, err = run("--all-impls", table, "distance", "king", "queen", "earthworm", "apple")
        # earthworm = mean(earth, ##worm) = (1, 1, 0, 2); apple - that = (-2, -0.5, -1, 1): sqrt(6.25)
        check(rc == 0 and "1.4142" in out and "2.5000" in out and "earth + ##worm" in out,
              "distances, with a WordPiece split", out + err)
        rc, out, err = run(table, "near", "zebra")
        check(rc == 2 and "\"zebra\" is not in the vocabulary" in err, "a word with no split", err)
        rc, out, err = run(os.path.join(d, "missing.emb"), "near", "king")
        check(rc == 2 and "missing.emb" in err, "a missing file", err)
        with open(os.path.join(d, "bad.emb"), "wb") as f:
            f.write(b"not a table" * 20)
        rc, out, err = run(os.path.join(d, "bad.emb"), "near", "king")
        check(rc == 2 and "not a table file" in err, "a file that is not a table", err)
        rc, out, err = run("--top", "0", table, "near", "king")
        check(rc == 2 and "--top" in err, "a bad option value", err)
        rc, out, err = run(table, "frobnicate")
        check(rc == 2 and "unknown command" in err, "an unknown command", err)
    print("%d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
