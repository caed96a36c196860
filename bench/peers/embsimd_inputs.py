"""embsimd_inputs.py - the benchmark suite's inputs rebuilt in Python: the
splitmix64 generator and id distributions of verify/gen.c, the per-shape
streams and batch count of bench/data.c, and the f16 and bf16 tables of
bench/typed_inputs.h, so that a peer sees the same table, dY and ids as
embsimd-bench for the same seed.

Everything is integer arithmetic, as in C: Python ints for the sequential
parts (ids), and wrapping int64 tensor arithmetic for the long float fills,
which is checked against the Python ints at run time (self_check).
"""

import sys

import torch

MASK = (1 << 64) - 1
GAMMA = 0x9E3779B97F4A7C15
MIX1 = 0xBF58476D1CE4E5B9
MIX2 = 0x94D049BB133111EB

DEFAULT_SEED = 20240229  # BENCH_DEFAULT_SEED in bench/options.h

# gen_ids_kind in verify/gen.h: the enum values enter the ids stream's seed.
IDS_KINDS = ("uniform", "all-equal", "sorted", "reversed", "zipf", "duplicates")

# The purposes of bench/data.c's streams.
STREAM_TABLE, STREAM_DY, STREAM_IDS = 1, 2, 3


def mix(z):
    """splitmix64's output function of a state (Python int)."""
    z = ((z ^ (z >> 30)) * MIX1) & MASK
    z = ((z ^ (z >> 27)) * MIX2) & MASK
    return z ^ (z >> 31)


class Rng:
    """gen_rng: a splitmix64 state."""

    def __init__(self, seed):
        self.state = seed & MASK

    def u64(self):
        self.state = (self.state + GAMMA) & MASK
        return mix(self.state)

    def below(self, bound):
        """Uniform in [0, bound) by rejection, as gen_below."""
        limit = MASK - MASK % bound
        while True:
            x = self.u64()
            if x < limit:
                return x % bound


def stream(seed, purpose, a, b, c):
    """bench/data.c's stream(): one independent generator per purpose and shape."""
    r = Rng(seed)
    for m in (purpose, a, b, c):
        r = Rng(r.u64() ^ (m & MASK))
    return r


def table_stream(seed, vocab, dim):
    return stream(seed, STREAM_TABLE, vocab, dim, 0)


def dy_stream(seed, tokens, dim):
    return stream(seed, STREAM_DY, tokens, dim, 0)


def ids_stream(seed, vocab, tokens, kind):
    return stream(seed, STREAM_IDS, vocab, tokens, IDS_KINDS.index(kind))


# Bytes of one element of the table types the peers read.
ELEM_BYTES = {"f32": 4, "f16": 2, "bf16": 2}


def batches(llc_bytes, vocab, dim, tokens, table_type="f32"):
    """bench_batches(): enough batches of ids that the rows read before one
    is reused cover the table (of its own type's rows) or 4 x LLC,
    whichever is smaller."""
    row = dim * ELEM_BYTES[table_type]
    table = float(vocab) * row
    batch = float(tokens) * row
    cover = min(4.0 * llc_bytes, table)
    b = cover / batch
    return 1 if b <= 1.0 else int(b) + (int(b) < b)


def zipf_rank(r, vocab):
    """Log-uniform rank: a uniform bit length, then a uniform value of it."""
    bits = 0
    while bits < 62 and (1 << (bits + 1)) <= vocab:
        bits += 1
    while True:
        b = r.below(bits + 1)
        k = ((1 << b) - 1) + r.below(1 << b)
        if k < vocab:
            return k


def gen_ids(r, n, vocab, kind):
    """gen_ids(): n ids in [0, vocab) as a Python list."""
    v = min(vocab, 1 << 31)
    one = r.below(v)
    few = [r.below(v) for _ in range(4)]
    if kind == "all-equal":
        ids = [one] * n
    elif kind == "zipf":
        ids = [zipf_rank(r, v) for _ in range(n)]
    elif kind == "duplicates":
        ids = [few[r.below(4)] for _ in range(n)]
    else:
        ids = [r.below(v) for _ in range(n)]
    if kind in ("sorted", "reversed"):
        ids.sort(reverse=kind == "reversed")
    return ids


