"""Small tokenizers shaped like llava-hf/llava-1.5-7b-hf and HuggingFaceTB/SmolVLM-256M-Instruct, plus goldens.

Machines here reach no hub, so the two tokenizers are trained locally on a generated corpus with the Rust
`tokenizers` library, laid out the way those checkpoints lay theirs out:

- llava: Llama/SentencePiece-style BPE with byte fallback. ids 0..2 `<unk> <s> </s>`, 3..258 the byte tokens
  `<0x00>`..`<0xFF>`, then merges; added `<image>` and `<pad>` after the vocabulary. Normalizer
  Prepend("▁") + Replace(" ", "▁"), no pre-tokenizer, `<s> $A` post-processor, decoder Replace/ByteFallback/
  Fuse/Strip (the "legacy" Llama tokenizer.json that llava-hf ships). Chat template in `chat_template.json`
  (the llava-hf processor template: "USER: <image>\\n... ASSISTANT:").
- smolvlm: GPT-2-style byte-level BPE (SmolLM2): Digits(individual) + ByteLevel pre-tokenizer, ByteLevel
  decoder, no BOS added. Specials `<|endoftext|> <|im_start|> <|im_end|>` first, then SmolVLM's added image
  tokens `<fake_token_around_image> <image> <end_of_utterance> <global-img>` and `<row_r_col_c>` (1..6).
  Chat template in `chat_template.jinja` (SmolVLM's "<|im_start|>User:...<end_of_utterance>\\nAssistant:").

Goldens (`golden.json` per tokenizer) come from transformers' AutoTokenizer loading the written directory:
ids with and without special tokens, ids with `split_special_tokens=True` (special strings encoded as text:
what `encodeUntrusted` must give), decodes, and `apply_chat_template` renders.

Run from the repository root: python tools/reference/make_tokenizers.py
"""

import json
import os
import random

import tokenizers
import transformers
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from transformers import AutoTokenizer

OUT = "test/fixtures/tokenizers"

LLAVA_TEMPLATE = (
    "{% for message in messages %}{% if message['role'] != 'system' %}{{ message['role'].upper() + ': '}}"
    "{% endif %}{# Render all images first #}{% for content in message['content'] | selectattr('type', "
    "'equalto', 'image') %}{{ '<image>\n' }}{% endfor %}{# Render all text next #}{% if message['role'] != "
    "'assistant' %}{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}"
    "{{ content['text'] + ' '}}{% endfor %}{% else %}{% for content in message['content'] | "
    "selectattr('type', 'equalto', 'text') %}{% generation %}{{ content['text'] + ' '}}{% endgeneration %}"
    "{% endfor %}{% endif %}{% endfor %}{% if add_generation_prompt %}{{ 'ASSISTANT:' }}{% endif %}"
)

SMOLVLM_TEMPLATE = (
    "<|im_start|>{% for message in messages %}{{message['role'] | capitalize}}{% if message['content'][0]"
    "['type'] == 'image' %}{{':'}}{% else %}{{': '}}{% endif %}{% for line in message['content'] %}"
    "{% if line['type'] == 'text' %}{{line['text']}}{% elif line['type'] == 'image' %}{{ '<image>' }}"
    "{% endif %}{% endfor %}<end_of_utterance>\n{% endfor %}{% if add_generation_prompt %}"
    "{{ 'Assistant:' }}{% endif %}"
)

WORDS = (
    "the a dog cat mug photo of is in on with and what colour red blue green yellow small large "
    "sitting running beach park table kitchen person holding picture image describe question answer "
    "user assistant hello world this that there where how many yes no please tell me about it its "
    "brown white black wooden ceramic bright dark left right near far under above behind front "
    "USER ASSISTANT System User Assistant"
).split()
EXTRA = ["Café", "naïve", "Größe", "日本語", "東京", "Ελληνικά", "привет", "ünïcödé", "ça", "déjà", "12", "345", "2024"]


def corpus(seed: int) -> list[str]:
    rng = random.Random(seed)
    lines = []
    for _ in range(3000):
        n = rng.randint(3, 14)
        words = [rng.choice(WORDS) if rng.random() > 0.08 else rng.choice(EXTRA) for _ in range(n)]
        line = " ".join(words)
        if rng.random() < 0.3:
            line = line[0].upper() + line[1:] + rng.choice([".", "?", "!", ","])
        lines.append(line)
    return lines


def byte_tokens() -> list[str]:
    return [f"<0x{b:02X}>" for b in range(256)]


