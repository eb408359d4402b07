"""Keras architectures (training only: imports TensorFlow/Keras when called).

``bag``: fastText-style. Hashed word, negated-word, bigram and char-n-gram features are embedded
and averaged (padding masked out), then a small dense head. Fast: one gather and a mean. The
production model averages two such members (``members``), one of them blind to char n-grams.
``simplernn``: the method's reference, Embedding(5000, 16) -> SimpleRNN(128) -> Dense(3), over
word ids only. It is unrolled with a static sequence length, because TF 2.21 cannot convert a
rolled SimpleRNN to LiteRT (TensorListReserve needs a static element shape).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

ARCHITECTURES = ("bag", "simplernn")
# Members that are one linear layer over the bag's features (``build_linear``): logistic
# regression ("lr") or the same with NB log-count-ratio scaling ("nblr", NBSVM-style).
LINEAR_MEMBERS = ("lr", "nblr")


@dataclass(frozen=True)
class ArchConfig:
    """Hyper-parameters of one architecture; saved in the training history."""

    name: str = "bag"
    dim: int = 16
    hidden: int = 0
    dropout: float = 0.0
    rnn_vocab: int = 5000
    rnn_dim: int = 16
    rnn_units: int = 128
    rnn_length: int = 40
    # An ensemble of bag members averaged in one model: "all" sees every feature, "no-chars"
    # ignores the character n-grams (a different view of the post, so their errors differ).
    members: tuple[str, ...] = ("all", "no-chars", "all")
    # Share of a post's features dropped at random while training (never at inference): on
    # 1,839 tweets per language it keeps a member from leaning on a few rare words.
    feature_dropout: float = 0.0


def build(config: ArchConfig, num_features: int, width: int, member: str = "all",
          char_offset: int = 0, index: int = 0) -> Any:
    """A keras.Model taking int32 ids of shape (batch, width), giving 3 probabilities."""
    import keras

    ids = keras.Input((width,), dtype="int32", name="ids")
    if config.name == "bag":
        if member == "no-chars":  # char n-gram ids are the highest: map them to padding
            ids_in = keras.ops.where(ids >= char_offset, 0, ids)
            num_features = char_offset
        else:
            ids_in = ids
        emb = keras.layers.Embedding(num_features, config.dim, name="embedding")(ids_in)
        if config.feature_dropout:  # whole feature vectors, i.e. features, go
            emb = keras.layers.Dropout(config.feature_dropout, noise_shape=(None, width, 1),
                                       name="feature_dropout")(emb)
        mask = keras.ops.cast(ids_in > 0, "float32")
        # The masked mean as one (1 x width) @ (width x dim) product of each post's weights
        # (1/count per feature) and rows. In full-integer int8 a matmul accumulates in int32
        # and only its result, the mean, is rescaled. A sum of rows then a division (the sum's
        # scale set by the longest posts) crushed short posts, and a sum of pre-divided rows
        # (their scale set by the shortest) crushed long ones: -1.3 and -0.7 val macro-F1.
        # The reciprocal of the count is taken per post, (batch, 1), then multiplied in: an int8
        # DIV of the whole (batch, width) mask has no XNNPACK kernel and cost 4x the rest of a
        # member (9.4 -> 1.7 us a post; the matmul itself is delegated).
        inverse_count = 1.0 / keras.ops.maximum(keras.ops.sum(mask, axis=1, keepdims=True), 1.0)
        share = mask * inverse_count
        h = keras.ops.squeeze(keras.ops.matmul(keras.ops.expand_dims(share, 1), emb), 1)
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
    name = f"{config.name}_{member}".replace("-", "_") + (f"_{index}" if index else "")
    return keras.Model(ids, probs, name=name)


def build_linear(num_features: int, width: int, ratios: Any = None, l2: float = 0.0,
                 name: str = "linear") -> Any:
    """A linear member: ``softmax(b + sum_f s * r[f] * w[f])`` over a post's feature ids f, with
    s = 1/sqrt(number of features) (L2 norm of the binary bag, as for TF-IDF-style linear
    models), w trained with an L2 penalty ``l2``, and r fixed: the NB log-count ratios of each
    feature per class (``ratios``, shape (num_features, 3)) or 1 when None. After training r * w
    is folded into one Embedding(num_features, 3) (``fold_linear``): one gather and one
    (1 x width) @ (width x 3) product per post, as in a bag member."""
    import keras

    ids = keras.Input((width,), dtype="int32", name="ids")
    mask = keras.ops.cast(ids > 0, "float32")
    # rsqrt of the (batch, 1) count, then a multiply: no DIV of the (batch, width) mask in int8
    share = mask * keras.ops.rsqrt(keras.ops.maximum(keras.ops.sum(mask, 1, keepdims=True), 1.0))
    regularizer = keras.regularizers.L2(l2) if l2 else None
    rows = keras.layers.Embedding(num_features, 3, embeddings_initializer="zeros",
                                  embeddings_regularizer=regularizer, name="linear")(ids)
    if ratios is not None:
        scale = keras.layers.Embedding(num_features, 3, trainable=False, name="nb_ratio")
        rows = rows * scale(ids)
    logits = keras.ops.squeeze(keras.ops.matmul(keras.ops.expand_dims(share, 1), rows), 1)
    # One offset per class, as a Dense of a constant 1 (no custom layer in the saved model).
    offsets = keras.layers.Dense(3, use_bias=False, kernel_initializer="zeros",
                                 name="class_offset")(keras.ops.ones_like(share[:, :1]))
    probs = keras.layers.Softmax(name="probs")(logits + offsets)
    net = keras.Model(ids, probs, name=name)
    if ratios is not None:
        scale.set_weights([ratios])
    return net


def fold_linear(trained: Any, num_features: int, width: int, name: str) -> Any:
    """``trained`` (a ``build_linear`` model, with or without NB ratios) as one without: its
    Embedding holds r * w, so the served graph gathers one (num_features, 3) table."""
    rows = trained.get_layer("linear").get_weights()[0]
    if any(layer.name == "nb_ratio" for layer in trained.layers):
        rows = rows * trained.get_layer("nb_ratio").get_weights()[0]
    net = build_linear(num_features, width, name=name)
    net.get_layer("linear").set_weights([rows])
    net.get_layer("class_offset").set_weights(trained.get_layer("class_offset").get_weights())
    return net


def combine(members: list[Any], width: int) -> Any:
    """One model whose output is the mean of the members' probabilities."""
    import keras

    if len(members) == 1:
        return members[0]
    ids = keras.Input((width,), dtype="int32", name="ids")
    probs = keras.layers.Average(name="probs")([member(ids) for member in members])
    return keras.Model(ids, probs, name="ensemble")
