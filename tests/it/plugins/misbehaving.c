/*
 * A plugin that misbehaves on purpose, for the tests of plugin isolation: its settings'
 * "mode" says what goes wrong in which call, e.g. "abort_order", "segv_poll", "hang_import",
 * "late_order" (sleeps past the timeout, then would write a marker file), "garbage_order"
 * (answers bytes that are not JSON). Everything else behaves: orders are taken (and written
 * as marker files into "marker_dir"), polls deliver a small file, imports answer no events.
 * Built by the tests with `cc -shared -fPIC`, from the SDK's C header alone.
 *
 * Its import_stream (ABI version 2) makes one event per line after the header, user "u<line>",
 * in chunks of CHUNK_EVENTS, reading the file a little at a time; modes "abort_stream",
 * "hang_stream" and "garbage_stream" misbehave after the first chunk, "slow_stream" takes
 * 600 ms before each full chunk. Built with -DMISBEHAVING_ABI_V1 it is a version 1 plugin,
 * without import_stream.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "loggvakt_plugin.h"

typedef struct {
    char mode[64];
    char marker_dir[512];
    int orders;
} Instance;

static void put(LoggvaktBuffer *out, const char *text) {
    size_t len = strlen(text);
    out->ptr = malloc(len ? len : 1);
    memcpy(out->ptr, text, len);
    out->len = len;
    out->cap = len;
}

/* The string value of "key" in flat JSON without escapes (enough for our own settings). */
static void field(const uint8_t *json, size_t len, const char *key, char *dst, size_t cap) {
    char *text = strndup((const char *)json, len);
    char pattern[80];
    snprintf(pattern, sizeof pattern, "\"%s\":\"", key);
    char *at = strstr(text, pattern);
    dst[0] = 0;
    if (at) {
        at += strlen(pattern);
        char *end = strchr(at, '"');
        size_t n = end ? (size_t)(end - at) : 0;
        if (n >= cap) n = cap - 1;
        memcpy(dst, at, n);
        dst[n] = 0;
    }
    free(text);
}

static void *create(const uint8_t *input, size_t input_len, LoggvaktBuffer *out) {
    (void)out;
    Instance *self = calloc(1, sizeof *self);
    field(input, input_len, "mode", self->mode, sizeof self->mode);
    field(input, input_len, "marker_dir", self->marker_dir, sizeof self->marker_dir);
    return self;
}

/* Does what the mode says for `method`; returns only when the mode lets the call go on. */
static int misbehave(Instance *self, const char *method, LoggvaktBuffer *out) {
    char wanted[64];
    const char *what[] = {"abort", "segv", "hang", "late", "garbage"};
    for (size_t i = 0; i < sizeof what / sizeof *what; i++) {
        snprintf(wanted, sizeof wanted, "%s_%s", what[i], method);
        if (strcmp(self->mode, wanted) != 0) continue;
        switch (i) {
        case 0: abort();
        case 1: *(volatile int *)0 = 1; break; /* a real fault: raise() would meet the host runtime's handler */
        case 2: for (;;) pause();
        case 3: sleep(3); return 0;
        case 4: put(out, "this is not JSON"); return 1;
        }
    }
    return 0;
}

static int32_t invoke(void *instance, const uint8_t *method_bytes, size_t method_len,
                      const uint8_t *input, size_t input_len, LoggvaktBuffer *out) {
    (void)input; (void)input_len;
    Instance *self = instance;
    char method[32] = {0};
    memcpy(method, method_bytes, method_len < 31 ? method_len : 31);
    printf("the plugin prints to stdout, which must not break the host's pipe\n");
    fflush(stdout);
    if (misbehave(self, method, out)) return LOGGVAKT_STATUS_OK;
    if (!strcmp(method, "manifest")) {
        put(out, "{\"name\":\"misbehaving\",\"version\":\"1\",\"capabilities\":"
                 "{\"order\":true,\"poll\":true,\"fetch\":false,\"import\":true,\"write_back\":false}}");
    } else if (!strcmp(method, "health")) {
        put(out, "null");
    } else if (!strcmp(method, "order")) {
        char path[600], ref[64];
        self->orders++;
        snprintf(ref, sizeof ref, "m-%d-%d", (int)getpid(), self->orders);
        snprintf(path, sizeof path, "%s/placed-%s", self->marker_dir, ref);
        FILE *f = fopen(path, "w");
        if (f) fclose(f);
        char answer[128];
        snprintf(answer, sizeof answer, "{\"external_ref\":\"%s\",\"note\":null}", ref);
        put(out, answer);
    } else if (!strcmp(method, "poll")) {
        /* "user,time,patient,action\n" in base64: an extract with a header only. */
        put(out, "{\"delivered\":{\"file_name\":\"x.csv\",\"content_type\":null,"
                 "\"bytes\":\"dXNlcix0aW1lLHBhdGllbnQsYWN0aW9uCg==\"}}");
    } else if (!strcmp(method, "import")) {
        put(out, "{\"events\":[],\"rejected\":[]}");
    } else {
        put(out, "{\"kind\":\"unsupported\",\"message\":\"not offered\"}");
        return LOGGVAKT_STATUS_ERROR;
    }
    return LOGGVAKT_STATUS_OK;
}

