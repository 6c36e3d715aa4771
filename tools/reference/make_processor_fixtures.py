"""Small test images and HF image-processor goldens for trainer/vision.

Writes
- test/fixtures/images/: synthetic images in the formats the edge accepts: `photo.png` (RGB 48x40),
  `rotated.jpg` (stored 40x24, EXIF orientation 6, so 24x40 upright), `lossless.webp` (RGB 30x50),
  `alpha.png` (RGBA 20x28, composited on white as HF's convert_to_rgb does), `grey.png` (L 17x33),
  `wide.png` (RGB 80x30: a 1x2 Idefics3 split).
- test/fixtures/processors/{llava,smolvlm}/: preprocessor_config.json (+ processor_config.json) shaped like
  llava-hf/llava-1.5-7b-hf and HuggingFaceTB/SmolVLM-256M-Instruct with tiny sizes (CLIP shortest_edge 32 /
  crop 32; Idefics3 longest_edge 64 / max_image_size 32, LANCZOS as SmolVLM's config says).
- test/fixtures/processors/golden-clip.safetensors and golden-idefics3.safetensors (split to stay small):
  `decoded.<img>` uint8 [H,W,3]: PIL decode + ImageOps.exif_transpose + HF convert_to_rgb (the processors' input),
  `resize.<filter>.<img>.<W>x<H>` uint8 [H,W,3]: PIL Image.resize on `decoded`,
  `clip.<img>` f32 [3,32,32]: CLIPImageProcessorPil (llava-hf's default: resize + center crop, no pad),
  `llava_pad.<img>` f32 [3,32,32]: LlavaImageProcessorPil(do_pad=True), the original LLaVA-1.5 "pad to square
  with the mean colour" recipe,
  `idefics3.<img>` f32 [N,3,32,32] (images in IDEFICS3_SPLIT) and `idefics3_nosplit.<img>` f32 [1,3,32,32]:
  Idefics3ImageProcessorPil. `__metadata__`: rows/cols per image (JSON), versions.
- test/fixtures/processors/prompts.json: input_ids of LlavaProcessor / Idefics3Processor (with the tokenizer
  fixtures of make_tokenizers.py) for a chat with one image, to check the prompt renderer end to end.

The goldens use the PIL backends (`*ImageProcessorPil`): transformers 5 picks the torchvision backend when
torchvision is installed, which resizes differently (see trainer/vision/README.md).

Needs pillow==13.0.0 (pip install pillow==13.0.0; not in requirements.txt): Pillow 13 changed the order of
the two resize passes in some cases, and the goldens record that order.

Run from the repository root after make_tokenizers.py: python tools/reference/make_processor_fixtures.py
"""

import io
import json
import os

import numpy as np
import PIL
import transformers
from PIL import Image, ImageOps
from safetensors.numpy import save_file
from transformers import (
    AutoTokenizer,
    CLIPImageProcessorPil,
    Idefics3ImageProcessorPil,
    Idefics3Processor,
    LlavaImageProcessorPil,
    LlavaProcessor,
)
from transformers.image_transforms import convert_to_rgb

IMAGES = "test/fixtures/images"
PROCESSORS = "test/fixtures/processors"
TOKENIZERS = "test/fixtures/tokenizers"

CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
CLIP_STD = [0.26862954, 0.26130258, 0.27577711]

LLAVA_CONFIG = {
    "crop_size": {"height": 32, "width": 32}, "do_center_crop": True, "do_convert_rgb": True,
    "do_normalize": True, "do_rescale": True, "do_resize": True, "image_mean": CLIP_MEAN,
    "image_processor_type": "CLIPImageProcessor", "image_std": CLIP_STD, "processor_class": "LlavaProcessor",
    "resample": 3, "rescale_factor": 0.00392156862745098, "size": {"shortest_edge": 32},
}
LLAVA_PROCESSOR = {"patch_size": 8, "vision_feature_select_strategy": "default", "num_additional_image_tokens": 1,
                   "image_token": "<image>"}
