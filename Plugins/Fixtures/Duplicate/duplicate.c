// Test fixture: a plugin that declares the provider "twice" twice. The host must
// refuse the plugin with a clear message and keep running.
#include "nvisy_plugin.h"

static nvisy_status create(const nvisy_provider *self, nvisy_bytes config, nvisy_bytes credentials,
                           void **out_instance) {
    (void)self; (void)config; (void)credentials;
    *out_instance = (void *)1;
    return nvisy_status_ok();
}

static nvisy_status write_batch(void *instance, const nvisy_context *ctx, const nvisy_batch *batch) {
    (void)instance; (void)ctx; (void)batch;
    return nvisy_status_ok();
}

static void destroy(void *instance) { (void)instance; }

static const nvisy_provider providers[2] = {
    {.name = "twice", .kinds = NVISY_KIND_SINK, .data_type = NVISY_DATA_OBJECT, .input_data_type = NVISY_DATA_OBJECT,
     .config_schema = "{\"type\":\"object\"}", .create = create, .write = write_batch, .destroy = destroy},
    {.name = "twice", .kinds = NVISY_KIND_SINK, .data_type = NVISY_DATA_OBJECT, .input_data_type = NVISY_DATA_OBJECT,
     .config_schema = "{\"type\":\"object\"}", .create = create, .write = write_batch, .destroy = destroy},
};

static const nvisy_plugin plugin = {
    .abi_major = NVISY_ABI_MAJOR, .abi_minor = NVISY_ABI_MINOR, .name = "duplicate", .version = "0.0.1",
    .providers = providers, .provider_count = 2,
};

__attribute__((visibility("default")))
const nvisy_plugin *nvisy_plugin_entry(const nvisy_host_api *host) {
    (void)host;
    return &plugin;
}
