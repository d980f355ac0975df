/*
 * nvisy_batch_copy.h — a helper shared by the host and NvisyPluginKit, not part of the ABI.
 *
 * The ABI lets the receiver of a batch keep nothing it did not copy. Both sides copy a
 * received batch the same way: one allocation holding the item array, then every vector,
 * then every byte the items point to, with the copied items pointing into that block.
 * One malloc and a few memcpy per item; Swift then views items in place instead of
 * building three Data values per item.
 *
 * The sending side shares nvisy_arena: the items a sender made itself are laid out in
 * buffers it reuses from fill to fill (items it passes on as received need no copy).
 */
#ifndef NVISY_BATCH_COPY_H
#define NVISY_BATCH_COPY_H

#include "nvisy_plugin.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A deep copy of `count` items in one malloc'd block (free it with free()). The copy's
    items start at the block's start; *out_size receives the block's size. Returns NULL
    when count is 0 or allocation fails. Fields that are empty stay NULL/0. */
nvisy_item *nvisy_batch_copy(const nvisy_item *items, size_t count, size_t *out_size);

/** Reusable memory in which a sender lays out the items it passes across (the host's
    write and transform input, a plugin's `next` output), kept until its next fill, as the
    ABI's ownership rules ask. Zero-initialise it; free it with nvisy_arena_free. */
typedef struct nvisy_arena {
    nvisy_item *items;
    size_t item_capacity;
    uint8_t *bytes;
    size_t byte_capacity;
    size_t used;
} nvisy_arena;

/** Starts a fill of `count` items whose copied fields take at most `bytes` bytes (count each
    vector as 4 × its length + 4, for alignment). Grows the buffers when needed (the previous
    fill's memory is then gone). Returns 0, or -1 when allocation fails. */
int nvisy_arena_reset(nvisy_arena *arena, size_t count, size_t bytes);

/** Copies one item's fields into the arena as item `index` (below the reset's `count`).
    An empty field stays NULL/0; `vector` is kept (possibly empty) when `has_vector` is set. */
void nvisy_arena_put(nvisy_arena *arena, size_t index, nvisy_bytes metadata, nvisy_bytes payload,
                     nvisy_bytes resume_token, const float *vector, size_t vector_len, int has_vector);

/** Frees the arena's buffers. */
void nvisy_arena_free(nvisy_arena *arena);

#ifdef __cplusplus
}
#endif

#endif /* NVISY_BATCH_COPY_H */
