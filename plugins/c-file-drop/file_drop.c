/*
 * A loggvakt plugin in plain C, written from connectors/sdk/include/loggvakt_plugin.h and the
 * SDK's README alone: the file drop of plugins/example-file-drop, for a system with no API.
 *
 * - order: the order (its JSON, as loggvakt sent it) is written into the `outbox` folder as
 *   <reference>.json, atomically (a temporary file, fsync, rename). An order already there is
 *   not written again: the host may repeat an order after a crash, with the same reference.
 * - poll: <reference>.csv in the `inbox` folder, once someone puts it there, is delivered as
 *   it is. The plugin reads no files itself (capability import = false): loggvakt reads the
 *   delivery in its normalised CSV form.
 *
 * Build:  cc -shared -fPIC -O2 -I connectors/sdk/include -o libc_file_drop.so file_drop.c
 * Config: [[system]] connector = "plugin:/path/libc_file_drop.so"
 *         settings = { outbox = "/srv/outbox", inbox = "/srv/inbox" }
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "loggvakt_plugin.h"

typedef struct {
    char outbox[1024];
    char inbox[1024];
} FileDrop;

/* ---- buffers and JSON text ---- */

typedef struct {
    char *text;
    size_t len, cap;
} Text;

static void add(Text *t, const char *s, size_t n) {
    if (t->len + n + 1 > t->cap) {
        t->cap = (t->len + n + 1) * 2;
        t->text = realloc(t->text, t->cap);
    }
    memcpy(t->text + t->len, s, n);
    t->len += n;
    t->text[t->len] = 0;
}

static void adds(Text *t, const char *s) { add(t, s, strlen(s)); }

/* A JSON string literal of s: quotes, backslashes and control characters escaped. */
static void add_json_string(Text *t, const char *s) {
    adds(t, "\"");
    for (; *s; s++) {
        char esc[8];
        if (*s == '"' || *s == '\\') {
            esc[0] = '\\'; esc[1] = *s; add(t, esc, 2);
        } else if ((unsigned char)*s < 0x20) {
            snprintf(esc, sizeof esc, "\\u%04x", (unsigned char)*s); adds(t, esc);
        } else {
            add(t, s, 1);
        }
    }
    adds(t, "\"");
}

/* Hands t to loggvakt as the answer; loggvakt gives it back to release(). */
static int32_t answer(LoggvaktBuffer *out, Text *t, int32_t status) {
    out->ptr = (uint8_t *)t->text;
    out->len = t->len;
    out->cap = t->cap;
    return status;
}

/* A ConnectorError: kind is one of retryable, permanent, malformed, unsupported, config,
 * in_doubt. */
static int32_t error(LoggvaktBuffer *out, const char *kind, const char *message, const char *detail) {
    Text t = {0};
    adds(&t, "{\"kind\":\"");
    adds(&t, kind);
    adds(&t, "\",\"message\":");
    char full[2048];
    snprintf(full, sizeof full, "%s%s", message, detail ? detail : "");
    add_json_string(&t, full);
    adds(&t, "}");
    return answer(out, &t, LOGGVAKT_STATUS_ERROR);
}

/* The string value of the first "key" in JSON text (loggvakt writes no spaces around ':').
 * Escaped characters are taken as they are; the values read here (folders, references)
 * have none in practice. */
static int string_field(const uint8_t *json, size_t len, const char *key, char *dst, size_t cap) {
    char pattern[64];
    snprintf(pattern, sizeof pattern, "\"%s\":\"", key);
    size_t plen = strlen(pattern);
    for (size_t i = 0; i + plen <= len; i++) {
        if (memcmp(json + i, pattern, plen) != 0) continue;
        size_t j = i + plen, n = 0;
        while (j < len && json[j] != '"' && n + 1 < cap) {
            if (json[j] == '\\' && j + 1 < len) j++;
            dst[n++] = (char)json[j++];
        }
        dst[n] = 0;
        return j < len && json[j] == '"';
    }
    return 0;
}

/* A reference as a file name: letters, digits, - and _ kept, anything else '_'. */
static void file_stem(const char *reference, char *dst, size_t cap) {
    size_t n = 0;
    for (; *reference && n + 1 < cap; reference++) {
        char c = *reference;
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '-' || c == '_';
        dst[n++] = ok ? c : '_';
    }
    dst[n] = 0;
}

static int is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static void add_base64(Text *t, const unsigned char *bytes, size_t len) {
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (size_t i = 0; i < len; i += 3) {
        unsigned v = bytes[i] << 16 | (i + 1 < len ? bytes[i + 1] << 8 : 0) |
                     (i + 2 < len ? bytes[i + 2] : 0);
        char quad[4] = {abc[v >> 18 & 63], abc[v >> 12 & 63],
                        i + 1 < len ? abc[v >> 6 & 63] : '=', i + 2 < len ? abc[v & 63] : '='};
        add(t, quad, 4);
    }
}

/* ---- the methods ---- */

