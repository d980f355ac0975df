/*
 * nvisy_batch_copy.h — a helper shared by the host and NvisyPluginKit, not part of the ABI.
 *
 * The ABI lets the receiver of a batch keep nothing it did not copy. Both sides copy a
 * received batch the same way: one allocation holding the item array, then every vector,
 * then every byte the items point to, with the copied items pointing into that block.
 * One malloc and a few memcpy per item; Swift then views items in place instead of
 * building three Data values per item.
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

#ifdef __cplusplus
}
#endif

#endif /* NVISY_BATCH_COPY_H */
