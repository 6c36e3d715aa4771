#!/usr/bin/env python3
"""Tiny random-weight HF checkpoints of each supported multimodal architecture, plus golden outputs.

Each goes to test/fixtures/models/<model_type>/ as written by `save_pretrained` (config.json,
generation_config.json where the class has one, model.safetensors, preprocessor_config.json from the
image processor class, no tokenizer files) plus golden.safetensors (float32 unless named *_f64; int64 ids).

  llava     LlavaForConditionalGeneration: CLIP vision tower (32 px, patch 8 -> 16 patches + CLS, 3 layers,
            quick_gelu), vision_feature_layer -2, select strategy "default" (CLS dropped), projector
            linear_1 -> gelu -> linear_2, tiny untied Llama (hidden 64, 2 layers, GQA 4/2, vocab 128).
  idefics3  Idefics3ForConditionalGeneration: SigLIP-style vision (32 px, patch 8 -> 4x4 patches, 2 layers,
            gelu_pytorch_tanh), pixel shuffle scale_factor 2 (-> 4 tokens of width 4*32), modality_projection
            without bias, tiny tied Llama.
  llama     LlamaForCausalLM, the tiny Llama with tied embeddings (text only).
  qwen2     Qwen2ForCausalLM, same sizes, untied, q/k/v biases (text only).
  clip      CLIPModel: vision tower as above + causal text tower (vocab 101, 16 positions) + projections.

Goldens: the model's float32 weights are exact in float64, so the golden forward runs on model.double()
(HF keeps a few float32 casts inside, e.g. the RMSNorm and softmax upcasts, so "float64" means float64
everywhere except those; they lose nothing against a float32 engine). Stored tensors:

  llava / idefics3 (llama / qwen2: input_ids, logits, greedy_tokens only):
    input_ids I64 [1, T]            a fixed prompt holding the image tokens (built by hand, no tokenizer)
    pixel_values [N, 3, 32, 32]     llava: [1, 3, 32, 32]; idefics3: [1, 1, 3, 32, 32] (batch, images, ...)
    image_features [P, H]           projector/connector output, the rows merged at the image tokens
    vision_hidden [N, S, D]         llava: hidden_states[vision_feature_layer]; idefics3: after post_layernorm
    logits [1, T, V]                full-sequence logits of the prompt (float64 forward, stored float32)
    greedy_tokens I64 [20]          transformers generate(do_sample=False, max_new_tokens=20), float32 model
                                    with its KV cache; checked against repeated float64 full forwards
    (idefics3) vision_position_ids I64 [N, 16]   the bucketed position ids Idefics3 computes (full image)
  clip:
    pixel_values [2, 3, 32, 32], input_ids I64 [2, 7] (eos = 98 ends each row, then padding; row 1 holds 100)
    image_embeds, text_embeds [2, 16]   after the projections (not normalized)
    text_embeds_argmax [2, 16]          pooling when eos_token_id == 2 (legacy: argmax of the ids)
    logits_per_image [2, 2]
    vision_hidden_states [L+1, 2, 17, 32]   every hidden state of the vision encoder (0 = pre_layrnorm out)
    vision_pooled [2, 32]               post_layernorm(CLS)
    loss_f64 [] (F64), grad.<param>     CLIPModel(return_loss=True).loss (float64) and its gradient for every
                                        parameter (HF names, incl. logit_scale), stored float32
__metadata__: min greedy margin (top1 - top2 logit over the 20 steps), seeds, library versions.

Usage: python tools/reference/make_fixtures.py [--out test/fixtures/models] [--only llava,clip]
"""

import argparse
import json
import math
import os

import torch
import transformers
from safetensors.torch import save_file
from transformers import (
    CLIPConfig,
    CLIPImageProcessor,
    CLIPModel,
    CLIPVisionConfig,
    Idefics3Config,
    Idefics3ForConditionalGeneration,
    Idefics3ImageProcessor,
    LlamaConfig,
    LlavaConfig,
    LlamaForCausalLM,
    LlavaForConditionalGeneration,
    Qwen2Config,
    Qwen2ForCausalLM,
)

