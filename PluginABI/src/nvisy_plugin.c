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

// Both sides' sending arena (see nvisy_batch_copy.h); hidden for the same reason.
__attribute__((visibility("hidden")))
int nvisy_arena_reset(nvisy_arena *a, size_t count, size_t bytes) {
    a->used = 0;
    if (count > a->item_capacity) {
        size_t cap = count > a->item_capacity * 2 ? count : a->item_capacity * 2;
        if (cap < 16) cap = 16;
        nvisy_item *items = malloc(cap * sizeof(nvisy_item));
        if (items == NULL) return -1;
        free(a->items);
        a->items = items;
        a->item_capacity = cap;
    }
    if (bytes > a->byte_capacity || a->bytes == NULL) {
        size_t cap = bytes > a->byte_capacity * 2 ? bytes : a->byte_capacity * 2;
        if (cap < 4096) cap = 4096;
        uint8_t *block = malloc(cap);  // malloc's alignment suits floats
        if (block == NULL) return -1;
        free(a->bytes);
        a->bytes = block;
        a->byte_capacity = cap;
    }
    return 0;
}

static nvisy_bytes arena_place(nvisy_arena *a, nvisy_bytes b) {
    nvisy_bytes out = {NULL, 0};
    if (b.data == NULL || b.len == 0) return out;
    memcpy(a->bytes + a->used, b.data, b.len);
    out.data = a->bytes + a->used;
    out.len = b.len;
    a->used += b.len;
    return out;
}

__attribute__((visibility("hidden")))
void nvisy_arena_put(nvisy_arena *a, size_t index, nvisy_bytes metadata, nvisy_bytes payload,
                     nvisy_bytes resume_token, const float *vector, size_t vector_len, int has_vector) {
    nvisy_item item;
    memset(&item, 0, sizeof item);
    item.metadata = arena_place(a, metadata);
    item.payload = arena_place(a, payload);
    item.resume_token = arena_place(a, resume_token);
    if (has_vector) {
        a->used = (a->used + 3) & ~(size_t)3;
        float *dst = (float *)(a->bytes + a->used);
        if (vector != NULL && vector_len > 0) memcpy(dst, vector, vector_len * sizeof(float));
        a->used += vector_len * sizeof(float);
        item.vector = dst;
        item.vector_len = vector_len;
    }
    a->items[index] = item;
}

__attribute__((visibility("hidden")))
void nvisy_arena_free(nvisy_arena *a) {
    free(a->items);
    free(a->bytes);
    a->items = NULL;
    a->bytes = NULL;
    a->item_capacity = a->byte_capacity = a->used = 0;
}