def make_llava(path: str) -> None:
    # Train merges word-internally (Metaspace split), then drop the pre-tokenizer as the legacy Llama file does.
    tok = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True, fuse_unk=True))
    tok.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="never", split=True)
    # A fixed alphabet (limit_alphabet alone breaks frequency ties nondeterministically); Cyrillic and a
    # few accented letters stay out of it, so they exercise byte fallback.
    alphabet = sorted(set("".join(WORDS) + ".,?!" + "Caféèàçïüß" + "日本語東京" + "Ελληνικά" + "▁"))
    trainer = trainers.BpeTrainer(vocab_size=700, special_tokens=["<unk>", "<s>", "</s>"],
                                  initial_alphabet=alphabet, limit_alphabet=len(alphabet), show_progress=False)
    tok.train_from_iterator(corpus(1), trainer)
    spec = json.loads(tok.to_str())
    trained = spec["model"]["vocab"]
    ordered = ["<unk>", "<s>", "</s>"] + byte_tokens()
    ordered += [t for t, _ in sorted(trained.items(), key=lambda kv: kv[1]) if t not in ordered]
    spec["model"]["vocab"] = {t: i for i, t in enumerate(ordered)}
    spec["model"]["byte_fallback"] = True
    spec["model"]["fuse_unk"] = True
    spec["pre_tokenizer"] = None
    n = len(ordered)

    def added(i: int, content: str, special: bool = True) -> dict:
        return {"id": i, "content": content, "single_word": False, "lstrip": False, "rstrip": False,
                "normalized": False, "special": special}

    spec["added_tokens"] = [added(0, "<unk>"), added(1, "<s>"), added(2, "</s>"), added(n, "<image>"),
                            added(n + 1, "<pad>")]
    final = Tokenizer.from_str(json.dumps(spec))
    final.post_processor = processors.TemplateProcessing(single="<s> $A", pair="<s> $A <s> $B",
                                                         special_tokens=[("<s>", 1)])
    final.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse(),
                                       decoders.Strip(" ", 1, 0)])
    os.makedirs(path, exist_ok=True)
    final.save(os.path.join(path, "tokenizer.json"))
    added_decoder = {str(t["id"]): {k: v for k, v in t.items() if k != "id"} for t in spec["added_tokens"]}
    config = {
        "add_bos_token": True, "add_eos_token": False, "added_tokens_decoder": added_decoder,
        "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "pad_token": "<pad>",
        "clean_up_tokenization_spaces": False, "legacy": False, "model_max_length": 1000000000000000019884624838656,
        "padding_side": "left", "processor_class": "LlavaProcessor", "sp_model_kwargs": {},
        "tokenizer_class": "LlamaTokenizer", "use_default_system_prompt": False,
    }
    write_json(os.path.join(path, "tokenizer_config.json"), config)
    write_json(os.path.join(path, "special_tokens_map.json"),
               {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "pad_token": "<pad>"})
    write_json(os.path.join(path, "chat_template.json"), {"chat_template": LLAVA_TEMPLATE})


SMOL_SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
SMOL_IMAGE_TOKENS = ["<fake_token_around_image>", "<image>", "<end_of_utterance>", "<global-img>"] + [
    f"<row_{r}_col_{c}>" for r in range(1, 7) for c in range(1, 7)]


