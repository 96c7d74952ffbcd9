//! The `stack` column: which tower of a model a tensor belongs to.

use super::arch::ArchInfo;

/// The tower (stack of blocks) of a tensor. Rows sort by stack in this order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Stack {
    /// The model's one stack (a decoder-only LM, an encoder-only model): the column is empty.
    Main,
    /// The encoder of an encoder-decoder model (T5, BART, Whisper) or a dual-tower text encoder.
    Encoder,
    /// The decoder of an encoder-decoder model.
    Decoder,
    /// A vision tower.
    Vision,
    /// An audio tower.
    Audio,
    /// A multimodal projector / resampler / merger between a tower and the language model.
    Projector,
    /// Multi-token-prediction (`nextn`) layers of DeepSeek-style models.
    Mtp,
}

impl Stack {
    /// Every stack, in sort order.
    pub const ALL: &'static [Stack] =
        &[Stack::Main, Stack::Encoder, Stack::Decoder, Stack::Vision, Stack::Audio, Stack::Projector, Stack::Mtp];

    /// The `stack` column value (`""` for [`Stack::Main`]).
    pub fn as_str(self) -> &'static str {
        match self {
            Stack::Main => "",
            Stack::Encoder => "encoder",
            Stack::Decoder => "decoder",
            Stack::Vision => "vision",
            Stack::Audio => "audio",
            Stack::Projector => "projector",
            Stack::Mtp => "mtp",
        }
    }

    /// The stack a column value names (`""` is [`Stack::Main`]).
    pub fn from_column(s: &str) -> Option<Stack> {
        Stack::ALL.iter().copied().find(|st| st.as_str() == s)
    }

    /// The position in the sort order.
    pub fn rank(self) -> u8 {
        self as u8
    }
}

impl std::fmt::Display for Stack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Segments naming a multimodal projector (they win over the tower they sit in: `visual.merger`).
const PROJECTOR: &[&str] = &[
    "multi_modal_projector",
    "multimodal_projector",
    "mm_projector",
    "projector",
    "merger",
    "patch_merger",
    "deepstack_merger_list",
    "connector",
    "resampler",
    "aligner",
    "mlp1",
    "mlp_ar",
    "embed_vision",
    "embed_audio",
    "visual_projection",
    "text_projection",
    "vision_adapter",
    "audio_adapter",
    "mm_input_projection",
];

const VISION: &[&str] = &[
    "vision_tower",
    "vision_model",
    "visual",
    "vision",
    "vision_encoder",
    "vision_backbone",
    "vision_transformer",
    "image_encoder",
    "image_tower",
    "img_encoder",
    "vision_embed_tokens",
    "vpm",
    "sam_model",
    "vit",
];

const AUDIO: &[&str] =
    &["audio_tower", "audio_model", "audio", "audio_encoder", "speech_encoder", "conformer", "audio_embedding"];

/// Text towers of dual-tower models (CLIP, SigLIP): their `encoder` is a stack of its own.
const TEXT_TOWER: &[&str] = &["text_model", "text_encoder", "text_tower"];

/// The stack `segs` (lower-case name segments) names, for a model of architecture `arch`.
pub(super) fn stack_of(segs: &[&str], arch: &ArchInfo) -> Stack {
    // GGUF prefixes: only as the first segment.
    match segs.first().copied() {
        Some("mm") => return Stack::Projector,
        Some("v") => return Stack::Vision,
        Some("a") => return Stack::Audio,
        Some("enc") => return Stack::Encoder,
        Some("dec") => return Stack::Decoder,
        _ => {}
    }
    if segs.iter().any(|s| PROJECTOR.contains(s)) {
        return Stack::Projector;
    }
    for s in segs {
        if VISION.contains(s) {
            return Stack::Vision;
        }
        if AUDIO.contains(s) {
            return Stack::Audio;
        }
    }
    if segs.iter().any(|s| s.starts_with("mtp") || *s == "nextn") {
        return Stack::Mtp;
    }
    encoder_decoder(segs, arch)
}

/// `encoder` / `decoder` segments make stacks in encoder-decoder models and in text towers; an
/// encoder-only or decoder-only model (BERT's `encoder.layer.N`, ChatGLM's
/// `transformer.encoder.layers.N`, OPT's `decoder.layers.N` once its architecture is known) keeps
/// its one stack.
fn encoder_decoder(segs: &[&str], arch: &ArchInfo) -> Stack {
    let Some(i) = segs.iter().position(|s| *s == "encoder" || *s == "decoder") else { return Stack::Main };
    let stack = if segs[i] == "encoder" { Stack::Encoder } else { Stack::Decoder };
    if i > 0 && TEXT_TOWER.contains(&segs[i - 1]) {
        return Stack::Encoder;
    }
    match arch.encoder_decoder {
        Some(true) => stack,
        Some(false) => Stack::Main,
        // Unknown architecture: the encoder-decoder layouts of transformers (BART, Whisper,
        // Marian: `model.encoder.`; T5: `encoder.block.N`) and a decoder's `layers`.
        None => {
            let next = segs.get(i + 1).copied();
            let seq2seq = (i > 0 && segs[i - 1] == "model")
                || next == Some("block")
                || (stack == Stack::Decoder && next == Some("layers"));
            if seq2seq {
                stack
            } else {
                Stack::Main
            }
        }
    }
}
