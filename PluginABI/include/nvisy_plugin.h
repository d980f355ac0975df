/*
 * nvisy_plugin.h — the C ABI between the nvisy host and a provider plugin.
 *
 * ABI 1.0. Read top to bottom; every function documents who owns what.
 *
 * Life of a plugin
 *   1. The host dlopen()s the library (RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE) and
 *      never unloads it.
 *   2. It resolves NVISY_PLUGIN_ENTRY_SYMBOL and calls it once with the host API
 *      table. The entry returns a plugin descriptor that must stay valid (and
 *      unchanged) for the life of the process, or NULL on failure.
 *   3. The host reads `abi_major` first and refuses the plugin when it differs
 *      from NVISY_ABI_MAJOR. A higher `abi_minor` than the host's is refused too;
 *      a lower one is accepted (minor versions only append fields/functions).
 *   4. Per connection the host calls provider->create(config, credentials) and,
 *      when done, provider->destroy(instance).
 *
 * Rules that hold for every call
 *   - Every fallible call returns an nvisy_status. `message` is either NULL or
 *     a NUL-terminated string allocated with host->alloc; ownership passes to
 *     the host, which frees it with host->free.
 *   - Inputs the host passes (nvisy_bytes, batches, schemas) are borrowed: valid
 *     only for the duration of the call. Copy what you keep.
 *   - Outputs a plugin returns (batches, vectors, responses) are owned by the
 *     plugin and stay valid until the next call on the same cursor/instance, or
 *     until that cursor/instance is closed/destroyed. The host copies what it keeps.
 *   - The host never calls one instance (or one cursor) from two threads at
 *     once; different instances may be called concurrently on different threads.
 *   - Calls block. A long call should poll host->is_cancelled(ctx) and return
 *     NVISY_ERROR with NVISY_RETRY_TRANSIENT when it answers non-zero.
 *   - Plugins must not throw C++ exceptions or Swift errors across this
 *     boundary, and must not call exit()/abort() on bad input.
 *
 * Not part of the ABI: nvisy_batch_copy.h, a copy helper the host and NvisyPluginKit share.
 */
#ifndef NVISY_PLUGIN_H
#define NVISY_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define NVISY_ABI_MAJOR 1
#define NVISY_ABI_MINOR 0

/** The one symbol every plugin exports: `nvisy_plugin_entry_fn`. */
#define NVISY_PLUGIN_ENTRY_SYMBOL "nvisy_plugin_entry"

/* ---- Status ------------------------------------------------------------ */

typedef enum nvisy_status_code {
    NVISY_OK = 0,    /**< Success. */
    NVISY_END = 1,   /**< A cursor has no more items (out batch is empty). */
    NVISY_ERROR = 2, /**< Failure: see retry class and message. */
} nvisy_status_code;

typedef enum nvisy_retry_class {
    NVISY_RETRY_NONE = 0,           /**< Used with OK/END. */
    NVISY_RETRY_TRANSIENT = 1,      /**< Try again later (timeout, network, cancelled). */
    NVISY_RETRY_PERMANENT = 2,      /**< The same call fails the same way. */
    NVISY_RETRY_INVALID_CONFIG = 3, /**< The config/input is wrong; fix it first. */
    NVISY_RETRY_UNAUTHORIZED = 4,   /**< Credentials were refused. */
} nvisy_retry_class;

typedef struct nvisy_status {
    int32_t code;        /**< nvisy_status_code */
    int32_t retry;       /**< nvisy_retry_class */
    char *message;       /**< NULL, or host->alloc'd UTF-8; the host frees it. */
} nvisy_status;

/* ---- Data that crosses ------------------------------------------------- */

/** A borrowed run of bytes (never NUL-terminated by contract). */
typedef struct nvisy_bytes {
    const uint8_t *data; /**< May be NULL when len == 0. */
    size_t len;
} nvisy_bytes;

/** One data item. All fields are optional (empty = not present). */
typedef struct nvisy_item {
    nvisy_bytes metadata;     /**< A UTF-8 JSON object (e.g. {"path":…} or a record). */
    nvisy_bytes payload;      /**< Raw bytes (an object's content, a document's text). */
    const float *vector;      /**< An embedding, or NULL. */
    size_t vector_len;
    nvisy_bytes resume_token; /**< Opaque; passing it to read() resumes after this item. */
} nvisy_item;

typedef struct nvisy_batch {
    const nvisy_item *items;
    size_t count;
} nvisy_batch;

/** `count` vectors of `dimensions` floats, row-major in `values`. */
typedef struct nvisy_vectors {
    const float *values;
    size_t count;
    size_t dimensions;
} nvisy_vectors;

/* ---- The host API table ------------------------------------------------ */

/** Opaque per-call (or per-cursor) context; only the host looks inside. */
typedef struct nvisy_context nvisy_context;

typedef enum nvisy_log_level {
    NVISY_LOG_DEBUG = 0, NVISY_LOG_INFO = 1, NVISY_LOG_WARNING = 2, NVISY_LOG_ERROR = 3,
} nvisy_log_level;

typedef struct nvisy_host_api {
    uint32_t abi_major;
    uint32_t abi_minor;
    /** Log a NUL-terminated UTF-8 message (borrowed). Callable from any thread. */
    void (*log)(int32_t level, const char *plugin, const char *message);
    /** Non-zero once the host wants the call that received `ctx` to stop
        (timeout or caller cancelled). `ctx` may be NULL (answers 0). */
    int32_t (*is_cancelled)(const nvisy_context *ctx);
    /** Allocate memory whose ownership passes to the host (status messages). */
    void *(*alloc)(size_t size);
    /** Free memory from alloc. */
    void (*free)(void *ptr);
} nvisy_host_api;