def _signed(u):
    return u - (1 << 64) if u >> 63 else u


def _shr(x, s):
    """Logical right shift of int64 tensors holding uint64 bits."""
    return (x >> s) & ((1 << (64 - s)) - 1)


def _draws(z, state, start):
    """Outputs start+1 .. start+len(z) of a generator at `state` into the
    int64 tensor z, as uint64 bits: multiplication wraps as in C, the right
    shifts are made logical with a mask."""
    torch.arange(start + 1, start + len(z) + 1, dtype=torch.int64, out=z)
    z.mul_(_signed(GAMMA)).add_(_signed(state))
    for shift, mult in ((30, MIX1), (27, MIX2)):
        z.bitwise_xor_(_shr(z, shift)).mul_(_signed(mult))
    z.bitwise_xor_(_shr(z, 31))


def _as_float(bits):
    """uint32 bit patterns held in int64 -> float32, bit for bit."""
    bits = torch.where(bits >= (1 << 31), bits - (1 << 32), bits)
    return bits.to(torch.int32).view(torch.float32)


def _finite(x):
    """gen_finite(): sign, exponent 2^-20..2^20, mantissa from one draw."""
    sign = _shr(x, 63) << 31
    exponent = (127 - 20 + _shr(x, 32) % 41) << 23
    return sign | exponent | (x & 0x7FFFFF)


# special_bits()'s six cases: fixed bits, whether the payload goes in, and
# whether a zero payload becomes 1 (a subnormal or signalling NaN needs a
# nonzero mantissa).
_CASE_BITS = torch.tensor([0, 0x7F800000, 0, 0x00800000, 0x7FC00000, 0x7F800000])
_CASE_PAYLOAD = torch.tensor([0, 0, 0x3FFFFF, 0x3FFFFF, 0x3FFFFF, 0x3FFFFF])
_CASE_NONZERO = torch.tensor([0, 0, 1, 0, 0, 1])


def _special(x):
    """special_bits(r, 1): +-0, +-Inf, subnormals, smallest normals, quiet
    and signalling NaNs."""
    case = _shr(x, 32) % 6
    payload = x & _CASE_PAYLOAD[case]
    fix = _CASE_NONZERO[case] & (payload == 0)
    return (_shr(x, 63) << 31) | _CASE_BITS[case] | payload | fix


def _bits(first, second):
    """gen_bits(): always two draws; the first's low bit picks special."""
    return torch.where((first & 1) == 1, _special(second), second & 0xFFFFFFFF)


# Small enough that a chunk's temporaries stay in L2.
CHUNK = 1 << 16


def fill(r, count, kind="finite"):
    """gen_fill_finite / gen_fill_bits of `count` floats: a float32 tensor.
    Advances r as the C code would."""
    per = 1 if kind == "finite" else 2
    out = torch.empty(count, dtype=torch.float32)
    z = torch.empty(CHUNK * per, dtype=torch.int64)
    # One thread: on small chunks every op of a parallel fill ends in a
    # barrier, and on a busy machine a descheduled worker stalls each one.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for start in range(0, count, CHUNK):
            n = min(CHUNK, count - start)
            x = z[:n * per]
            _draws(x, r.state, start * per)
            bits = _finite(x) if per == 1 else _bits(x[0::2], x[1::2])
            out[start:start + n] = _as_float(bits)
    finally:
        torch.set_num_threads(threads)
    r.state = (r.state + count * per * GAMMA) & MASK
    return out


def _to_int16(h):
    """16-bit patterns held in int64 -> int16, bit for bit."""
    return torch.where(h >= (1 << 15), h - (1 << 16), h).to(torch.int16)


def _f16_of(u):
    """bench_f16_bits(): sign, top 10 fraction bits, the exponent folded into
    binary16's range keeping its class (0 -> 0, 255 -> 31, else 1 + e % 30)."""
    e = _shr(u, 23) & 0xFF
    he = torch.where(e == 0, torch.zeros_like(e),
                     torch.where(e == 0xFF, torch.full_like(e, 31), 1 + e % 30))
    return (_shr(u, 16) & 0x8000) | (he << 10) | (_shr(u, 13) & 0x3FF)


