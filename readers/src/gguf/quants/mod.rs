//! ggml tensor types and their dequantization.
//!
//! One `static` [`QuantType`] per block-quantized ggml type and one decoding function per type,
//! grouped by block family: [`legacy`] (Q4_0..Q8_0), [`binary`] (Q1_0, Q2_0), [`kquants`]
//! (Q2_K..Q6_K), [`iquants`] (IQ*), [`ternary`] (TQ1_0, TQ2_0) and [`fp4`] (MXFP4, NVFP4).
//! The formulas are ggml's (`ggml-quants.c`), evaluated in `f32` in the same order as gguf-py's
//! `gguf.quants.dequantize`, so results are bit-identical to it.
//!
//! Every decoder walks whole blocks with `chunks_exact` and converts each chunk to a fixed-size
//! array, so the per-block code has no bounds checks and simple loops the compiler vectorizes.

pub mod binary;
pub mod fp4;
pub mod grids;
pub mod iquants;
pub mod kquants;
pub mod legacy;
pub mod ternary;

use weightlens_core::{BlockDecoder, DecodeError, Dtype, QuantType};

/// Elements per k-quant super-block (ggml `QK_K`).
pub const QK_K: usize = 256;

macro_rules! quant_types {
    ($($stat:ident = ($name:literal, $id:literal, $elems:expr, $bytes:literal, $decode:path);)*) => {
        $(
            #[doc = concat!("ggml `", $name, "` (type id ", $id, ").")]
            pub static $stat: QuantType =
                QuantType { name: $name, id: $id, block_elems: $elems as u32, block_bytes: $bytes };
        )*

        /// Every block-quantized type this reader decodes.
        pub static ALL: &[&QuantType] = &[$(&$stat),*];

        fn decoder_of(id: u32) -> Option<fn(&[u8], &mut [f32])> {
            match id {
                $($id => Some($decode),)*
                _ => None,
            }
        }
    };
}

quant_types! {
    Q4_0 = ("Q4_0", 2, 32, 18, legacy::q4_0);
    Q4_1 = ("Q4_1", 3, 32, 20, legacy::q4_1);
    Q5_0 = ("Q5_0", 6, 32, 22, legacy::q5_0);
    Q5_1 = ("Q5_1", 7, 32, 24, legacy::q5_1);
    Q8_0 = ("Q8_0", 8, 32, 34, legacy::q8_0);
    Q2_K = ("Q2_K", 10, QK_K, 84, kquants::q2_k);
    Q3_K = ("Q3_K", 11, QK_K, 110, kquants::q3_k);
    Q4_K = ("Q4_K", 12, QK_K, 144, kquants::q4_k);
    Q5_K = ("Q5_K", 13, QK_K, 176, kquants::q5_k);
    Q6_K = ("Q6_K", 14, QK_K, 210, kquants::q6_k);
    IQ2_XXS = ("IQ2_XXS", 16, QK_K, 66, iquants::iq2_xxs);
    IQ2_XS = ("IQ2_XS", 17, QK_K, 74, iquants::iq2_xs);
    IQ3_XXS = ("IQ3_XXS", 18, QK_K, 98, iquants::iq3_xxs);
    IQ1_S = ("IQ1_S", 19, QK_K, 50, iquants::iq1_s);
    IQ4_NL = ("IQ4_NL", 20, 32, 18, iquants::iq4_nl);
    IQ3_S = ("IQ3_S", 21, QK_K, 110, iquants::iq3_s);
    IQ2_S = ("IQ2_S", 22, QK_K, 82, iquants::iq2_s);
    IQ4_XS = ("IQ4_XS", 23, QK_K, 136, iquants::iq4_xs);
    IQ1_M = ("IQ1_M", 29, QK_K, 56, iquants::iq1_m);
    TQ1_0 = ("TQ1_0", 34, QK_K, 54, ternary::tq1_0);
    TQ2_0 = ("TQ2_0", 35, QK_K, 66, ternary::tq2_0);
    MXFP4 = ("MXFP4", 39, 32, 17, fp4::mxfp4);
    NVFP4 = ("NVFP4", 40, 64, 36, fp4::nvfp4);
    Q1_0 = ("Q1_0", 41, 128, 18, binary::q1_0);
    Q2_0 = ("Q2_0", 42, 64, 18, binary::q2_0);
}

