"""exactness.py - a peer's result against embsimd's, bit for bit (uint32 or,
for f16 and bf16 outputs, uint16 patterns, never a tolerance): how many
elements differ, an example, and for gradients whether the differing rows
are the ones named more than once (where a different summation order would
show)."""

import struct

import torch


def _bits(t):
    return t.contiguous().view(torch.int16 if t.element_size() == 2 else torch.int32)


def _show(bits, dtype=torch.float32):
    if dtype in (torch.float16, torch.bfloat16):
        u = bits & 0xFFFF
        value = torch.tensor([u - (1 << 16) if u >> 15 else u], dtype=torch.int16).view(dtype)
        return "0x%04x (%r)" % (u, float(value[0]))
    u = bits & 0xFFFFFFFF
    return "0x%08x (%r)" % (u, struct.unpack("<f", struct.pack("<I", u))[0])


# Differences IEEE 754 predicts, said next to the finding so that nobody
# mistakes them for a bug in either side.
EXPECTED = {
    ("torch/onehot_matmul", "special"):
    "expected: 0 x Inf and 0 x NaN are NaN, so an Inf or NaN anywhere in a column of W makes "
    "that column NaN in every output row, and -0 + (+0 products) = +0; the lookup copies bits",
    ("torch/embedding_sparse grad, coalesce()", None):
    "expected: coalesce() sums each row's entries in the order of ids.sort() (PyTorch's default, "
    "unstable sort), emb_grad_f32 in token order; a row named once or twice gives the same sum "
    "either way, one named 3 or more times may differ in the last bits",
}


class Finding:
    """One peer, one input set, one shape and thread count."""

    def __init__(self, peer, values, where, total, ndiff, example, rows_note):
        self.peer, self.values, self.where = peer, values, where
        self.total, self.ndiff, self.example, self.rows_note = total, ndiff, example, rows_note

    @property
    def identical(self):
        return self.ndiff == 0

    def line(self):
        if self.identical:
            return "%s: bit-identical (%d elements)" % (self.peer, self.total)
        why = EXPECTED.get((self.peer, self.values), EXPECTED.get((self.peer, None)))
        return "%s: %d of %d elements differ%s; e.g. %s%s" % (
            self.peer, self.ndiff, self.total, self.rows_note, self.example,
            " (%s)" % why if why else "")


def compare(peer, op, values, where, got, want, ids, who):
    """got (the peer's) against want (embsimd's, named `who`). op: what is
    compared, peer_defs.WANTS: per token (lookup, dy) or per table row
    (grad, grad_into)."""
    if tuple(got.shape) != tuple(want.shape) or got.dtype != want.dtype:
        return Finding(peer, values, where, want.numel(), want.numel(),
                       "shape %s %s, expected %s %s" % (tuple(got.shape), got.dtype,
                                                       tuple(want.shape), want.dtype), "")
    if torch.equal(_bits(got), _bits(want)):
        return Finding(peer, values, where, want.numel(), 0, "", "")
    diff = _bits(got) != _bits(want)
    ndiff = int(diff.sum())
    flat = int(diff.view(-1).nonzero()[0])
    row, col = divmod(flat, want.shape[1])
    g, w = int(_bits(got).view(-1)[flat]), int(_bits(want).view(-1)[flat])
    rows_note = ""
    if op in ("lookup", "dy"):
        place = "token %d (id %d) col %d" % (row, int(ids[row]), col)
    else:
        counts = torch.bincount(ids.to(torch.int64), minlength=want.shape[0])
        bad_rows = diff.any(dim=1)
        repeated = int((bad_rows & (counts > 1)).sum())
        rows_note = " in %d rows, %d of them named more than once (the least named %d times)" % (
            int(bad_rows.sum()), repeated, int(counts[bad_rows].min()))
        place = "row %d (named %d times) col %d" % (row, int(counts[row]), col)
    example = "%s: peer %s, embsimd %s %s" % (place, _show(g, want.dtype), who, _show(w, want.dtype))
    return Finding(peer, values, where, want.numel(), ndiff, example, rows_note)
