// The ABI itself is header-only; this file checks at compile time that the header stands
// alone, and holds the batch-copy helper both sides link (see nvisy_batch_copy.h).
#include "nvisy_plugin.h"
#include "nvisy_batch_copy.h"

#include <stdlib.h>
#include <string.h>

_Static_assert(sizeof(nvisy_item) == 64, "nvisy_item layout changed: bump NVISY_ABI_MAJOR");

static nvisy_bytes place(nvisy_bytes b, uint8_t **cursor) {
    nvisy_bytes out = {NULL, 0};
    if (b.data == NULL || b.len == 0) return out;
    memcpy(*cursor, b.data, b.len);
    out.data = *cursor;
    out.len = b.len;
    *cursor += b.len;
    return out;
}

// Hidden: the host and every plugin each link their own copy; none may bind to another's.
__attribute__((visibility("hidden")))
nvisy_item *nvisy_batch_copy(const nvisy_item *items, size_t count, size_t *out_size) {
    if (items == NULL || count == 0) return NULL;
    size_t floats = 0, bytes = 0;
    for (size_t i = 0; i < count; i++) {
        const nvisy_item *c = &items[i];
        if (c->vector != NULL) floats += c->vector_len;
        if (c->metadata.data != NULL) bytes += c->metadata.len;
        if (c->payload.data != NULL) bytes += c->payload.len;
        if (c->resume_token.data != NULL) bytes += c->resume_token.len;
    }
    // Items (8-aligned), then floats (4-aligned), then bytes: no padding needed.
    size_t size = count * sizeof(nvisy_item) + floats * sizeof(float) + bytes;
    nvisy_item *out = malloc(size);
    if (out == NULL) return NULL;
    float *vectors = (float *)(out + count);
    uint8_t *cursor = (uint8_t *)(vectors + floats);
    for (size_t i = 0; i < count; i++) {
        const nvisy_item *c = &items[i];
        nvisy_item *d = &out[i];
        d->metadata = place(c->metadata, &cursor);
        d->payload = place(c->payload, &cursor);
        d->resume_token = place(c->resume_token, &cursor);
        if (c->vector != NULL && c->vector_len > 0) {
            memcpy(vectors, c->vector, c->vector_len * sizeof(float));
            d->vector = vectors;
            d->vector_len = c->vector_len;
            vectors += c->vector_len;
        } else {
            d->vector = NULL;
            d->vector_len = 0;
        }
    }
    if (out_size != NULL) *out_size = size;
    return out;
}
