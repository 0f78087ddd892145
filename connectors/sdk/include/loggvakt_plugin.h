/*
 * loggvakt plugin ABI, version 1: a connector for loggvakt as a shared library in C (or any
 * language that can export C functions). See connectors/sdk/README.md for the JSON of every
 * method, and plugins/README.md for building and configuring one.
 *
 * The library exports two functions:
 *   uint32_t loggvakt_plugin_abi_version(void);              returns LOGGVAKT_PLUGIN_ABI_VERSION
 *   const LoggvaktPluginVTable *loggvakt_plugin_vtable(void); a table valid for the process
 *
 * loggvakt runs each configured plugin in a process of its own (`loggvakt plugin-host`) and
 * calls it one call at a time. A call that crashes or overruns the system's
 * plugin_timeout_secs ends that process; an `order` cut off that way is treated as possibly
 * placed (in doubt), so `order` must be idempotent by the request's idempotency_key: the host
 * may ask again for the same key after a crash.
 */
#ifndef LOGGVAKT_PLUGIN_H
#define LOGGVAKT_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define LOGGVAKT_PLUGIN_ABI_VERSION 1u

/* invoke's return values. */
#define LOGGVAKT_STATUS_OK 0    /* *out holds the answer as JSON */
#define LOGGVAKT_STATUS_ERROR 1 /* *out holds a ConnectorError as JSON: {"kind": ..., "message": ...} */

/*
 * Bytes the plugin allocated and only the plugin frees (through `free` below): ptr, len and
 * the capacity the plugin needs to release them. ptr == NULL means empty and is never freed.
 */
typedef struct LoggvaktBuffer {
    uint8_t *ptr;
    size_t len;
    size_t cap;
} LoggvaktBuffer;

typedef struct LoggvaktPluginVTable {
    /* Must equal LOGGVAKT_PLUGIN_ABI_VERSION. */
    uint32_t abi_version;
    /*
     * input: {"system_id": "...", "settings": {...}} (the system's settings from the
     * configuration). Returns an instance, or NULL with a ConnectorError as JSON in *out.
     */
    void *(*create)(const uint8_t *input, size_t input_len, LoggvaktBuffer *out);
    /*
     * Calls `method` (UTF-8, not NUL-terminated) with its JSON input: manifest, health, order,
     * poll, fetch, import, write_back. An unknown method answers an error of kind
     * "unsupported".
     */
    int32_t (*invoke)(void *instance, const uint8_t *method, size_t method_len,
                      const uint8_t *input, size_t input_len, LoggvaktBuffer *out);
    /* Releases a buffer this plugin wrote into *out; called once for each non-NULL ptr. */
    void (*free)(LoggvaktBuffer buffer);
    /* Drops an instance after its last call. */
    void (*destroy)(void *instance);
} LoggvaktPluginVTable;

uint32_t loggvakt_plugin_abi_version(void);
const LoggvaktPluginVTable *loggvakt_plugin_vtable(void);

#ifdef __cplusplus
}
#endif

#endif /* LOGGVAKT_PLUGIN_H */
