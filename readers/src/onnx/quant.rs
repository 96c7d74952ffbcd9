//! Naming the quantization scheme of initializers from the operators that consume them.
//! Quantized weights are reported as stored (int8/uint8/int4 values, their scales and zero
//! points as separate tensors); the scheme says how a runtime combines them, and for the
//! quantized data inputs the operator's attributes (or the stored type) give `bits` and
//! `group_size`.

use std::collections::HashMap;

use weightlens_core::{QuantFacts, TensorInfo};

use super::proto::NodeProto;

/// How a tensor is consumed by a quantization operator.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Use {
    /// `onnx-qdq`, `onnx-qlinear`, `onnx-dynamic-int8`, `onnx-matmulnbits`.
    pub scheme: &'static str,
    /// Whether it is the quantized data (not a scale or zero point).
    pub data: bool,
    /// Bits per code from an attribute (`MatMulNBits`, `GatherBlockQuantized`).
    pub bits: Option<u32>,
    /// Elements per scale from `block_size` (blocked `DequantizeLinear`, `MatMulNBits`, ...).
    pub group_size: Option<u64>,
}

/// Every quantization-consumed tensor by name (the first consuming operator wins).
pub type Schemes = HashMap<String, Use>;

/// The scheme of tensors consumed by `node`, if it is a quantization operator, and the input
/// positions holding quantized data (per the operator schemas of onnx and com.microsoft).
fn scheme_of(node: &NodeProto) -> Option<(&'static str, &'static [usize])> {
    Some(match node.op_type.as_str() {
        // QDQ format: `DequantizeLinear(x, x_scale, x_zero_point)` after quantized weights,
        // `QuantizeLinear` on activations (its input is float).
        "DequantizeLinear" => ("onnx-qdq", &[0]),
        "QuantizeLinear" => ("onnx-qdq", &[]),
        // Operator-oriented format: QLinearConv(x, .., .., w, ..), QLinearMatMul(a, .., .., b, ..),
        // QGemm and the com.microsoft QLinear* element-wise ops put the second operand at 3.
        op if op.starts_with("QLinear") || op == "QGemm" => ("onnx-qlinear", &[0, 3]),
        "QAttention" => ("onnx-qlinear", &[0, 1]),
        // Dynamic quantization: int8 weights with zero points, activation scales computed at run time.
        "MatMulInteger" | "ConvInteger" => ("onnx-dynamic-int8", &[0, 1]),
        "DynamicQuantizeMatMul" | "DynamicQuantizeLSTM" => ("onnx-dynamic-int8", &[1]),
        // com.microsoft block-wise n-bit weights (onnxruntime's MatMul4Bits quantizer).
        "MatMulNBits" => ("onnx-matmulnbits", &[1]),
        "GatherBlockQuantized" => ("onnx-matmulnbits", &[0]),
        _ => return None,
    })
}

/// The integer attribute `name` of `node`.
fn int_attr(node: &NodeProto, name: &str) -> Option<i64> {
    node.attribute.iter().find(|a| a.name == name).map(|a| a.i)
}

/// Adds the scheme of each quantization operator in `nodes` to every input it consumes.
pub fn collect(nodes: &[NodeProto], schemes: &mut Schemes) {
    for node in nodes {
        let Some((scheme, data)) = scheme_of(node) else { continue };
        let n_bits = matches!(node.op_type.as_str(), "MatMulNBits" | "GatherBlockQuantized");
        // Both com.microsoft operators default to 4 bits; GatherBlockQuantized to blocks of 128.
        let bits = n_bits.then(|| int_attr(node, "bits").unwrap_or(4)).and_then(|b| u32::try_from(b).ok());
        let block = match int_attr(node, "block_size") {
            Some(b) => u64::try_from(b).ok().filter(|&b| b > 0),
            None if node.op_type == "GatherBlockQuantized" => Some(128),
            None => None,
        };
        for (i, input) in node.input.iter().enumerate().filter(|(_, i)| !i.is_empty()) {
            let data = data.contains(&i);
            let use_ = Use { scheme, data, bits: bits.filter(|_| data), group_size: block.filter(|_| data) };
            schemes.entry(input.clone()).or_insert(use_);
        }
    }
}

/// Bits per element of an ONNX `TensorProto.DataType` code, for the integer, FLOAT8 and FLOAT4
/// types quantized data is stored in.
fn code_bits(data_type: i32) -> Option<u32> {
    match data_type {
        2 | 3 | 17..=20 | 24 => Some(8),
        4 | 5 => Some(16),
        21..=23 => Some(4),
        25 | 26 => Some(2),
        _ => None,
    }
}

/// The quantization columns of `info` (stored as ONNX type `data_type`), if a quantization
/// operator consumes it: the scheme; for quantized data also `bits` (the operator's, else the
/// stored type's) and `group_size`.
pub fn facts(schemes: &Schemes, info: &TensorInfo, data_type: i32) -> Option<QuantFacts> {
    let u = schemes.get(&info.name)?;
    Some(QuantFacts {
        scheme: u.scheme.to_string(),
        bits: if u.data { u.bits.or_else(|| code_bits(data_type)) } else { None },
        group_size: u.group_size,
        stored_bytes: info.len,
        components: vec![info.name.clone()],
        problem: None,
    })
}
