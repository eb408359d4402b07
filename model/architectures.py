"""Keras architectures (training only: imports TensorFlow/Keras when called).

``bag``: fastText-style. Hashed word, negated-word, bigram and char-n-gram features are embedded
and averaged (padding masked out), then a small dense head. Fast: one gather and a mean.
``simplernn``: the method's reference, Embedding(5000, 16) -> SimpleRNN(128) -> Dense(3), over
word ids only. It is unrolled with a static sequence length, because TF 2.21 cannot convert a
rolled SimpleRNN to LiteRT (TensorListReserve needs a static element shape).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

ARCHITECTURES = ("bag", "simplernn")


@dataclass(frozen=True)
class ArchConfig:
    """Hyper-parameters of one architecture; saved in the training history."""

    name: str = "bag"
    dim: int = 24
    hidden: int = 0
    dropout: float = 0.0
    rnn_vocab: int = 5000
    rnn_dim: int = 16
    rnn_units: int = 128
    rnn_length: int = 40


def build(config: ArchConfig, num_features: int, width: int) -> Any:
    """A compiled-ready keras.Model taking int32 ids of shape (batch, width), giving 3 probs."""
    import keras

    ids = keras.Input((width,), dtype="int32", name="ids")
    if config.name == "bag":
        emb = keras.layers.Embedding(num_features, config.dim, name="embedding")(ids)
        mask = keras.ops.expand_dims(keras.ops.cast(ids > 0, "float32"), -1)
        total = keras.ops.sum(emb * mask, axis=1)
        h = total / keras.ops.maximum(keras.ops.sum(mask, axis=1), 1.0)
        if config.dropout:
            h = keras.layers.Dropout(config.dropout)(h)
        if config.hidden:
            h = keras.layers.Dense(config.hidden, activation="relu", name="hidden")(h)
    elif config.name == "simplernn":
        emb = keras.layers.Embedding(config.rnn_vocab, config.rnn_dim, name="embedding")(ids)
        h = keras.layers.SimpleRNN(config.rnn_units, unroll=True, name="rnn")(emb)
    else:
        raise ValueError(f"unknown architecture {config.name!r}; choose from {ARCHITECTURES}")
    logits = keras.layers.Dense(3, name="logits")(h)
    probs = keras.layers.Softmax(name="probs")(logits)
    return keras.Model(ids, probs, name=config.name)
