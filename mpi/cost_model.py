#!/usr/bin/env python3
"""mpi/cost_model.py - the traffic and time model of docs/mpi.md, printed
as its tables: bytes each rank sends per step (uniform ids; it receives as
much) for the sharded ops and for TorchRec's row-wise sharding, and the
time on P machines from a per-link bandwidth and a per-message latency.

  python3 mpi/cost_model.py [--gbps 100] [--alpha-us 5] [--ns-per-token 430] [--overhead 1.5]

Every formula is in docs/mpi.md; this only evaluates them."""
import argparse

ID = 8  # int64 ids


def remote_owners(P, L):
    """Expected distinct owners other than this rank among a bag's L uniform tokens."""
    return (P - 1) * (1 - (1 - 1 / P) ** L)


def ours_lookup(P, B, D, e=4):
    """ids to the owners, rows back: (P-1)/P of the tokens are remote."""
    return B * (P - 1) / P * (ID + D * e)


def ours_bag(P, nb, L, D):
    """every non-padding token's fp32 row fetched: the exact sum order."""
    return ours_lookup(P, nb * L, D)


def partial_sums_bag(P, nb, L, D):
    """owner-side partial sums: ids out, one fp32 row per (bag, remote owner) back."""
    return nb * L * (P - 1) / P * ID + nb * remote_owners(P, L) * D * 4


def ours_step(P, nb, L, D, weighted=False):
    """sub-bags: one fp32 row per (bag, remote owner); ids (and weights) per token, a
    sub-bag's first id marking its start."""
    return nb * remote_owners(P, L) * D * 4 + nb * L * (P - 1) / P * (ID + 4 * weighted)


def torchrec_rw_pooled(P, nb, L, D):
    """forward: ids all-to-all, then a ring reduce-scatter of the global batch's pooled
    partials ((P-1) blocks of nb x D fp32 per rank); backward: the ring all-gather of
    the pooled gradients (the same bytes). Returns (forward, backward)."""
    ids = nb * L * (P - 1) / P * (ID + 4)  # ids and lengths (KJT), roughly
    rs = (P - 1) * nb * D * 4
    return ids + rs, rs


def seconds(nbytes, rounds, P, gbps, alpha):
    """each round a pairwise exchange or ring of P-1 steps, alpha each; bytes at the link rate."""
    return rounds * (P - 1) * alpha + nbytes / (gbps * 1e9 / 8)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gbps", type=float, default=100.0)
    ap.add_argument("--alpha-us", type=float, default=5.0)
    ap.add_argument("--ns-per-token", type=float, default=430.0,
                    help="one machine's lookup time per GPT-2 token (measured here: 2.3 Mtok/s)")
    ap.add_argument("--overhead", type=float, default=1.5,
                    help="sharded local work per token over the single-process op (1 rank, measured)")
    a = ap.parse_args()
    alpha = a.alpha_us * 1e-6
    MB = 1e6
    print(f"link {a.gbps:g} Gb/s, latency {a.alpha_us:g} us per message\n")
    print("GPT-2 wte 50257 x 768 f32, 8192 tokens per rank per step (lookup; grad sends the same):\n")
    print("| P | MB sent per rank | time (ms) | TorchRec RW sequence (MB) |")
    print("| --- | --- | --- | --- |")
    for P in (8, 64, 512):
        s = ours_lookup(P, 8192, 768)
        print(f"| {P} | {s / MB:.1f} | {seconds(s, 4, P, a.gbps, alpha) * 1e3:.2f} | {s / MB:.1f} |")
    print("\nDLRM-like: one 400M x 128 f32 table (205 GB), 65536 bags of 20 per rank per step:\n")
    print("| P | bag, exact (MB) | bag, partial sums (MB) | TorchRec RW fwd (MB) | step, ours (MB) | TorchRec RW bwd (MB) | ours fwd+step (ms) | TorchRec fwd+bwd (ms) |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    nb, L, D = 65536, 20, 128
    for P in (8, 64, 512):
        b, ps, st = ours_bag(P, nb, L, D), partial_sums_bag(P, nb, L, D), ours_step(P, nb, L, D)
        tf, tb = torchrec_rw_pooled(P, nb, L, D)
        ours_t = seconds(b, 4, P, a.gbps, alpha) + seconds(st, 4, P, a.gbps, alpha)
        tr_t = seconds(tf, 2, P, a.gbps, alpha) + seconds(tb, 1, P, a.gbps, alpha)
        print(f"| {P} | {b / MB:.0f} | {ps / MB:.0f} | {tf / MB:.0f} | {st / MB:.0f} | {tb / MB:.0f} "
              f"| {ours_t * 1e3:.0f} | {tr_t * 1e3:.0f} |")
    # Break-even: P machines each doing B tokens beat one machine doing P*B when
    # B*c*k + T_comm(P) < P*B*c.
    c = a.ns_per_token * 1e-9
    print("\nbreak-even, GPT-2 lookup (8192 tokens per rank): sharded P ranks vs one machine doing all P x 8192:")
    for P in range(2, 4097):
        t_shard = 8192 * c * a.overhead + seconds(ours_lookup(P, 8192, 768), 4, P, a.gbps, alpha)
        if t_shard < P * 8192 * c:
            print(f"  from P = {P}: {t_shard * 1e3:.2f} ms per step against {P * 8192 * c * 1e3:.2f} ms")
            break


if __name__ == "__main__":
    main()