static void release(LoggvaktBuffer buffer) { free(buffer.ptr); }
static void destroy(void *instance) { free(instance); }

#ifdef MISBEHAVING_ABI_V1

#define VERSION 1u
/* Designated, so that the version 2 field is left out (and never read by the host). */
static const LoggvaktPluginVTable VTABLE = {
    .abi_version = VERSION, .create = create, .invoke = invoke, .free = release, .destroy = destroy,
};

#else

#define VERSION LOGGVAKT_PLUGIN_ABI_VERSION
#define CHUNK_EVENTS 1000

typedef struct {
    char *text;
    size_t len, cap;
} Json;

static void json_add(Json *j, const char *s, size_t n) {
    if (j->len + n + 1 > j->cap) {
        j->cap = (j->len + n + 1) * 2;
        j->text = realloc(j->text, j->cap);
    }
    memcpy(j->text + j->len, s, n);
    j->len += n;
    j->text[j->len] = 0;
}

static void json_adds(Json *j, const char *s) { json_add(j, s, strlen(s)); }

/* Hands over the events of lines first..first+count-1; returns chunk's answer. */
static int32_t hand_over(LoggvaktChunk chunk, void *ctx, unsigned long long first, size_t count) {
    Json events = {0}, lines = {0};
    char one[512];
    json_adds(&events, "{\"events\":[");
    json_adds(&lines, "],\"rejected\":[],\"lines\":[");
    for (size_t i = 0; i < count; i++) {
        snprintf(one, sizeof one,
                 "%s{\"time\":\"2027-05-17T10:00:00\",\"system\":\"arkiv\",\"user_id\":\"u%llu\","
                 "\"user_name\":null,\"patient_id\":\"191212121212\",\"patient_name\":null,"
                 "\"care_unit\":null,\"action\":\"read\",\"event_text\":\"Läst\","
                 "\"system_part\":null,\"raw\":null}",
                 i ? "," : "", first + i);
        json_adds(&events, one);
        snprintf(one, sizeof one, "%s%llu", i ? "," : "", first + i);
        json_adds(&lines, one);
    }
    json_add(&events, lines.text, lines.len);
    json_adds(&events, "]}");
    int32_t go = chunk(ctx, (const uint8_t *)events.text, events.len);
    free(events.text);
    free(lines.text);
    return go;
}

static int32_t stream_error(LoggvaktBuffer *out, const char *message) {
    char text[256];
    snprintf(text, sizeof text, "{\"kind\":\"permanent\",\"message\":\"%s\"}", message);
    put(out, text);
    return LOGGVAKT_STATUS_ERROR;
}

static int32_t import_stream(void *instance, const uint8_t *limits, size_t limits_len,
                             LoggvaktRead read, LoggvaktChunk chunk, void *ctx,
                             LoggvaktBuffer *out) {
    (void)limits; (void)limits_len;
    Instance *self = instance;
    /* Small reads on purpose: many round trips, and lines across reads. */
    uint8_t buf[4096];
    unsigned long long line = 1, first = 0; /* the line being read; the chunk's first line */
    size_t pending = 0, chunks = 0;
    int in_line = 0; /* bytes of the current line seen */
    for (;;) {
        intptr_t n = read(ctx, buf, sizeof buf);
        if (n < 0) return stream_error(out, "the file could not be read on");
        for (intptr_t i = 0; i <= n; i++) {
            int ends = i < n ? buf[i] == '\n' : n == 0 && in_line;
            if (i < n && !ends) in_line = 1;
            if (!ends) continue;
            if (line > 1) {
                if (!pending) first = line;
                pending++;
            }
            line++;
            in_line = 0;
            if (pending < CHUNK_EVENTS) continue;
            if (!strcmp(self->mode, "slow_stream")) usleep(600 * 1000);
            if (chunks == 1 && !strcmp(self->mode, "garbage_stream")) {
                if (chunk(ctx, (const uint8_t *)"this is not JSON", 16))
                    return stream_error(out, "stopped by the host");
            } else if (hand_over(chunk, ctx, first, pending)) {
                return stream_error(out, "stopped by the host");
            }
            pending = 0;
            if (++chunks == 1) {
                if (!strcmp(self->mode, "abort_stream")) abort();
                if (!strcmp(self->mode, "hang_stream")) for (;;) pause();
            }
        }
        if (n == 0) break;
    }
    if (hand_over(chunk, ctx, first, pending)) return stream_error(out, "stopped by the host");
    return LOGGVAKT_STATUS_OK;
}

static const LoggvaktPluginVTable VTABLE = {
    LOGGVAKT_PLUGIN_ABI_VERSION, create, invoke, release, destroy, import_stream,
};

#endif

uint32_t loggvakt_plugin_abi_version(void) { return VERSION; }
const LoggvaktPluginVTable *loggvakt_plugin_vtable(void) { return &VTABLE; }