/// What a ggml type id stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GgmlType {
    /// A plain element type, served zero-copy.
    Plain(Dtype),
    /// A block-quantized type decoded by [`GgmlDecoder`].
    Quant(&'static QuantType),
    /// A type ggml defines but that holds no weights in GGUF files (`Q8_1`, `Q8_K` are only
    /// used for intermediate products).
    Intermediate(&'static str),
    /// A type id ggml removed (4, 5: Q4_2/Q4_3; 31-33: Q4_0_4_4..Q4_0_8_8; 36-38: IQ4_NL_4_4..).
    Removed(&'static str),
    /// An id this reader does not know.
    Unknown,
}

impl GgmlType {
    /// The type with ggml id `id`.
    pub fn from_id(id: u32) -> Self {
        match id {
            0 => GgmlType::Plain(Dtype::F32),
            1 => GgmlType::Plain(Dtype::F16),
            24 => GgmlType::Plain(Dtype::I8),
            25 => GgmlType::Plain(Dtype::I16),
            26 => GgmlType::Plain(Dtype::I32),
            27 => GgmlType::Plain(Dtype::I64),
            28 => GgmlType::Plain(Dtype::F64),
            30 => GgmlType::Plain(Dtype::BF16),
            9 => GgmlType::Intermediate("Q8_1"),
            15 => GgmlType::Intermediate("Q8_K"),
            4 => GgmlType::Removed("Q4_2"),
            5 => GgmlType::Removed("Q4_3"),
            31 => GgmlType::Removed("Q4_0_4_4"),
            32 => GgmlType::Removed("Q4_0_4_8"),
            33 => GgmlType::Removed("Q4_0_8_8"),
            36 => GgmlType::Removed("IQ4_NL_4_4"),
            37 => GgmlType::Removed("IQ4_NL_4_8"),
            38 => GgmlType::Removed("IQ4_NL_8_8"),
            _ => match ALL.iter().find(|q| q.id == id) {
                Some(q) => GgmlType::Quant(q),
                None => GgmlType::Unknown,
            },
        }
    }

    /// The type's name (`Q4_K`, `F32`), or `type <id>` for an unknown id.
    pub fn name(self, id: u32) -> String {
        match self {
            GgmlType::Plain(d) => d.safetensors_name().to_string(),
            GgmlType::Quant(q) => q.name.to_string(),
            GgmlType::Intermediate(n) | GgmlType::Removed(n) => n.to_string(),
            GgmlType::Unknown => format!("type {id}"),
        }
    }

    /// Why tensors of this type cannot be read, or `None` if they can.
    pub fn unsupported_reason(self, id: u32) -> Option<String> {
        match self {
            GgmlType::Plain(_) | GgmlType::Quant(_) => None,
            GgmlType::Intermediate(n) => {
                Some(format!("ggml type {id} ({n}) is an intermediate type that GGUF files do not store"))
            }
            GgmlType::Removed(n) => Some(format!("ggml type {id} ({n}) was removed from ggml and cannot be read")),
            GgmlType::Unknown => Some(format!("unknown ggml type id {id}")),
        }
    }
}

/// The [`BlockDecoder`] of every ggml block-quantized type.
#[derive(Debug, Default, Clone, Copy)]
pub struct GgmlDecoder;

impl BlockDecoder for GgmlDecoder {
    fn decode_blocks(&self, quant: &QuantType, src: &[u8], dst: &mut [f32]) -> Result<(), DecodeError> {
        let Some(decode) = decoder_of(quant.id) else {
            return Err(DecodeError::NoDecoder { family: "ggml", quant: quant.name, id: quant.id });
        };
        let (bb, be) = (quant.block_bytes as usize, quant.block_elems as usize);
        if bb == 0 || !src.len().is_multiple_of(bb) || dst.len() != src.len() / bb * be {
            return Err(DecodeError::Length {
                bytes: src.len(),
                quant: quant.name,
                values: dst.len(),
                block_bytes: quant.block_bytes,
                block_elems: quant.block_elems,
            });
        }
        decode(src, dst);
        Ok(())
    }
}

/// Runs `f` on every block of `src` (`BB` bytes) and the matching `BE` outputs of `dst`.
/// The caller checked that the lengths match; a trailing partial block is ignored.
#[inline(always)]
pub(crate) fn each_block<const BB: usize, const BE: usize>(
    src: &[u8],
    dst: &mut [f32],
    f: impl Fn(&[u8; BB], &mut [f32; BE]),
) {
    for (b, y) in src.chunks_exact(BB).zip(dst.chunks_exact_mut(BE)) {
        if let (Ok(b), Ok(y)) = (<&[u8; BB]>::try_from(b), <&mut [f32; BE]>::try_from(y)) {
            f(b, y);
        }
    }
}

/// The IEEE half at `b[at..at + 2]` (little-endian), as `f32`.
#[inline(always)]
pub(crate) fn f16_at<const N: usize>(b: &[u8; N], at: usize) -> f32 {
    half::f16::from_bits(u16_at(b, at)).to_f32()
}

/// The little-endian `u16` at `b[at..at + 2]`.
#[inline(always)]
pub(crate) fn u16_at<const N: usize>(b: &[u8; N], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

/// The little-endian `u32` at `b[at..at + 4]`.
#[inline(always)]
pub(crate) fn u32_at<const N: usize>(b: &[u8; N], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_map_to_types() {
        assert_eq!(GgmlType::from_id(0), GgmlType::Plain(Dtype::F32));
        assert_eq!(GgmlType::from_id(12), GgmlType::Quant(&Q4_K));
        assert_eq!(GgmlType::from_id(42), GgmlType::Quant(&Q2_0));
        assert!(GgmlType::from_id(4).unsupported_reason(4).is_some_and(|m| m.contains("type 4")));
        assert!(GgmlType::from_id(37).unsupported_reason(37).is_some_and(|m| m.contains("removed")));
        assert!(GgmlType::from_id(999).unsupported_reason(999).is_some_and(|m| m.contains("999")));
        let ids: std::collections::HashSet<u32> = ALL.iter().map(|q| q.id).collect();
        assert_eq!(ids.len(), ALL.len());
    }

    #[test]
    fn decoder_rejects_mismatched_lengths_and_survives_any_bytes() {
        for q in ALL {
            let (bb, be) = (q.block_bytes as usize, q.block_elems as usize);
            assert!(GgmlDecoder.decode_blocks(q, &vec![0; bb], &mut vec![0.0; be + 1]).is_err());
            assert!(GgmlDecoder.decode_blocks(q, &vec![0; bb + 1], &mut vec![0.0; be]).is_err());
            for fill in [0x00u8, 0xff, 0x7c, 0x55] {
                let mut out = vec![0.0; 2 * be];
                GgmlDecoder.decode_blocks(q, &vec![fill; 2 * bb], &mut out).unwrap();
            }
        }
    }
}
