/*
 * Small plugins for the host's failure tests: one source, one variant per MODE_* define
 * (compiled by tests/common/mod.rs with the system C compiler). Without a MODE_* define it is a
 * well-behaved plugin writing (n_values, ndim).
 *
 *   MODE_NO_ENTRY       exports no entry symbol
 *   MODE_V2_ONLY        exports only weightlens_analyzer_v2 (a future ABI)
 *   MODE_ABI_MAJOR_2    exports weightlens_analyzer_v1 but its table says ABI 2.0
 *   MODE_SHORT_TABLE    struct_size smaller than an ABI 1.0 table
 *   MODE_NULL_TABLE     the entry returns NULL
 *   MODE_FUTURE_MINOR   a well-behaved ABI 1.7 plugin: its table has a field appended after v1.0
 *   MODE_BAD_NAME       plugin name with a '.'
 *   MODE_DUP_METRIC     the same metric name twice
 *   MODE_CREATE_FAILS   create() fails with a message
 *   MODE_ANALYZE_ERROR  analyze() fails with a message naming the tensor
 *   MODE_NAN            writes NaN as its first metric
 *   MODE_FEWER          declares 3 metrics, writes 2
 *   MODE_OVERRUN        declares 2 metrics, writes 3 (ignores n_out)
 *   MODE_LIES           writes 1 value but claims 2
 *   MODE_SERIAL         not thread-safe; fails if two calls ever overlap
 *   MODE_ECHO           writes back what the host passed in the WlTensor
 */
#define _POSIX_C_SOURCE 200809L /* nanosleep */

#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "weightlens_plugin.h"

#ifndef PLUGIN_NAME
#define PLUGIN_NAME "broken"
#endif

static _Thread_local char message[256];
static __attribute__((unused)) int context_object;
static __attribute__((unused)) atomic_int active_calls;

static __attribute__((unused)) int32_t fail(const char *text) {
    snprintf(message, sizeof message, "%s", text);
    return WL_STATUS_ERROR;
}

static int32_t p_create(void **ctx_out) {
#if defined(MODE_CREATE_FAILS)
    (void)ctx_out;
    return fail("missing configuration file");
#else
    *ctx_out = &context_object;
    return WL_STATUS_OK;
#endif
}

static int32_t p_analyze(void *ctx, const WlTensor *t, double *out, uint64_t n_out, uint64_t *n_written) {
    (void)ctx;
    (void)n_out;
#if defined(MODE_ANALYZE_ERROR)
    snprintf(message, sizeof message, "cannot analyze %.*s", (int)t->name_len, t->name);
    return WL_STATUS_ERROR;
#elif defined(MODE_NAN)
    out[0] = NAN;
    out[1] = (double)t->n_values;
    *n_written = 2;
#elif defined(MODE_FEWER)
    out[0] = 1.0;
    out[1] = 2.0;
    *n_written = 2;
#elif defined(MODE_OVERRUN)
    for (int i = 0; i < 3; i++) out[i] = (double)i;
    *n_written = 3;
#elif defined(MODE_LIES)
    out[0] = 1.0;
    *n_written = 2;
#elif defined(MODE_SERIAL)
    if (atomic_fetch_add(&active_calls, 1) != 0) {
        atomic_fetch_sub(&active_calls, 1);
        return fail("two calls overlapped in a plugin that is not thread-safe");
    }
    struct timespec pause = {0, 2000000};
    nanosleep(&pause, NULL);
    atomic_fetch_sub(&active_calls, 1);
    out[0] = (double)t->n_values;
    out[1] = (double)t->ndim;
    *n_written = 2;
#elif defined(MODE_ECHO)
    double sum = 0.0;
    for (uint64_t i = 0; i < t->n_values; i++) sum += t->values[i];
    out[0] = (double)t->n_values;
    out[1] = (double)t->ndim;
    out[2] = t->ndim > 0 ? (double)t->shape[0] : -1.0;
    out[3] = (double)t->layer_index;
    out[4] = (double)t->name_len;
    out[5] = t->name[t->name_len] == 0 && t->dtype[t->dtype_len] == 0 && t->block_type[t->block_type_len] == 0;
    out[6] = (t->dtype_len == 4 && memcmp(t->dtype, "BF16", 4) == 0);
    out[7] = (double)t->block_type_len;
    out[8] = sum;
    *n_written = 9;
#else
    out[0] = (double)t->n_values;
    out[1] = (double)t->ndim;
    *n_written = 2;
#endif
    return WL_STATUS_OK;
}

static const char *p_last_error(void *ctx) {
    (void)ctx;
    return message[0] ? message : NULL;
}

static void p_destroy(void *ctx) {
    (void)ctx;
}

#if defined(MODE_FEWER)
static const char *const metrics[] = {"a", "b", "c"};
#elif defined(MODE_DUP_METRIC)
static const char *const metrics[] = {"a", "a"};
#elif defined(MODE_ECHO)
static const char *const metrics[] = {"n_values",   "ndim",      "rows",           "layer_index", "name_len",
                                      "nul_ok",     "is_bf16",   "block_type_len", "sum"};
#else
static const char *const metrics[] = {"a", "b"};
#endif

static const WlAnalyzerV1 table = {
#if defined(MODE_ABI_MAJOR_2)
    .header = {2, 0, sizeof(WlAnalyzerV1)},
#elif defined(MODE_SHORT_TABLE)
    .header = {WL_ABI_MAJOR, WL_ABI_MINOR, sizeof(WlAbiHeader)},
#else
    .header = {WL_ABI_MAJOR, WL_ABI_MINOR, sizeof(WlAnalyzerV1)},
#endif
#if defined(MODE_BAD_NAME)
    .name = "bad.name",
#else
    .name = PLUGIN_NAME,
#endif
    .version = "0.0.1-test",
    .n_metrics = sizeof metrics / sizeof metrics[0],
    .metric_names = metrics,
#if defined(MODE_SERIAL)
    .thread_safe = 0,
#else
    .thread_safe = 1,
#endif
    .reserved = 0,
    .create = p_create,
    .analyze = p_analyze,
    .last_error = p_last_error,
    .destroy = p_destroy,
};

#if defined(MODE_NO_ENTRY)
WL_EXPORT int not_a_plugin(void) {
    return table.thread_safe;
}
#elif defined(MODE_V2_ONLY)
WL_EXPORT const WlAnalyzerV1 *weightlens_analyzer_v2(void) {
    return &table;
}
#elif defined(MODE_NULL_TABLE)
WL_EXPORT const WlAnalyzerV1 *weightlens_analyzer_v1(void) {
    return table.thread_safe ? NULL : &table;
}
#elif defined(MODE_FUTURE_MINOR)
static struct {
    WlAnalyzerV1 v1;
    uint64_t appended_in_1_7;
} future;

WL_EXPORT const WlAnalyzerV1 *weightlens_analyzer_v1(void) {
    future.v1 = table;
    future.v1.header.abi_minor = 7;
    future.v1.header.struct_size = sizeof future;
    future.appended_in_1_7 = 1;
    return &future.v1;
}
#else
WL_EXPORT const WlAnalyzerV1 *weightlens_analyzer_v1(void) {
    return &table;
}
#endif
