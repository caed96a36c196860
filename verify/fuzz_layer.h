/* fuzz_layer.h - the embedding layer's half of the differential fuzzer. */
#ifndef EMBSIMD_FUZZ_LAYER_H
#define EMBSIMD_FUZZ_LAYER_H

#include <stddef.h>
#include <stdint.h>

/* An input whose first byte is this decodes as a layer call (the rest of
 * the input, fuzz_layer.c's layout); any other as fuzz_embsimd.c's. */
#define FUZZ_LAYER_TAG 0xFC

void fuzz_layer(const uint8_t *data, size_t size);

#endif /* EMBSIMD_FUZZ_LAYER_H */
