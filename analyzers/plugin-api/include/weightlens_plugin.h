/*
 * weightlens analyzer plugin ABI, major version 1, minor version 0.
 *
 * This header mirrors the Rust crate `weightlens-plugin-api` (analyzers/plugin-api/src/lib.rs)
 * field for field; a test compiles it and compares every size and offset. See PLUGINS.md for the
 * full reference, the ownership rules and the versioning policy. In short:
 *
 * - Export `const WlAnalyzerV1 *weightlens_analyzer_v1(void)` returning a static table.
 * - The table and every string/array it points to belong to the plugin and must stay valid and
 *   unchanged while the library is loaded.
 * - Everything a WlTensor points to belongs to the host and is valid only during `analyze`.
 * - The string returned by `last_error` must stay valid until the next call into the plugin from
 *   the same thread (use thread-local storage when `thread_safe` is set).
 * - Never let an exception (C++) or a panic (Rust) leave a call.
 */
#ifndef WEIGHTLENS_PLUGIN_H
#define WEIGHTLENS_PLUGIN_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define WL_ABI_MAJOR 1
#define WL_ABI_MINOR 0
#define WL_ENTRY_SYMBOL_V1 "weightlens_analyzer_v1"

#define WL_STATUS_OK 0    /* success */
#define WL_STATUS_ERROR 1 /* failure, last_error() says why */
#define WL_STATUS_PANIC 2 /* a panic/exception was caught at the boundary */

#define WL_MAX_METRICS 1024 /* the most metrics a host accepts */
#define WL_MAX_NAME_LEN 64  /* names: [A-Za-z0-9_-], 1 to 64 bytes */

#if defined(_WIN32)
#define WL_EXPORT __declspec(dllexport)
#else
#define WL_EXPORT __attribute__((visibility("default")))
#endif

/* The start of every entry table, whatever its major version. */
typedef struct WlAbiHeader {
    uint32_t abi_major;   /* WL_ABI_MAJOR; must match the entry symbol */
    uint32_t abi_minor;   /* WL_ABI_MINOR the plugin was built with */
    uint64_t struct_size; /* sizeof the whole table, header included */
} WlAbiHeader;

/* One tensor, owned by the host, valid only during analyze(). Strings are NUL-terminated and
 * carry their length without the NUL. Pointers may be NULL or dangling when their count is 0. */
typedef struct WlTensor {
    const float *values;     /* decoded values, row-major */
    uint64_t n_values;       /* number of values */
    const uint64_t *shape;   /* dimensions, row-major ([rows, cols] for a matrix) */
    uint64_t ndim;           /* number of dimensions (0 for a scalar) */
    const char *name;        /* tensor name as stored in the file */
    uint64_t name_len;
    const char *dtype;       /* storage type as the file names it: "BF16", "Q4_K", "float16" */
    uint64_t dtype_len;
    int64_t layer_index;     /* layer number parsed from the name, -1 when none */
    const char *block_type;  /* "q_proj", "mlp_up", "embedding", "norm", "other", ... */
    uint64_t block_type_len;
} WlTensor;

/* Creates a context in *ctx_out; returns WL_STATUS_OK. On failure returns another status; if it
 * still wrote a context, the host reads last_error() from it and then destroys it. */
typedef int32_t (*WlCreateFn)(void **ctx_out);

/* Writes one value per metric to out_values[0..n_metrics] (NaN where undefined), sets *n_written
 * to the number written and returns WL_STATUS_OK. Never writes more than n_out values. */
typedef int32_t (*WlAnalyzeFn)(void *ctx, const WlTensor *tensor, double *out_values, uint64_t n_out,
                               uint64_t *n_written);

/* The message of the last failed call on ctx from this thread, or NULL. ctx may be NULL. */
typedef const char *(*WlLastErrorFn)(void *ctx);

/* Releases a context, exactly once, after every other call on it (possibly on another thread). */
typedef void (*WlDestroyFn)(void *ctx);

/* The table returned by weightlens_analyzer_v1(). Minor versions append fields at the end. */
typedef struct WlAnalyzerV1 {
    WlAbiHeader header;              /* { WL_ABI_MAJOR, WL_ABI_MINOR, sizeof(WlAnalyzerV1) } */
    const char *name;                /* plugin name, the column prefix: [A-Za-z0-9_-]{1,64} */
    const char *version;             /* plugin version, free text ("1.2.0") */
    uint64_t n_metrics;              /* number of metrics, at most WL_MAX_METRICS */
    const char *const *metric_names; /* n_metrics unique names: [A-Za-z0-9_-]{1,64} */
    uint32_t thread_safe;            /* non-zero: analyze() may run concurrently on one ctx */
    uint32_t reserved;               /* zero */
    WlCreateFn create;
    WlAnalyzeFn analyze;
    WlLastErrorFn last_error;
    WlDestroyFn destroy;
} WlAnalyzerV1;

/* The entry symbol a plugin exports (the host calls it once per load, before anything else). */
typedef const WlAnalyzerV1 *(*WlEntryV1)(void);

#ifdef __cplusplus
}
#endif

#endif /* WEIGHTLENS_PLUGIN_H */