# Seeds picked so that the 20 greedy tokens are varied (not one repeated token) and every step's top-1 beats
# the top-2 logit by more than MIN_MARGIN.
SEEDS = {"llava": 20261122, "idefics3": 20261122, "clip": 20261123, "llama": 20261124, "qwen2": 20261125}
GREEDY_STEPS = 20
MIN_MARGIN = 1e-3
EMBED_STD = 0.1
NORM_SCALE = 4.0


def tiny_llama(vocab: int, tied: bool) -> dict:
    return dict(
        model_type="llama",
        vocab_size=vocab,
        hidden_size=64,
        intermediate_size=96,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=16,
        hidden_act="silu",
        max_position_embeddings=128,
        rms_norm_eps=1e-5,
        rope_parameters={"rope_type": "default", "rope_theta": 10000.0},
        tie_word_embeddings=tied,
        bos_token_id=1,
        eos_token_id=2,
        pad_token_id=0,
    )


def tiny_clip_vision() -> dict:
    return dict(
        hidden_size=32,
        intermediate_size=48,
        num_hidden_layers=3,
        num_attention_heads=2,
        num_channels=3,
        image_size=32,
        patch_size=8,
        hidden_act="quick_gelu",
        layer_norm_eps=1e-5,
        projection_dim=16,
    )


