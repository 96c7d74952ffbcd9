/* A reader plugin that misbehaves in one way per MODE_* define, for the host's checks:
 * MODE_WRONG_MAJOR (table built for reader ABI 2), MODE_BYTE_LEN (a byte length beyond what the
 * shape needs), MODE_OVERWRITE (claims to have written more than the buffer holds),
 * MODE_LEND_SHORT (lends fewer bytes than the tensor has). Without a mode it is well-formed:
 * one F32 tensor "t" of shape [2, 2] holding 1, 2, 3, 4, copied into the host's buffer. */
#include <stddef.h>
#include <string.h>

#include "weightlens_reader.h"

static const float VALUES[4] = {1.0f, 2.0f, 3.0f, 4.0f};
static const uint64_t SHAPE[2] = {2, 2};
static int SOURCE = 0;

static int32_t identify(const uint8_t *head, uint64_t head_len, const char *path, uint64_t path_len) {
    (void)path;
    (void)path_len;
    return head_len >= 6 && memcmp(head, "LYING!", 6) == 0 ? WL_IDENTIFY_YES : WL_IDENTIFY_NO;
}

static int32_t open_source(const char *path, uint64_t path_len, void **src_out) {
    (void)path;
    (void)path_len;
    *src_out = &SOURCE;
    return WL_STATUS_OK;
}

static uint64_t tensor_count(void *src) {
    (void)src;
    return 1;
}

static int32_t tensor_info(void *src, uint64_t index, WlReaderTensorV1 *out) {
    (void)src;
    if (index != 0) return WL_STATUS_ERROR;
    out->name = "t";
    out->name_len = 1;
    out->shape = SHAPE;
    out->ndim = 2;
    out->dtype = "F32";
    out->dtype_len = 3;
#ifdef MODE_BYTE_LEN
    out->byte_len = (uint64_t)1 << 40;
#else
    out->byte_len = sizeof VALUES;
#endif
    out->metadata_json = NULL;
    out->metadata_len = 0;
    return WL_STATUS_OK;
}

static int32_t tensor_data(void *src, uint64_t index, const uint8_t **borrowed_out, uint8_t *buf, uint64_t buf_len,
                           uint64_t *n_written) {
    (void)src;
    (void)index;
#ifdef MODE_LEND_SHORT
    (void)buf;
    (void)buf_len;
    *borrowed_out = (const uint8_t *)VALUES;
    *n_written = 2;
    return WL_STATUS_OK;
#else
    if (buf == NULL) return WL_STATUS_NEED_BUFFER;
    if (buf_len < sizeof VALUES) return WL_STATUS_ERROR;
    memcpy(buf, VALUES, sizeof VALUES);
    *borrowed_out = NULL;
#ifdef MODE_OVERWRITE
    *n_written = buf_len + 100;
#else
    *n_written = sizeof VALUES;
#endif
    return WL_STATUS_OK;
#endif
}

static const char *last_error(void *src) {
    (void)src;
    return "lying reader failed";
}

static void close_source(void *src) { (void)src; }

static const WlReaderV1 TABLE = {
#ifdef MODE_WRONG_MAJOR
    {2, 0, sizeof(WlReaderV1)},
#else
    {WL_READER_ABI_MAJOR, WL_READER_ABI_MINOR, sizeof(WlReaderV1)},
#endif
    "lying", "lying test reader", "0.1", "lie", "LYING!",
    identify, open_source, tensor_count, tensor_info, tensor_data, last_error, close_source,
};

WL_EXPORT const WlReaderV1 *weightlens_reader_v1(void) { return &TABLE; }