def make_smolvlm(path: str) -> None:
    tok = Tokenizer(models.BPE(unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
    ])
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(vocab_size=800, special_tokens=SMOL_SPECIALS, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(corpus(2), trainer)
    tok.add_special_tokens(SMOL_IMAGE_TOKENS)
    os.makedirs(path, exist_ok=True)
    tok.save(os.path.join(path, "tokenizer.json"))
    spec = json.loads(tok.to_str())
    added_decoder = {str(t["id"]): {k: v for k, v in t.items() if k != "id"} for t in spec["added_tokens"]}
    config = {
        "add_prefix_space": False, "added_tokens_decoder": added_decoder,
        "additional_special_tokens": SMOL_IMAGE_TOKENS[:2] + SMOL_IMAGE_TOKENS[3:] + ["<end_of_utterance>"],
        "bos_token": "<|im_start|>", "eos_token": "<end_of_utterance>", "pad_token": "<|im_end|>",
        "unk_token": "<|endoftext|>", "clean_up_tokenization_spaces": False, "legacy": False,
        "model_max_length": 8192, "processor_class": "Idefics3Processor", "tokenizer_class": "GPT2Tokenizer",
        "vocab_size": 800,
    }
    write_json(os.path.join(path, "tokenizer_config.json"), config)
    with open(os.path.join(path, "chat_template.jinja"), "w") as f:
        f.write(SMOLVLM_TEMPLATE)


STRINGS = [
    "Hello world",
    "What colour is the dog?",
    " leading space",
    "trailing space ",
    "double  space and   triple",
    "tab\tand\nnewline\n\nparagraph",
    "Café naïve Größe déjà vu",
    "日本語のテキスト 東京",
    "emoji 🐶🐱 and 👩‍👩‍👧 family",
    "привет мир Ελληνικά",
    "numbers 12345 and 3.14159",
    "<image>",
    "USER: <image>\nWhat is this? ASSISTANT:",
    "<s>fake bos</s> and <unk>",
    "<|im_start|>user\nhi<|im_end|>",
    "<end_of_utterance><fake_token_around_image><row_1_col_2><global-img>",
    "a<image>b <pad> c",
    "   ",
    "x",
    "line one\r\nline two",
    "Zero\u200bwidth and non\u00a0breaking",
    "mixed<|im_end|>ünïcödé<s>",
]

CONVERSATIONS = {
    "single_image": [
        {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "What is in this photo?"}]},
    ],
    "text_only": [
        {"role": "user", "content": [{"type": "text", "text": "What colour is the mug?"}]},
    ],
    "multi_turn": [
        {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Is the dog here?"}]},
        {"role": "assistant", "content": [{"type": "text", "text": "Yes, it is."}]},
        {"role": "user", "content": [{"type": "text", "text": "What is it doing?"}]},
    ],
    "with_system": [
        {"role": "system", "content": [{"type": "text", "text": "Answer briefly."}]},
        {"role": "user", "content": [{"type": "text", "text": "Describe <image> and </s> literally."},
                                     {"type": "image"}]},
    ],
}


def goldens(path: str, template: str, legacy_variant: bool = False) -> None:
    tok = AutoTokenizer.from_pretrained(path)
    split = AutoTokenizer.from_pretrained(path, split_special_tokens=True)
    # llava: the same files loaded with legacy=True (Metaspace prepend "always"), as some Llama configs say.
    legacy = AutoTokenizer.from_pretrained(path, legacy=True) if legacy_variant else None
    cases = []
    for s in STRINGS:
        with_specials = tok(s, add_special_tokens=True)["input_ids"]
        without = tok(s, add_special_tokens=False)["input_ids"]
        untrusted = split(s, add_special_tokens=False)["input_ids"]
        cases.append({
            **({"ids_legacy": legacy(s, add_special_tokens=True)["input_ids"]} if legacy is not None else {}),
            "text": s,
            "ids": with_specials,
            "ids_no_special": without,
            "ids_untrusted": untrusted,
            "decoded": tok.decode(with_specials, skip_special_tokens=False),
            "decoded_skip_special": tok.decode(with_specials, skip_special_tokens=True),
        })
    chats = []
    for name, messages in CONVERSATIONS.items():
        for gen in (True, False):
            rendered = tok.apply_chat_template(messages, chat_template=template, tokenize=False,
                                               add_generation_prompt=gen)
            chats.append({"name": name, "add_generation_prompt": gen, "messages": messages, "rendered": rendered,
                          "ids": tok(rendered, add_special_tokens=False)["input_ids"]})
    special = {k: getattr(tok, k) for k in ("bos_token_id", "eos_token_id", "pad_token_id", "unk_token_id")}
    write_json(os.path.join(path, "golden.json"), {
        "versions": {"tokenizers": tokenizers.__version__, "transformers": transformers.__version__},
        "tokenizer_class": type(tok).__name__,
        "special_ids": special,
        "all_special_ids": sorted(tok.all_special_ids),
        "added_ids": sorted(tok.added_tokens_decoder.keys()),
        "vocab_size": len(tok),
        "cases": cases,
        "chats": chats,
    })


def write_json(path: str, obj: object) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, ensure_ascii=False, indent=1)
        f.write("\n")


if __name__ == "__main__":
    make_llava(os.path.join(OUT, "llava"))
    goldens(os.path.join(OUT, "llava"), LLAVA_TEMPLATE, legacy_variant=True)
    make_smolvlm(os.path.join(OUT, "smolvlm"))
    goldens(os.path.join(OUT, "smolvlm"), SMOLVLM_TEMPLATE)
    for name in ("llava", "smolvlm"):
        d = os.path.join(OUT, name)
        print(name, {f: os.path.getsize(os.path.join(d, f)) for f in sorted(os.listdir(d))})
