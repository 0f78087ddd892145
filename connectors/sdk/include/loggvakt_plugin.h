/*
 * loggvakt plugin ABI, version 2: a connector for loggvakt as a shared library in C (or any
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
 *
 * Versions: 1 has create, invoke, free and destroy; 2 adds import_stream at the end of the
 * table. loggvakt loads plugins of either version and reads only the fields of the version a
 * plugin returns from loggvakt_plugin_abi_version, so a plugin built against the version 1
 * header goes on working unchanged.
 */
#ifndef LOGGVAKT_PLUGIN_H
#define LOGGVAKT_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define LOGGVAKT_PLUGIN_ABI_VERSION 2u

/* The most bytes loggvakt hands over in one read, and the largest chunk of JSON it takes. */
#define LOGGVAKT_READ_MAX (64u * 1024u)
#define LOGGVAKT_MAX_CHUNK_BYTES (64u * 1024u * 1024u)
/* The most events in one chunk of import_stream. */
#define LOGGVAKT_IMPORT_CHUNK_EVENTS 8192u

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

/*
 * import_stream's callbacks, both loggvakt's, called with the ctx import_stream was given, on
 * the thread that called import_stream and only until it returns.
 *
 * LoggvaktRead fills up to cap bytes of buf with the next bytes of the file and returns how
 * many (> 0), 0 at the end of the file (and on every call after it), or < 0 when the file
 * cannot be read on (an I/O error, or it is over limits.max_bytes: loggvakt counts, the plugin
 * need not). After < 0, return promptly with any status; loggvakt reports its own error.
 *
 * LoggvaktChunk hands over one chunk: an ImportOutcome as JSON ({"events": [...],
 * "rejected": [...], "lines": [...]}), which loggvakt copies before it returns; the bytes stay
 * the plugin's to free. Returns 0 to go on. Anything else means loggvakt stops the import (its
 * consumer failed, or the chunk is malformed): read no more, hand over no more, and return
 * promptly with any status; loggvakt reports why.
 */
typedef intptr_t (*LoggvaktRead)(void *ctx, uint8_t *buf, size_t cap);
typedef int32_t (*LoggvaktChunk)(void *ctx, const uint8_t *json, size_t len);

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

    /* ---- version 2 ---- */

    /*
     * The import method as a stream, or NULL when the plugin only imports whole files
     * (invoke's "import"; loggvakt then reads the whole file and hands it to that). limits:
     * {"max_bytes": N}. Read the file through read, as far as needed at a time, and hand the
     * outcome to chunk as it is made, so that neither side holds the whole file or the whole
     * list of events:
     *   - chunks in file order: a chunk's events and refused rows come after those of the
     *     chunk before (a row refused between two events goes with the chunk of the later);
     *   - each chunk at most LOGGVAKT_IMPORT_CHUNK_EVENTS events and the rows refused among
     *     them, and at most LOGGVAKT_MAX_CHUNK_BYTES of JSON; a chunk may be empty.
     * Returns LOGGVAKT_STATUS_OK once the last chunk is handed over (*out empty or "null"),
     * or LOGGVAKT_STATUS_ERROR with a ConnectorError as JSON in *out; *out is released through
     * free, as for invoke. Chunks handed over before an error do not make an import: loggvakt
     * treats the import as failed. The timeout (plugin_timeout_secs) is the longest the plugin
     * may go without a read or a chunk, not the whole call.
     */
    int32_t (*import_stream)(void *instance, const uint8_t *limits, size_t limits_len,
                             LoggvaktRead read, LoggvaktChunk chunk, void *ctx,
                             LoggvaktBuffer *out);
} LoggvaktPluginVTable;

uint32_t loggvakt_plugin_abi_version(void);
const LoggvaktPluginVTable *loggvakt_plugin_vtable(void);

#ifdef __cplusplus
}
#endif

#endif /* LOGGVAKT_PLUGIN_H */