static int32_t manifest(LoggvaktBuffer *out) {
    Text t = {0};
    adds(&t, "{\"name\":\"c-file-drop\",\"version\":\"1.0.0\",\"capabilities\":"
             "{\"order\":true,\"poll\":true,\"fetch\":false,\"import\":false,\"write_back\":false}}");
    return answer(out, &t, LOGGVAKT_STATUS_OK);
}

static int32_t health(FileDrop *self, LoggvaktBuffer *out) {
    if (!is_dir(self->outbox)) return error(out, "config", "outbox folder does not exist: ", self->outbox);
    if (!is_dir(self->inbox)) return error(out, "config", "inbox folder does not exist: ", self->inbox);
    Text t = {0};
    adds(&t, "null");
    return answer(out, &t, LOGGVAKT_STATUS_OK);
}

static int32_t order(FileDrop *self, const uint8_t *input, size_t len, LoggvaktBuffer *out) {
    char reference[256], stem[256], target[1400], tmp[1400];
    if (!string_field(input, len, "reference", reference, sizeof reference))
        return error(out, "malformed", "the order has no reference", NULL);
    if (!is_dir(self->outbox))
        return error(out, "retryable", "outbox folder is not there: ", self->outbox);
    file_stem(reference, stem, sizeof stem);
    snprintf(target, sizeof target, "%s/%s.json", self->outbox, stem);
    Text t = {0};
    adds(&t, "{\"external_ref\":");
    char name[300];
    snprintf(name, sizeof name, "%s.json", stem);
    add_json_string(&t, name);
    if (access(target, F_OK) == 0) {
        adds(&t, ",\"note\":\"already in the outbox\"}");
        return answer(out, &t, LOGGVAKT_STATUS_OK);
    }
    snprintf(tmp, sizeof tmp, "%s/.%s.json.tmp", self->outbox, stem);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0640);
    int ok = fd >= 0 && write(fd, input, len) == (ssize_t)len && fsync(fd) == 0;
    if (fd >= 0) close(fd);
    if (!ok || rename(tmp, target) != 0) {
        free(t.text);
        return error(out, "retryable", "cannot write the order into the outbox: ", strerror(errno));
    }
    adds(&t, ",\"note\":null}");
    return answer(out, &t, LOGGVAKT_STATUS_OK);
}

static int32_t poll_delivery(FileDrop *self, const uint8_t *input, size_t len, LoggvaktBuffer *out) {
    char reference[256], stem[256], path[1400];
    if (!string_field(input, len, "reference", reference, sizeof reference))
        return error(out, "malformed", "the poll has no reference", NULL);
    file_stem(reference, stem, sizeof stem);
    snprintf(path, sizeof path, "%s/%s.csv", self->inbox, stem);
    FILE *f = fopen(path, "rb");
    Text t = {0};
    if (!f) {
        if (errno != ENOENT) return error(out, "retryable", "cannot read the inbox: ", strerror(errno));
        adds(&t, "\"pending\"");
        return answer(out, &t, LOGGVAKT_STATUS_OK);
    }
    Text file = {0};
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) add(&file, chunk, n);
    fclose(f);
    adds(&t, "{\"delivered\":{\"file_name\":\"");
    adds(&t, stem);
    adds(&t, ".csv\",\"content_type\":\"text/csv\",\"bytes\":\"");
    add_base64(&t, (const unsigned char *)file.text, file.len);
    adds(&t, "\"}}");
    free(file.text);
    return answer(out, &t, LOGGVAKT_STATUS_OK);
}

/* ---- the ABI ---- */

static void *create(const uint8_t *input, size_t len, LoggvaktBuffer *out) {
    FileDrop *self = calloc(1, sizeof *self);
    if (!string_field(input, len, "outbox", self->outbox, sizeof self->outbox) ||
        !string_field(input, len, "inbox", self->inbox, sizeof self->inbox)) {
        free(self);
        error(out, "config", "the settings need outbox and inbox (folders)", NULL);
        return NULL;
    }
    return self;
}

static int32_t invoke(void *instance, const uint8_t *method, size_t method_len,
                      const uint8_t *input, size_t input_len, LoggvaktBuffer *out) {
    FileDrop *self = instance;
#define IS(name) (method_len == strlen(name) && memcmp(method, name, method_len) == 0)
    if (IS("manifest")) return manifest(out);
    if (IS("health")) return health(self, out);
    if (IS("order")) return order(self, input, input_len, out);
    if (IS("poll")) return poll_delivery(self, input, input_len, out);
#undef IS
    return error(out, "unsupported", "not offered by the C file drop", NULL);
}

static void release(LoggvaktBuffer buffer) { free(buffer.ptr); }
static void destroy(void *instance) { free(instance); }

/* No import_stream: this plugin imports nothing (capability import = false). */
static const LoggvaktPluginVTable VTABLE = {
    LOGGVAKT_PLUGIN_ABI_VERSION, create, invoke, release, destroy, NULL,
};

uint32_t loggvakt_plugin_abi_version(void) { return LOGGVAKT_PLUGIN_ABI_VERSION; }
const LoggvaktPluginVTable *loggvakt_plugin_vtable(void) { return &VTABLE; }