SMOLVLM_CONFIG = {
    "do_convert_rgb": True, "do_image_splitting": True, "do_normalize": True, "do_pad": True,
    "do_rescale": True, "do_resize": True, "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5],
    "image_processor_type": "Idefics3ImageProcessor", "max_image_size": {"longest_edge": 32},
    "processor_class": "Idefics3Processor", "resample": 1, "rescale_factor": 0.00392156862745098,
    "size": {"longest_edge": 64},
}
SMOLVLM_PROCESSOR = {"image_seq_len": 4, "processor_class": "Idefics3Processor"}

IDEFICS3_SPLIT = ("photo", "rotated", "wide", "grey")
RESIZES = {  # (W, H) targets per image: down- and up-scaling, odd sizes
    "photo": [(17, 13), (72, 60), (31, 40), (44, 16)],
    "wide": [(13, 7), (100, 45), (76, 10)],
}


def synthetic(w: int, h: int, seed: int, channels: int = 3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    base = np.stack([
        127 + 120 * np.sin(x / 3.1 + seed),
        127 + 120 * np.cos(y / 2.3 - seed),
        255 * ((x + y) % 7 < 3),
    ], axis=-1)
    base[h // 4: h // 2, w // 3: w // 2] = [250, 10, 10]  # a hard edge block
    noisy = base + rng.normal(0, 25, base.shape)
    img = np.clip(np.round(noisy), 0, 255).astype(np.uint8)
    if channels == 4:
        alpha = np.clip(np.round(255 * x / max(w - 1, 1)), 0, 255).astype(np.uint8)[..., None]
        alpha[0, 0] = 0
        img = np.concatenate([img, alpha], axis=-1)
    return img


def write_images() -> dict[str, bytes]:
    os.makedirs(IMAGES, exist_ok=True)
    files = {}

    def save(name: str, image: Image.Image, **kwargs) -> None:
        buf = io.BytesIO()
        image.save(buf, **kwargs)
        files[name] = buf.getvalue()
        with open(os.path.join(IMAGES, name), "wb") as f:
            f.write(files[name])

    save("photo.png", Image.fromarray(synthetic(48, 40, 1)), format="PNG")
    exif = Image.Exif()
    exif[0x0112] = 6
    save("rotated.jpg", Image.fromarray(synthetic(40, 24, 2)), format="JPEG", quality=90, exif=exif.tobytes())
    save("lossless.webp", Image.fromarray(synthetic(30, 50, 3)), format="WEBP", lossless=True)
    save("alpha.png", Image.fromarray(synthetic(20, 28, 4, channels=4), mode="RGBA"), format="PNG")
    save("grey.png", Image.fromarray(synthetic(17, 33, 5)[..., 0], mode="L"), format="PNG")
    save("wide.png", Image.fromarray(synthetic(80, 30, 6)), format="PNG")
    return files


def decode(data: bytes) -> np.ndarray:
    image = ImageOps.exif_transpose(Image.open(io.BytesIO(data)))
    return convert_to_rgb(image, return_numpy=True)


def main() -> None:
    files = write_images()
    for name, config, processor in (("llava", LLAVA_CONFIG, LLAVA_PROCESSOR),
                                    ("smolvlm", SMOLVLM_CONFIG, SMOLVLM_PROCESSOR)):
        d = os.path.join(PROCESSORS, name)
        os.makedirs(d, exist_ok=True)
        for fname, obj in (("preprocessor_config.json", config), ("processor_config.json", processor)):
            with open(os.path.join(d, fname), "w") as f:
                json.dump(obj, f, indent=1)
                f.write("\n")

    kw = {k: v for k, v in LLAVA_CONFIG.items() if k not in ("image_processor_type", "processor_class")}
    clip = CLIPImageProcessorPil(**kw)
    llava_pad = LlavaImageProcessorPil(**kw, do_pad=True)
    skw = {k: v for k, v in SMOLVLM_CONFIG.items() if k not in ("image_processor_type", "processor_class")}
    idefics = Idefics3ImageProcessorPil(**skw)
    idefics_nosplit = Idefics3ImageProcessorPil(**{**skw, "do_image_splitting": False})

    tensors: dict[str, np.ndarray] = {}
    rows_cols = {}
    for fname, data in files.items():
        stem = fname.split(".")[0]
        rgb = decode(data)
        tensors[f"decoded.{stem}"] = np.ascontiguousarray(rgb)
        pil = Image.fromarray(rgb)
        for w, h in RESIZES.get(stem, []):
            for filt, code in (("bicubic", Image.Resampling.BICUBIC), ("lanczos", Image.Resampling.LANCZOS),
                               ("bilinear", Image.Resampling.BILINEAR)):
                tensors[f"resize.{filt}.{stem}.{w}x{h}"] = np.asarray(pil.resize((w, h), resample=code))
        tensors[f"clip.{stem}"] = clip(pil, return_tensors="np")["pixel_values"][0]
        tensors[f"llava_pad.{stem}"] = llava_pad(pil, return_tensors="np")["pixel_values"][0]
        out = idefics(pil, return_tensors="np", return_row_col_info=True)
        rows_cols[stem] = [int(out["rows"][0][0]), int(out["cols"][0][0])]
        if stem in IDEFICS3_SPLIT:
            tensors[f"idefics3.{stem}"] = out["pixel_values"][0]
        tensors[f"idefics3_nosplit.{stem}"] = idefics_nosplit(pil, return_tensors="np")["pixel_values"][0]
    tensors = {k: np.ascontiguousarray(v) for k, v in tensors.items()}
    metadata = {
        "rows_cols": json.dumps(rows_cols),
        "versions": json.dumps({"transformers": transformers.__version__, "pillow": PIL.__version__}),
    }
    for part, keep in (("clip", lambda k: not k.startswith("idefics3")), ("idefics3", lambda k: k.startswith("idefics3"))):
        save_file({k: v for k, v in tensors.items() if keep(k)}, os.path.join(PROCESSORS, f"golden-{part}.safetensors"),
                  metadata=metadata)

    # End-to-end prompts: HF processors expand the image token in the rendered chat, then tokenize.
    prompts = {}
    llava_tok = AutoTokenizer.from_pretrained(os.path.join(TOKENIZERS, "llava"))
    with open(os.path.join(TOKENIZERS, "llava", "chat_template.json")) as f:
        llava_template = json.load(f)["chat_template"]
    llava_proc = LlavaProcessor(image_processor=clip, tokenizer=llava_tok, chat_template=llava_template,
                                **{k: v for k, v in LLAVA_PROCESSOR.items() if k != "image_token"})
    smol_tok = AutoTokenizer.from_pretrained(os.path.join(TOKENIZERS, "smolvlm"))
    with open(os.path.join(TOKENIZERS, "smolvlm", "chat_template.jinja")) as f:
        smol_template = f.read()
    smol_proc = Idefics3Processor(image_processor=idefics, tokenizer=smol_tok, chat_template=smol_template,
                                  image_seq_len=SMOLVLM_PROCESSOR["image_seq_len"])
    benign = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "What is in this photo?"}]}]
    for name, proc in (("llava", llava_proc), ("smolvlm", smol_proc)):
        for image in ("photo", "wide", "rotated"):
            text = proc.apply_chat_template(benign, add_generation_prompt=True)
            pil = Image.fromarray(tensors[f"decoded.{image}"])
            ids = proc(text=text, images=[pil], return_tensors="np")["input_ids"][0].tolist()
            prompts[f"{name}.{image}"] = {"messages": benign, "text": text, "ids": ids}
    with open(os.path.join(PROCESSORS, "prompts.json"), "w") as f:
        json.dump(prompts, f, indent=1)
        f.write("\n")
    total = sum(v.nbytes for v in tensors.values())
    print("tensors", len(tensors), "bytes", total, "rows_cols", rows_cols)


if __name__ == "__main__":
    main()
