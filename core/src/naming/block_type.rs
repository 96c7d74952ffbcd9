//! The `block_type` vocabulary.

/// Declares the enum and its column strings once, so the list in docs and tests cannot drift.
macro_rules! block_types {
    ($($(#[$doc:meta])* $variant:ident => $name:literal,)*) => {
        /// The kind of block a tensor belongs to (the `block_type` column).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum BlockType {
            $($(#[$doc])* $variant,)*
        }

        impl BlockType {
            /// Every block type, in vocabulary order.
            pub const ALL: &'static [BlockType] = &[$(BlockType::$variant,)*];

            /// The `block_type` column value.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(BlockType::$variant => $name,)*
                }
            }
        }
    };
}

block_types! {
    /// Token / token-type / patch embeddings and special-token embeddings.
    Embedding => "embedding",
    /// Learned absolute or relative position embeddings and attention position biases.
    PosEmbedding => "pos_embedding",
    /// Rotary-embedding frequencies and factors (`rope_freqs`, `rotary_emb.inv_freq`).
    Rope => "rope",
    /// Attention query projection.
    QProj => "q_proj",
    /// Attention key projection.
    KProj => "k_proj",
    /// Attention value projection.
    VProj => "v_proj",
    /// Attention output projection.
    OProj => "o_proj",
    /// Fused query/key/value projection.
    QkvProj => "qkv_proj",
    /// Fused key/value projection (a resampler's `kv_proj`).
    KvProj => "kv_proj",
    /// MLA query down-projection (`q_a_proj`, `attn_q_a`).
    QAProj => "q_a_proj",
    /// MLA query up-projection (`q_b_proj`, `attn_q_b`).
    QBProj => "q_b_proj",
    /// MLA key/value down-projection (`kv_a_proj_with_mqa`, `attn_kv_a_mqa`).
    KvAProj => "kv_a_proj",
    /// MLA key/value up-projection (`kv_b_proj`, `attn_k_b`, `attn_v_b`).
    KvBProj => "kv_b_proj",
    /// Attention sink logits (`sinks`, `attn_sinks`).
    AttnSink => "attn_sink",
    /// Gate on the attention output (`attn_gate`).
    AttnGate => "attn_gate",
    /// Dense MLP gate projection (`gate_proj`, `w1`, `ffn_gate`).
    MlpGate => "mlp_gate",
    /// Dense MLP up projection (`up_proj`, `c_fc`, `intermediate.dense`).
    MlpUp => "mlp_up",
    /// Dense MLP down projection (`down_proj`, `mlp.c_proj`, `output.dense`).
    MlpDown => "mlp_down",
    /// Fused dense MLP gate+up projection (`gate_up_proj`).
    MlpGateUp => "mlp_gate_up",
    /// Mixture-of-experts tensor not further identified.
    Moe => "moe",
    /// MoE router / gate (`mlp.gate` beside `experts`, `ffn_gate_inp`, its score-correction bias).
    MoeRouter => "moe_router",
    /// Routed expert weights (`experts.N.*`, `ffn_*_exps`).
    MoeExpert => "moe_expert",
    /// Shared (always active) expert weights (`shared_experts.*`, `ffn_*_shexp`).
    MoeSharedExpert => "moe_shared_expert",
    /// Normalization weights and biases.
    Norm => "norm",
    /// A bias vector outside normalization and MoE blocks.
    Bias => "bias",
    /// The output head (`lm_head`, GGUF `output`, classifier heads).
    Output => "output",
    /// SSM (Mamba) input projection, and the input projection of short-conv mixers.
    SsmIn => "ssm_in",
    /// SSM output projection, and the output projection of short-conv mixers.
    SsmOut => "ssm_out",
    /// SSM depthwise convolution (`mixer.conv1d`, `ssm_conv1d`).
    SsmConv => "ssm_conv",
    /// SSM time-step projection and bias (`dt_proj`, `dt_bias`).
    SsmDt => "ssm_dt",
    /// SSM state matrix (`A_log`, `ssm_a`).
    SsmA => "ssm_a",
    /// SSM skip parameter (`D`, `ssm_d`).
    SsmD => "ssm_d",
    /// Other SSM / linear-attention parameters (`x_proj`, `ssm_beta`, ...).
    Ssm => "ssm",
    /// RWKV time-mix (attention-like) parameters.
    RwkvTimeMix => "rwkv_time_mix",
    /// RWKV channel-mix (MLP-like) parameters.
    RwkvChannelMix => "rwkv_channel_mix",
    /// Convolutions of vision/audio stems, vocoders and short-conv mixers.
    Conv => "conv",
    /// Multimodal projectors, resamplers, MTP `eh_proj` and other projections between spaces.
    Projector => "projector",
    /// Learned scales (layer scales, per-dimension scales).
    Scale => "scale",
    /// Anything else.
    Other => "other",
}

impl std::fmt::Display for BlockType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl BlockType {
    /// Whether a `.bias` of this type keeps the type rather than becoming [`BlockType::Bias`]
    /// (the seed's rule: biases of norms and MoE blocks stay with them).
    pub(super) fn owns_bias(self) -> bool {
        use BlockType::*;
        matches!(self, Norm | Moe | MoeRouter | MoeExpert | MoeSharedExpert)
    }
}
