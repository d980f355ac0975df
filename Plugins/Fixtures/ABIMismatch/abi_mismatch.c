// Test fixture: a plugin built against ABI major 99. The host must refuse it
// after reading only `abi_major`, and must not crash.
#include "nvisy_plugin.h"

static const nvisy_plugin plugin = {
    .abi_major = 99, .abi_minor = 0, .name = "abi-mismatch", .version = "0.0.1",
    .providers = NULL, .provider_count = 0,
};

__attribute__((visibility("default")))
const nvisy_plugin *nvisy_plugin_entry(const nvisy_host_api *host) {
    (void)host;
    return &plugin;
}
