//! FP8 with block scales (DeepSeek-V3 style; transformers `integrations/finegrained_fp8.py`):
//! `weight` F8 `[out, in]` and `weight_scale_inv` `[ceil(out / bm), ceil(in / bn)]` for
//! `weight_block_size: [bm, bn]`; the edge blocks may be partial. Despite its name the scale is
//! multiplied: `W[i, j] = weight[i, j] * weight_scale_inv[i / bm, j / bn]`.

use super::parts::LayoutError;
use weightlens_core::{Dtype, ElementDecoder, TensorInfo};

use super::ct::{float_decoder, Grouping};
use super::gptq::SCALE_DTYPES;
use super::parts::{dims2, expect_dtype, expect_shape, Parts};

/// Checks the weight and its scale grid for `block = [bm, bn]`.
pub fn block_check(block: [u64; 2], weight: &TensorInfo, scale: &TensorInfo) -> Result<(), LayoutError> {
    expect_dtype(weight, &[Dtype::F8E4M3, Dtype::F8E5M2])?;
    expect_dtype(scale, SCALE_DTYPES)?;
    let [bm, bn] = block;
    if bm == 0 || bn == 0 {
        return Err(format!("weight_block_size {block:?} has a zero side").into());
    }
    let (rows, cols) = dims2(weight)?;
    expect_shape(scale, &[rows.div_ceil(bm), cols.div_ceil(bn)])
}

/// The block shape of a scale grid when a checkpoint does not say it: 128 x 128 (the block of
/// every published block-FP8 checkpoint) if the grid fits it, else `None`.
pub fn infer_block(weight: &TensorInfo, scale: &TensorInfo) -> Option<[u64; 2]> {
    block_check([128, 128], weight, scale).ok().map(|()| [128, 128])
}

/// The decoder of a block-scaled FP8 weight checked by [`block_check`].
pub fn block_decoder<'a>(
    block: [u64; 2],
    parts: &Parts<'a>,
    shape: &[u64],
) -> Result<Box<dyn ElementDecoder + 'a>, LayoutError> {
    float_decoder(Grouping::Block(block[0], block[1]), parts, None, None, shape)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::safetensors::quant::parts::tests_support::info;

    #[test]
    fn partial_edge_blocks_use_their_own_scale() {
        // 3 x 5 weight, blocks of 2 x 3: a 2 x 2 grid, the last row and columns partial.
        let weight = info("weight", Dtype::F8E4M3, vec![3, 5]);
        let scale = info("weight_scale_inv", Dtype::F32, vec![2, 2]);
        block_check([2, 3], &weight, &scale).unwrap();
        assert!(block_check([1, 3], &weight, &scale).is_err());
        assert!(infer_block(&weight, &scale).is_none());
        let one = 0x38u8; // 1.0 in E4M3
        let scales = [1f32, 2.0, 3.0, 4.0];
        let bytes = [vec![one; 15], scales.iter().flat_map(|s| s.to_le_bytes()).collect()];
        let parts = Parts::new(vec![&weight, &scale], bytes.iter().map(Vec::as_slice).collect());
        let d = block_decoder([2, 3], &parts, &[3, 5]).unwrap();
        let mut w = vec![0f64; 15];
        d.decode_f64(0, &mut w).unwrap();
        assert_eq!(w, [1., 1., 1., 2., 2., 1., 1., 1., 2., 2., 3., 3., 3., 4., 4.]);
    }
}
