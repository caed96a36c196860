/* init_check.c - section E's digest of emb_init: a canonical table per
 * type (f32, f16, bf16) and distribution, filled on every run
 * (implementation x threads) of the report. Every run must give the same
 * digest, and verify/compare_digests.sh compares it across machines
 * (x86-64 against AArch64 in CI), since emb_init promises the same bits on
 * every architecture. */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "embsimd.h"
#include "verify.h"

enum { INIT_ROWS = 300, INIT_DIM = 67 };

/* XXH3-128 of every (type, distribution) table, in that order, the bytes
 * as stored (little-endian: the machines compared are). */
static int init_digest(XXH128_hash_t *out)
{
    static const emb_type types[] = {EMB_F32, EMB_F16, EMB_BF16};
    uint8_t *buf = malloc((size_t)INIT_ROWS * INIT_DIM * 4);
    XXH3_state_t *st = XXH3_createState();
    int ok = buf != NULL && st != NULL && XXH3_128bits_reset(st) == XXH_OK;
    for (int t = 0; ok && t < 3; t++)
        for (int dist = 0; ok && dist < 2; dist++) {
            ok = emb_init(buf, types[t], 1000, INIT_ROWS, INIT_DIM, (emb_init_dist)dist, 0.125f,
                          0x9E3779B97F4A7C15ull) == EMB_OK;
            if (ok)
                XXH3_128bits_update(st, buf, emb_row_bytes(types[t], INIT_DIM) * INIT_ROWS);
        }
    if (ok)
        *out = XXH3_128bits_digest(st);
    XXH3_freeState(st);
    free(buf);
    return ok ? 0 : -1;
}

void vf_init_digests(vf_report *r, const vf_config *cfg)
{
    char first[33] = "";
    int agree = 1, ran = 0;
    for (int k = 0; k < cfg->n_runs; k++) {
        char label[64], h[33];
        vf_run_label(&cfg->runs[k], label, sizeof label);
        XXH128_hash_t d;
        if (vf_run_select(&cfg->runs[k]) != 0 || init_digest(&d) != 0) {
            vf_report_line(r, VF_FAIL, label, "emb_init: %s", emb_last_error());
            agree = 0;
            continue;
        }
        XXH128_canonical_t c;
        XXH128_canonicalFromHash(&c, d);
        for (int i = 0; i < 16; i++)
            snprintf(h + 2 * i, 3, "%02x", c.digest[i]);
        if (!ran)
            memcpy(first, h, sizeof first);
        ran = 1;
        agree &= strcmp(first, h) == 0;
        if (strcmp(first, h) != 0)
            vf_report_line(r, VF_FAIL, label, "emb_init digest %s differs from %s", h, first);
    }
    vf_report_line(r, agree && ran ? VF_PASS : VF_FAIL, "emb_init",
                   "%d x %d rows of f32, f16 and bf16, uniform and normal: digest %s on all %d runs",
                   INIT_ROWS, INIT_DIM, first, cfg->n_runs);
    if (agree && ran)
        vf_report_str(r, "init_digest", first);
}