def redraw(model: torch.nn.Module, g: torch.Generator, head_scale: float = 1.0, embed_std: float = 0.5) -> None:
    """Seeded weights with O(1) activations, so that every parameter matters and greedy margins are wide.
    head_scale multiplies an untied lm_head; with tied embeddings a small embed_std keeps the residual stream
    from being dominated by the current token's own embedding (which makes greedy repeat one token)."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.ndim == 1 and ("norm" in name):
                p.copy_((1 if name.endswith("weight") else 0) + 0.1 * torch.randn(p.shape, generator=g))
            elif p.ndim == 1:
                p.copy_(0.1 * torch.randn(p.shape, generator=g))
            elif "embed" in name or name.endswith("class_embedding"):
                p.copy_(embed_std * torch.randn(p.shape, generator=g))
            else:
                fan_in = math.prod(p.shape[1:])
                scale = head_scale if name == "lm_head.weight" else 1.0
                p.copy_(scale * torch.randn(p.shape, generator=g) / math.sqrt(fan_in))


def clean(out: str) -> None:
    os.makedirs(out, exist_ok=True)
    for f in os.listdir(out):
        os.remove(os.path.join(out, f))


def greedy_check(model64, input_ids, steps, forward_kwargs, tokens):
    """Repeated full float64 forwards; returns the smallest top1 - top2 margin and checks the tokens."""
    ids = input_ids.clone()
    margin = math.inf
    for i in range(steps):
        logits = model64(input_ids=ids, **forward_kwargs).logits[0, -1]
        top = torch.topk(logits, 2).values
        margin = min(margin, (top[0] - top[1]).item())
        nxt = int(logits.argmax())
        # A generated image token would be re-read as a placeholder by a full forward (not by the KV cache).
        image_token = getattr(model64.config, "image_token_id", None)
        assert nxt != image_token, "greedy generated the image token, change the seed"
        assert nxt == int(tokens[i]), f"float64 full-forward greedy disagrees at step {i}: {nxt} vs {int(tokens[i])}"
        ids = torch.cat([ids, torch.tensor([[nxt]])], dim=1)
    return margin


def save(out, golden, meta, seed):
    golden = {k: v.contiguous() for k, v in golden.items()}
    meta = {k: str(v) for k, v in meta.items()}
    meta.update(torch_version=torch.__version__, transformers_version=transformers.__version__, seed=str(seed))
    save_file(golden, os.path.join(out, "golden.safetensors"), metadata=meta)
    sizes = {f: os.path.getsize(os.path.join(out, f)) for f in sorted(os.listdir(out))}
    return sizes


def vlm_fixture(name, model, config, input_ids, pixel_values, out, extra_forward=None):
    """Shared part of llava/idefics3: save, golden logits + features, greedy tokens."""
    extra_forward = extra_forward or {}
    model.save_pretrained(out, safe_serialization=True)
    with torch.no_grad():
        gen = model.generate(
            input_ids=input_ids,
            pixel_values=pixel_values,
            attention_mask=torch.ones_like(input_ids),
            max_new_tokens=GREEDY_STEPS,
            do_sample=False,
            eos_token_id=None,
            pad_token_id=0,
            **extra_forward,
        )
    tokens = gen[0, input_ids.shape[1] :]
    assert len(tokens) == GREEDY_STEPS
    model64 = model.double()
    px64 = pixel_values.double()
    with torch.no_grad():
        out64 = model64(input_ids=input_ids, pixel_values=px64, **extra_forward)
        margin = greedy_check(model64, input_ids, GREEDY_STEPS, {"pixel_values": px64, **extra_forward}, tokens)
    return out64, tokens, margin


def make_llava(out_root: str, seed: int) -> dict:
    out = os.path.join(out_root, "llava")
    clean(out)
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    vocab, image_token = 128, 127
    config = LlavaConfig(
        vision_config=CLIPVisionConfig(**tiny_clip_vision()),
        text_config=tiny_llama(vocab, tied=False),
        image_token_index=image_token,
        image_seq_length=16,
        projector_hidden_act="gelu",
        vision_feature_select_strategy="default",
        vision_feature_layer=-2,
        multimodal_projector_bias=True,
    )
    config._attn_implementation = "eager"
    model = LlavaForConditionalGeneration(config).float().eval()
    redraw(model, g, head_scale=4.0)
    CLIPImageProcessor(
        size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}, do_center_crop=True
    ).save_pretrained(out)
    # "USER: <image>\n<question> ASSISTANT:" with made-up text ids around 16 image tokens.
    input_ids = torch.tensor([[1, 5, 6, 7] + [image_token] * 16 + [8, 9, 10, 11, 12]], dtype=torch.int64)
    pixel_values = torch.randn(1, 3, 32, 32, generator=g)
    out64, tokens, margin = vlm_fixture("llava", model, config, input_ids, pixel_values, out)
    with torch.no_grad():
        feats = model.model.get_image_features(pixel_values=pixel_values.double())
        vision = model.model.vision_tower(pixel_values.double(), output_hidden_states=True)
    image_features = torch.cat(list(feats.pooler_output), dim=0)
    assert torch.allclose(image_features, out64.image_hidden_states, atol=0) if out64.image_hidden_states is not None else True
    golden = {
        "input_ids": input_ids,
        "pixel_values": pixel_values,
        "image_features": image_features.float(),
        "vision_hidden": vision.hidden_states[config.vision_feature_layer].float(),
        "logits": out64.logits.float(),
        "greedy_tokens": tokens,
    }
    sizes = save(out, golden, {"model_type": "llava", "greedy_min_margin": margin}, seed)
    assert margin > MIN_MARGIN, f"llava greedy margin {margin} too small, change the seed"
    return {"fixture": "llava", "greedy_min_margin": margin, "greedy_distinct": len(set(tokens.tolist())), "seed": seed, "files": sizes, "total_bytes": sum(sizes.values())}


def idefics3_position_ids(model, pixel_values):
    """The bucketed position ids Idefics3VisionEmbeddings computes for full (unpadded) images."""
    captured = {}
    emb = model.model.vision_model.embeddings

    def keep_ids(_module, inputs, _output):
        captured.setdefault("ids", inputs[0])  # returns None: the output is left alone

    hook = emb.position_embedding.register_forward_hook(keep_ids)
    with torch.no_grad():
        model.model.get_image_features(pixel_values=pixel_values)
    hook.remove()
    return captured["ids"]


def make_idefics3(out_root: str, seed: int) -> dict:
    out = os.path.join(out_root, "idefics3")
    clean(out)
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    vocab, image_token = 128, 126
    config = Idefics3Config(
        vision_config=dict(
            hidden_size=32,
            intermediate_size=48,
            num_hidden_layers=2,
            num_attention_heads=2,
            num_channels=3,
            image_size=32,
            patch_size=8,
            hidden_act="gelu_pytorch_tanh",
            layer_norm_eps=1e-6,
        ),
        text_config=tiny_llama(vocab, tied=True),
        image_token_id=image_token,
        scale_factor=2,
        tie_word_embeddings=True,
    )
    config._attn_implementation = "eager"
    model = Idefics3ForConditionalGeneration(config).float().eval()
    redraw(model, g, embed_std=EMBED_STD)
    with torch.no_grad():
        model.model.text_model.norm.weight.mul_(NORM_SCALE)
    assert model.lm_head.weight is model.model.text_model.embed_tokens.weight
    Idefics3ImageProcessor(
        size={"longest_edge": 32}, max_image_size={"longest_edge": 32}, do_image_splitting=False
    ).save_pretrained(out)
    # "<fake_token_around_image><global-img><image>x4<fake_token_around_image> text", ids made up; 4 image tokens.
    input_ids = torch.tensor([[1, 20, 21, 124, 125] + [image_token] * 4 + [124, 30, 31, 32]], dtype=torch.int64)
    pixel_values = torch.randn(1, 1, 3, 32, 32, generator=g)
    out64, tokens, margin = vlm_fixture("idefics3", model, config, input_ids, pixel_values, out)
    with torch.no_grad():
        feats = model.model.get_image_features(pixel_values=pixel_values.double())
    image_features = torch.cat(list(feats.pooler_output), dim=0)
    golden = {
        "input_ids": input_ids,
        "pixel_values": pixel_values,
        "image_features": image_features.float(),
        "vision_hidden": feats.last_hidden_state.float(),
        "vision_position_ids": idefics3_position_ids(model, pixel_values.double()).to(torch.int64),
        "logits": out64.logits.float(),
        "greedy_tokens": tokens,
    }
    sizes = save(out, golden, {"model_type": "idefics3", "greedy_min_margin": margin}, seed)
    assert margin > MIN_MARGIN, f"idefics3 greedy margin {margin} too small, change the seed"
    return {"fixture": "idefics3", "greedy_min_margin": margin, "greedy_distinct": len(set(tokens.tolist())), "seed": seed, "files": sizes, "total_bytes": sum(sizes.values())}


def make_text(out_root: str, seed: int, model_type: str) -> dict:
    """Text-only decoders the registry serves: LlamaForCausalLM (tied) and Qwen2ForCausalLM (q/k/v biases)."""
    out = os.path.join(out_root, model_type)
    clean(out)
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    fields = tiny_llama(128, tied=model_type == "llama")
    fields.pop("model_type")
    if model_type == "llama":
        config = LlamaConfig(**fields)
        model = LlamaForCausalLM(config)
    else:
        fields.pop("head_dim")
        config = Qwen2Config(**fields, use_sliding_window=False)
        model = Qwen2ForCausalLM(config)
    config._attn_implementation = "eager"
    model = model.float().eval()
    redraw(model, g, embed_std=EMBED_STD if config.tie_word_embeddings else 0.5)
    if config.tie_word_embeddings:
        with torch.no_grad():
            model.model.norm.weight.mul_(NORM_SCALE)
    model.save_pretrained(out, safe_serialization=True)
    input_ids = torch.tensor([[1, 17, 33, 5, 90, 64, 12, 8]], dtype=torch.int64)
    with torch.no_grad():
        gen = model.generate(
            input_ids=input_ids,
            attention_mask=torch.ones_like(input_ids),
            max_new_tokens=GREEDY_STEPS,
            do_sample=False,
            eos_token_id=None,
            pad_token_id=0,
        )
    tokens = gen[0, input_ids.shape[1] :]
    model64 = model.double()
    with torch.no_grad():
        logits = model64(input_ids=input_ids).logits
        margin = greedy_check(model64, input_ids, GREEDY_STEPS, {}, tokens)
    golden = {"input_ids": input_ids, "logits": logits.float(), "greedy_tokens": tokens}
    sizes = save(out, golden, {"model_type": model_type, "greedy_min_margin": margin}, seed)
    assert margin > MIN_MARGIN, f"{model_type} greedy margin {margin} too small, change the seed"
    return {
        "fixture": model_type,
        "greedy_min_margin": margin,
        "greedy_distinct": len(set(tokens.tolist())),
        "seed": seed,
        "files": sizes,
        "total_bytes": sum(sizes.values()),
    }


def make_clip(out_root: str, seed: int) -> dict:
    out = os.path.join(out_root, "clip")
    clean(out)
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    eos = 98
    config = CLIPConfig(
        text_config=dict(
            vocab_size=101,
            hidden_size=32,
            intermediate_size=48,
            num_hidden_layers=2,
            num_attention_heads=2,
            max_position_embeddings=16,
            hidden_act="quick_gelu",
            layer_norm_eps=1e-5,
            bos_token_id=97,
            eos_token_id=eos,
            pad_token_id=0,
            projection_dim=16,
        ),
        vision_config=tiny_clip_vision(),
        projection_dim=16,
    )
    config._attn_implementation = "eager"
    model = CLIPModel(config).float().eval()
    redraw(model, g)
    with torch.no_grad():
        model.logit_scale.copy_(torch.tensor(math.log(1 / 0.07)))
    model.save_pretrained(out, safe_serialization=True)
    CLIPImageProcessor(
        size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}, do_center_crop=True
    ).save_pretrained(out)
    # Row 0 is shorter (padding after eos). Row 1 holds id 100 > eos (like a token added to the vocabulary),
    # so the legacy argmax pooling and eos pooling pick different positions there.
    input_ids = torch.tensor([[97, 10, 11, 12, eos, 0, 0], [97, 40, 100, 41, 42, 43, eos]], dtype=torch.int64)
    pixel_values = torch.randn(2, 3, 32, 32, generator=g)
    m = model.double()
    px = pixel_values.double()
    with torch.no_grad():
        outputs = m(input_ids=input_ids, pixel_values=px)
        vision = m.vision_model(px, output_hidden_states=True)
        m.text_model.eos_token_id = 2
        legacy = m.get_text_features(input_ids=input_ids).pooler_output
        m.text_model.eos_token_id = eos
    # The contrastive loss (return_loss=True: symmetric cross-entropy over logits_per_text, pairs (i, i)
    # positive) and its gradient for every parameter, for training CLIP with the engine.
    m.zero_grad(set_to_none=True)
    loss = m(input_ids=input_ids, pixel_values=px, return_loss=True).loss
    loss.backward()
    grads = {f"grad.{n}": (p.grad if p.grad is not None else torch.zeros_like(p)).float() for n, p in m.named_parameters()}
    golden = {
        "loss_f64": loss.detach().clone(),
        **grads,
        "input_ids": input_ids,
        "pixel_values": pixel_values,
        "image_embeds": m.get_image_features(pixel_values=px).pooler_output.detach().float(),
        "text_embeds": m.get_text_features(input_ids=input_ids).pooler_output.detach().float(),
        "text_embeds_argmax": legacy.float(),
        "logits_per_image": outputs.logits_per_image.float(),
        "vision_hidden_states": torch.stack(vision.hidden_states).float(),
        "vision_pooled": vision.pooler_output.float(),
    }
    sizes = save(out, golden, {"model_type": "clip"}, seed)
    return {"fixture": "clip", "files": sizes, "total_bytes": sum(sizes.values())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="test/fixtures/models")
    parser.add_argument("--only", default="", help="comma-separated fixture names (default: all)")
    args = parser.parse_args()
    torch.use_deterministic_algorithms(True)
    only = set(args.only.split(",")) if args.only else set(SEEDS)
    makers = {
        "llava": make_llava,
        "idefics3": make_idefics3,
        "clip": make_clip,
        "llama": lambda out, seed: make_text(out, seed, "llama"),
        "qwen2": lambda out, seed: make_text(out, seed, "qwen2"),
    }
    for name, make in makers.items():
        if name in only:
            print(json.dumps(make(args.out, SEEDS[name])))


if __name__ == "__main__":
    main()