/* ---- Providers --------------------------------------------------------- */

/** What a provider can do: a bit set, since one provider may be both a source and a
    sink of the same data (e.g. `filesystem/files`). */
typedef enum nvisy_provider_kind {
    NVISY_KIND_SOURCE = 1, NVISY_KIND_SINK = 2, NVISY_KIND_TRANSFORM = 4,
    NVISY_KIND_EMBEDDING = 8, NVISY_KIND_COMPLETION = 16,
} nvisy_provider_kind;

typedef enum nvisy_data_type {
    NVISY_DATA_OBJECT = 0, NVISY_DATA_RECORD = 1, NVISY_DATA_EMBEDDING = 2,
    NVISY_DATA_DOCUMENT = 3, NVISY_DATA_MESSAGE = 4, NVISY_DATA_GRAPH = 5,
} nvisy_data_type;

/** Receives streamed completion tokens; `token` is borrowed for the callback. */
typedef void (*nvisy_token_fn)(void *user, nvisy_bytes token);

typedef struct nvisy_provider nvisy_provider;

struct nvisy_provider {
    const char *name;               /**< Unique within the plugin, e.g. "files". */
    const char *description;        /**< One sentence, may be NULL. */
    uint32_t kinds;                 /**< nvisy_provider_kind flags, OR'ed. */
    int32_t data_type;              /**< What it produces (source, transform) or accepts (sink). */
    int32_t input_data_type;        /**< Transforms: what they accept; else = data_type. */
    const char *config_schema;      /**< JSON Schema (UTF-8 text), static. */
    const char *credentials_schema; /**< JSON Schema or NULL when none. */

    /** Make an instance from a config and credentials (JSON objects, borrowed).
        On OK, *out_instance is owned by the plugin until destroy(). */
    nvisy_status (*create)(const nvisy_provider *self, nvisy_bytes config, nvisy_bytes credentials,
                           void **out_instance);
    /** Check that the instance can reach what it talks to. */
    nvisy_status (*check)(void *instance, const nvisy_context *ctx);
    /** Sources: open a cursor; `resume_token` is empty to start at the beginning.
        `ctx` stays valid until close_cursor(). */
    nvisy_status (*read)(void *instance, const nvisy_context *ctx, nvisy_bytes resume_token,
                         void **out_cursor);
    /** Transforms: open a cursor over the outputs of one input batch. The host keeps
        `input` (and `ctx`) valid until close_cursor(). */
    nvisy_status (*transform)(void *instance, const nvisy_context *ctx, const nvisy_batch *input,
                              void **out_cursor);
    /** Up to `max_items` next items into *out. OK with count ≥ 1, or END with count 0.
        *out (and everything it points to) is plugin-owned, valid until the next call
        on this cursor or close_cursor(). */
    nvisy_status (*next)(void *cursor, size_t max_items, nvisy_batch *out);
    /** Release a cursor (also when not drained). Never fails. */
    void (*close_cursor)(void *cursor);
    /** Sinks: durably write a batch (borrowed). Must be idempotent per resume token
        where the target allows it: the host may resend a batch after a crash. */
    nvisy_status (*write)(void *instance, const nvisy_context *ctx, const nvisy_batch *batch);
    /** Embeddings: one vector per text (texts borrowed). *out is plugin-owned until
        the next call on this instance. */
    nvisy_status (*embed)(void *instance, const nvisy_context *ctx, const nvisy_bytes *texts,
                          size_t count, nvisy_vectors *out);
    /** Completion: `request` is a JSON object ({"messages":[…], …}). Tokens go to
        on_token as they arrive (same thread, before return). *out_response is a JSON
        object, plugin-owned until the next call on this instance. */
    nvisy_status (*complete)(void *instance, const nvisy_context *ctx, nvisy_bytes request,
                             nvisy_token_fn on_token, void *user, nvisy_bytes *out_response);
    /** Release an instance (after all its cursors are closed). Never fails. */
    void (*destroy)(void *instance);
    /** The plugin's own context for this provider; the host never reads it. */
    void *provider_context;
};

/* Function pointers for kinds the provider lacks are NULL. create/destroy are
   required; next/close_cursor are required with read or transform. */

/* ---- The plugin ---------------------------------------------------------- */

typedef struct nvisy_plugin {
    uint32_t abi_major; /**< First: the host reads it before anything else. */
    uint32_t abi_minor;
    const char *name;    /**< Matches the manifest's `name`. */
    const char *version; /**< The plugin's own version, e.g. "0.1.0". */
    const nvisy_provider *providers;
    size_t provider_count;
} nvisy_plugin;

/** The entry point. `host` stays valid for the life of the process. Returns a
    descriptor valid for the life of the process, or NULL (log why via host->log). */
typedef const nvisy_plugin *(*nvisy_plugin_entry_fn)(const nvisy_host_api *host);

/* ---- Helpers (header-only) ----------------------------------------------- */

static inline nvisy_status nvisy_status_ok(void) {
    nvisy_status s = {NVISY_OK, NVISY_RETRY_NONE, NULL};
    return s;
}

static inline nvisy_status nvisy_status_end(void) {
    nvisy_status s = {NVISY_END, NVISY_RETRY_NONE, NULL};
    return s;
}

#ifdef __cplusplus
}
#endif

#endif /* NVISY_PLUGIN_H */
