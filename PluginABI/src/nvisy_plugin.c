// The ABI is header-only; this file gives the C target a translation unit and
// checks at compile time that the header stands alone.
#include "nvisy_plugin.h"

_Static_assert(sizeof(nvisy_item) == 64, "nvisy_item layout changed: bump NVISY_ABI_MAJOR");