def convert(table, table_type):
    """The f16 or bf16 table bench/typed_inputs.h makes of an fp32 one (bf16:
    the high halves); f32: the table itself."""
    if table_type == "f32":
        return table
    flat = table.reshape(-1)
    out = torch.empty(flat.numel(), dtype=torch.int16)
    step = CHUNK * 16
    for start in range(0, flat.numel(), step):
        u = flat[start:start + step].view(torch.int32).to(torch.int64) & 0xFFFFFFFF
        out[start:start + step] = _to_int16(_shr(u, 16) if table_type == "bf16" else _f16_of(u))
    dtype = torch.bfloat16 if table_type == "bf16" else torch.float16
    return out.view(dtype).view(table.shape)


def _reference_fill(r, count, kind):
    """The same fill one value at a time with Python ints."""
    vals = []
    for _ in range(count):
        if kind == "finite":
            x = r.u64()
            vals.append(((x >> 63) << 31) | ((127 - 20 + (x >> 32) % 41) << 23) | (x & 0x7FFFFF))
            continue
        first, x = r.u64(), r.u64()
        if not first & 1:
            vals.append(x & 0xFFFFFFFF)
            continue
        sign, payload = (x >> 63) << 31, x & 0x3FFFFF
        case = (x >> 32) % 6
        vals.append([sign, sign | 0x7F800000, sign | (payload or 1), sign | 0x00800000 | payload,
                     sign | 0x7FC00000 | payload, sign | 0x7F800000 | (payload or 1)][case])
    return vals


def self_check(seed):
    """The tensor fills must equal the Python-int ones: returns None, or
    what differs (a torch build whose int64 multiply does not wrap)."""
    for kind in ("finite", "bits"):
        a, b = Rng(seed ^ 0x5EED), Rng(seed ^ 0x5EED)
        got = fill(a, 1000, kind).view(torch.int32).tolist()
        want = [_signed(v << 32) >> 32 for v in _reference_fill(b, 1000, kind)]
        if got != want or a.state != b.state:
            first = next((i for i, (g, w) in enumerate(zip(got, want)) if g != w), None)
            return "gen_fill_%s: value %s differs from the one-at-a-time reference" % (kind, first)
    return None


def _dump_all(argv):
    """Several dumps in one process (one torch import): ARGS -- ARGS -- ...,
    each dump followed by a line "--"."""
    groups = [[]]
    for arg in argv:
        if arg == "--":
            groups.append([])
        else:
            groups[-1].append(arg)
    if len(groups) == 1:
        return _dump(argv)
    if not groups[-1]:
        groups.pop()
    for group in groups:
        status = _dump(group)
        if status:
            return status
        print("--")
    return 0


def _dump(argv):
    """The CLI of bench/peers/gen_dump.c, for the test that compares them."""
    if len(argv) == 5 and argv[0] == "ids":
        kind, vocab, n, seed = argv[1], int(argv[2], 0), int(argv[3], 0), int(argv[4], 0)
        print("\n".join(map(str, gen_ids(Rng(seed), n, vocab, kind))))
    elif len(argv) == 3 and argv[0] in ("finite", "bits"):
        n, seed = int(argv[1], 0), int(argv[2], 0)
        bits = fill(Rng(seed), n, argv[0]).view(torch.int32).tolist()
        print("\n".join("%08x" % (b & 0xFFFFFFFF) for b in bits))
    elif len(argv) == 3 and argv[0] in ("f16", "bf16"):
        n, seed = int(argv[1], 0), int(argv[2], 0)
        bits = convert(fill(Rng(seed), n, "bits"), argv[0]).view(torch.int16).tolist()
        print("\n".join("%04x" % (b & 0xFFFF) for b in bits))
    else:
        sys.stderr.write("usage: embsimd_inputs.py ARGS [-- ARGS]...; ARGS: ids KIND VOCAB N SEED | "
                         "finite N SEED | bits N SEED | f16 N SEED | bf16 N SEED (not %r)\n"
                         % " ".join(argv))
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(_dump_all(sys.argv[1:]))
