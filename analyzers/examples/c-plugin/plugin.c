/*
 * cstats: a weightlens analyzer plugin in plain C (ABI 1), proving the ABI is language-neutral.
 *
 * Metrics (computed in double over the float values the host passes):
 *   abs_mean    mean of |x| (NaN for an empty tensor or when a value is NaN)
 *   zero_count  number of values exactly equal to 0 (+0.0 or -0.0)
 *
 * Build: cc -std=c11 -O2 -shared -fPIC -I analyzers/plugin-api/include \
 *           analyzers/examples/c-plugin/plugin.c -o libcstats.so
 */
#include <math.h>
#include <stddef.h>

#include "weightlens_plugin.h"

/* The plugin keeps no state, so every context is this one object and it is thread-safe. */
static int context_object;

/* Error messages are per thread, as the ABI asks of thread-safe plugins. */
static _Thread_local const char *last_message = NULL;

static int32_t fail(const char *message) {
    last_message = message;
    return WL_STATUS_ERROR;
}

static int32_t cstats_create(void **ctx_out) {
    if (ctx_out == NULL) {
        return fail("ctx_out is NULL");
    }
    *ctx_out = &context_object;
    return WL_STATUS_OK;
}

static int32_t cstats_analyze(void *ctx, const WlTensor *tensor, double *out_values, uint64_t n_out,
                              uint64_t *n_written) {
    (void)ctx;
    if (tensor == NULL || out_values == NULL || n_written == NULL) {
        return fail("NULL argument");
    }
    if (n_out < 2) {
        return fail("the host gave room for fewer than 2 values");
    }
    if (tensor->n_values > 0 && tensor->values == NULL) {
        return fail("values is NULL");
    }
    double abs_sum = 0.0;
    uint64_t zeros = 0;
    for (uint64_t i = 0; i < tensor->n_values; i++) {
        double x = (double)tensor->values[i];
        abs_sum += fabs(x);
        zeros += (x == 0.0);
    }
    out_values[0] = tensor->n_values > 0 ? abs_sum / (double)tensor->n_values : NAN;
    out_values[1] = (double)zeros;
    *n_written = 2;
    return WL_STATUS_OK;
}

static const char *cstats_last_error(void *ctx) {
    (void)ctx;
    return last_message;
}

static void cstats_destroy(void *ctx) {
    (void)ctx;
}

static const char *const metric_names[] = {"abs_mean", "zero_count"};

static const WlAnalyzerV1 table = {
    .header = {WL_ABI_MAJOR, WL_ABI_MINOR, sizeof(WlAnalyzerV1)},
    .name = "cstats",
    .version = "1.0.0",
    .n_metrics = 2,
    .metric_names = metric_names,
    .thread_safe = 1,
    .reserved = 0,
    .create = cstats_create,
    .analyze = cstats_analyze,
    .last_error = cstats_last_error,
    .destroy = cstats_destroy,
};

WL_EXPORT const WlAnalyzerV1 *weightlens_analyzer_v1(void) {
    return &table;
}
