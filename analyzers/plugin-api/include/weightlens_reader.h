/*
 * weightlens reader plugin ABI, major version 1, minor version 0.
 *
 * Mirrors `weightlens_plugin_api::reader` (analyzers/plugin-api/src/reader.rs) field for field.
 * See PLUGINS.md ("Reader plugins") for the reference. In short:
 *
 * - Export `const WlReaderV1 *weightlens_reader_v1(void)` returning a static table. A library
 *   may also export `weightlens_analyzer_v1` (weightlens_plugin.h): both kinds in one file.
 * - identify() answers WL_IDENTIFY_NO / _MAYBE / _YES for a file's first bytes.
 * - open() makes a source; tensor_count()/tensor_info() describe its tensors (strings and arrays
 *   owned by the plugin, valid until close()); tensor_data() lends the bytes (valid until close())
 *   or, when it returns WL_STATUS_NEED_BUFFER, copies them into the host's buffer on the next call.
 * - The host validates every length: byte_len must equal shape x dtype size, n_written must equal
 *   byte_len and fit the buffer. Never let an exception leave a call.
 */
#ifndef WEIGHTLENS_READER_H
#define WEIGHTLENS_READER_H

#include "weightlens_plugin.h"

#ifdef __cplusplus
extern "C" {
#endif

#define WL_READER_ABI_MAJOR 1
#define WL_READER_ABI_MINOR 0
#define WL_READER_ENTRY_SYMBOL_V1 "weightlens_reader_v1"

#define WL_IDENTIFY_NO 0
#define WL_IDENTIFY_MAYBE 1
#define WL_IDENTIFY_YES 2
#define WL_STATUS_NEED_BUFFER 3 /* tensor_data: call again with a buffer */

/* One tensor; dtype in weightlens' vocabulary: F32 F16 BF16 F64 F8_E4M3 F8_E5M2 I8 I16 I32 I64
 * U8 U16 U32 U64 BOOL. Strings carry their length and need no NUL. */
typedef struct WlReaderTensorV1 {
    const char *name;
    uint64_t name_len;
    const uint64_t *shape; /* ndim dimensions, row-major; NULL when ndim == 0 */
    uint64_t ndim;
    const char *dtype;
    uint64_t dtype_len;
    uint64_t byte_len;          /* element count x dtype size */
    const char *metadata_json;  /* a JSON object, or NULL */
    uint64_t metadata_len;
} WlReaderTensorV1;

typedef struct WlReaderV1 {
    WlAbiHeader header;     /* { WL_READER_ABI_MAJOR, WL_READER_ABI_MINOR, sizeof(WlReaderV1) } */
    const char *id;         /* the framework column value: [A-Za-z0-9_-], 1 to 64 bytes */
    const char *name;       /* human name */
    const char *version;
    const char *extensions; /* comma-separated, lower case, no dots; "" for none */
    const char *magic;      /* what identify() looks for */
    int32_t (*identify)(const uint8_t *head, uint64_t head_len, const char *path, uint64_t path_len);
    int32_t (*open)(const char *path, uint64_t path_len, void **src_out);
    uint64_t (*tensor_count)(void *src);
    int32_t (*tensor_info)(void *src, uint64_t index, WlReaderTensorV1 *out);
    int32_t (*tensor_data)(void *src, uint64_t index, const uint8_t **borrowed_out, uint8_t *buf,
                           uint64_t buf_len, uint64_t *n_written);
    const char *(*last_error)(void *src); /* src may be NULL after a failed open() */
    void (*close)(void *src);
} WlReaderV1;

typedef const WlReaderV1 *(*WlReaderEntryV1)(void);

#ifdef __cplusplus
}
#endif

#endif /* WEIGHTLENS_READER_H */
