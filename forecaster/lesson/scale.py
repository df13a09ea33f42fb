"""Question 8: why the scores are divided by sqrt(d_k), measured as softmax saturation and its gradients.

With unit-variance queries and keys, q . k has a variance that grows with d_k, so unscaled scores push
the softmax towards one-hot weights (low entropy), where its gradient vanishes. At initialisation: the
attention entropy (1 = uniform), the largest weight and the gradient reaching W_Q (which is learnt only
through the softmax) for growing d_k, with and without the scale. During training on the seasonal
series: the same quantities epoch by epoch, with one head of width d_k.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import torch
from torch import nn
from tqdm.auto import tqdm

from forecaster.config import ModelSpec
from forecaster.lesson.figures import line_figure
from forecaster.lesson.runs import CPU, describe_series, prepared, train_config
from forecaster.lesson.section import (
    Section,
    compare,
    display,
    number,
    seeds_text,
    spread,
    summarise,
    values,
)
from forecaster.lesson.settings import LessonSettings
from forecaster.models import MultiHeadSelfAttention, TransformerConfig
from forecaster.runs.fitting import build, fit
from forecaster.training.loop import EpochEnd, seed_everything

SCALES = {"with 1/sqrt(d_k)": True, "without": False}
INIT_BATCH = 64


def entropy(weights: torch.Tensor) -> torch.Tensor:
    """Mean entropy of attention rows (..., T) divided by log T: 1 for uniform weights, 0 for one-hot ones."""
    frames = weights.shape[-1]
    return -(weights * weights.clamp_min(1e-12).log()).sum(dim=-1).mean() / math.log(frames)


def at_initialisation(width: int, scale: bool, seed: int, frames: int) -> dict[str, float]:
    """One head of width d_k at its initial weights on unit-variance tokens (what a LayerNorm hands it)."""
    seed_everything(seed)
    attention = MultiHeadSelfAttention(d_model=width, n_heads=1, scale=scale)
    tokens = torch.randn(INIT_BATCH, frames, width)  # (B, T, D)
    out, weights = attention(tokens, need_weights=True)  # (B, T, D), (B, 1, T, T)
    weights.retain_grad()
    (out * torch.randn_like(out)).sum().backward()  # a random direction: the loss of no task in particular
    w_query, _, w_value = attention.qkv.weight.grad.chunk(3, dim=0)
    weights, upstream = weights.detach(), weights.grad
    # What the softmax lets through to its inputs (the scores): dL/ds = w * (dL/dw - sum(dL/dw * w)), per row.
    through = weights * (upstream - (upstream * weights).sum(dim=-1, keepdim=True))
    return {"entropy": float(entropy(weights)), "max_weight": float(weights.max(-1).values.mean()),
            "grad_scores": float(through.norm()), "grad_w_q": float(w_query.norm()),
            "grad_w_q_over_w_v": float(w_query.norm() / w_value.norm())}


def _train_recording(width: int, scale: bool, seed: int, settings: LessonSettings) -> list[dict[str, float]]:
    """Train a one-head transformer on the seasonal series, recording loss, entropy and the W_Q gradient per epoch.

    The library's own loop does the training (every epoch, no early stopping); its hooks record the W_Q
    gradient after each step and the attention entropy on validation windows after each epoch.
    """
    data = prepared("seasonal", settings)
    config = train_config(settings, seed, epochs=settings.scale_epochs, patience=settings.scale_epochs)
    spec = ModelSpec("transformer", "transformer", TransformerConfig(
        d_model=width, n_heads=1, n_layers=settings.n_layers, d_ff=2 * width, dropout=settings.dropout,
        attention_scale=scale))
    model = build(spec, data.dims, seed=seed)
    probe = data.windows["val"].inputs[: INIT_BATCH * 4]
    w_qkv = model.encoder.blocks[0].attention.qkv.weight
    gradients: list[float] = []
    history = []

    def record_gradient(_model: nn.Module) -> None:
        gradients.append(float(w_qkv.grad[:width].norm()))  # W_Q of the first block, after clipping

    def record_epoch(end: EpochEnd) -> None:
        with torch.no_grad():
            _, maps = model.encoder.forward_with_attention(probe)  # the model is in eval mode here
        history.append({"width": width, "scale": next(k for k, v in SCALES.items() if v == scale), "seed": seed,
                        "epoch": end.epoch, "train_loss": end.train_loss, "val_loss": end.val_loss,
                        "entropy": float(torch.stack([entropy(m) for m in maps]).mean()),
                        "grad_w_q": float(np.mean(gradients))})
        gradients.clear()

    fit(model, data.windows["train"], data.windows["val"], config, device=CPU,
        on_step_end=record_gradient, on_epoch_end=record_epoch)
    return history


def scale(settings: LessonSettings, *, seeds: tuple[int, ...], progress: bool = False) -> Section:
    """Entropy and W_Q gradients with and without the scale: at initialisation for growing d_k, and while training."""
    initial = pd.DataFrame([
        {"width": width, "scale": name, "seed": seed, **at_initialisation(width, on, seed, settings.context)}
        for width in settings.scale_widths for name, on in SCALES.items() for seed in seeds])
    runs = [(width, on, seed) for width in settings.scale_train_widths for on in SCALES.values() for seed in seeds]
    training = pd.DataFrame([row for width, on, seed in tqdm(runs, desc="scale", disable=not progress, leave=False)
                             for row in _train_recording(width, on, seed, settings)])
    final = training[training.epoch == training.epoch.max()]
    long_initial = pd.concat([summarise(initial, ["width", "scale"], metric).assign(metric=label)
                              for metric, label in (("entropy", "entropy / log T"), ("grad_scores", "|dL/dscores|"),
                                                    ("grad_w_q", "|dL/dW_Q|"))])
    long_training = pd.concat([summarise(training, ["width", "scale", "epoch"], metric).assign(metric=label)
                               for metric, label in (("val_loss", "validation loss"), ("entropy", "entropy / log T"))])
    long_training["panel"] = [f"d_k = {w}: {m}" for w, m in zip(long_training.width, long_training.metric)]
    figures = {
        "scale_initialisation.png": line_figure(
            long_initial, x="width", line="scale", panels="metric", log_x=True, log_y=False,
            title=f"At initialisation, one head, {settings.context} frames: saturation of the softmax against d_k",
            xlabel="d_k", ylabel="value"),
        "scale_training.png": line_figure(
            long_training, x="epoch", line="scale", panels="panel",
            title="Training on the seasonal series, one head: validation loss and attention entropy per epoch",
            xlabel="epoch", ylabel="value"),
    }
    low, high = min(settings.scale_widths), max(settings.scale_widths)
    ent = {(w, s): values(initial, "entropy", width=w, scale=s) for w in (low, high) for s in SCALES}
    grad = {(w, s): values(initial, "grad_w_q", width=w, scale=s) for w in (low, high) for s in SCALES}
    through = {(w, s): values(initial, "grad_scores", width=w, scale=s) for w in (low, high) for s in SCALES}
    sentences = [
        (f"At initialisation the attention entropy (1 = uniform) goes from {spread(ent[low, 'without'])} at d_k = {low} "
        f"to {spread(ent[high, 'without'])} at d_k = {high} without the scale, and from {spread(ent[low, 'with 1/sqrt(d_k)'])} "
        f"to {spread(ent[high, 'with 1/sqrt(d_k)'])} with it."),
        (f"What the softmax passes back to its scores at d_k = {high} has norm {spread(through[high, 'without'])} "
        f"without the scale and {spread(through[high, 'with 1/sqrt(d_k)'])} with it (at d_k = {low}: "
        f"{spread(through[low, 'without'])} and {spread(through[low, 'with 1/sqrt(d_k)'])})."),
        (f"The gradient reaching W_Q at d_k = {high} is {spread(grad[high, 'without'])} without the scale and "
        f"{spread(grad[high, 'with 1/sqrt(d_k)'])} with it (at d_k = {low}: {spread(grad[low, 'without'])} and "
        f"{spread(grad[low, 'with 1/sqrt(d_k)'])})."),
    ]
    for width in settings.scale_train_widths:
        result = compare(values(final, "val_loss", width=width, scale="with 1/sqrt(d_k)"),
                         values(final, "val_loss", width=width, scale="without"))
        sentences.append(
            f"Trained with d_k = {width} for {settings.scale_epochs} epochs, the final validation loss is "
            f"{spread(values(final, 'val_loss', width=width, scale='with 1/sqrt(d_k)'), 4)} with the scale and "
            f"{spread(values(final, 'val_loss', width=width, scale='without'), 4)} without (without against with: "
            f"{result.words()}); final entropy {spread(values(final, 'entropy', width=width, scale='with 1/sqrt(d_k)'))} "
            f"with, {spread(values(final, 'entropy', width=width, scale='without'))} without.")
    answer = (f"at d_k = {high} at initialisation: entropy {number(float(np.mean(ent[high, 'without'])))} without the scale "
              f"vs {number(float(np.mean(ent[high, 'with 1/sqrt(d_k)'])))} with; gradient through the softmax "
              f"{number(float(np.mean(through[high, 'without'])))} vs "
              f"{number(float(np.mean(through[high, 'with 1/sqrt(d_k)'])))}; W_Q gradient "
              f"{number(float(np.mean(grad[high, 'without'])))} vs {number(float(np.mean(grad[high, 'with 1/sqrt(d_k)'])))}")
    return Section(
        number=8, name="scale",
        what_was_run=(f"At initialisation: one attention head of width d_k = {', '.join(map(str, settings.scale_widths))} "
                      f"(PyTorch's default initialisation) on {INIT_BATCH} windows of {settings.context} N(0, 1) tokens, "
                      "with and without the 1/sqrt(d_k); the loss is the output's dot product with a fixed random "
                      f"direction; {seeds_text(seeds)} of initial weights. In training: a transformer with one head of "
                      f"width d_k = {', '.join(map(str, settings.scale_train_widths))}, {settings.n_layers} layers, d_ff "
                      f"2 d_k, on {describe_series(['seasonal'], settings)}, {settings.scale_epochs} epochs of AdamW "
                      f"(lr {settings.learning_rate}, batch {settings.batch_size}, gradients clipped at norm 1) without "
                      "early stopping; entropy on 256 validation windows, averaged over layers; the W_Q gradient of the "
                      "first block averaged over the epoch's steps."),
        tables={
            "at initialisation: attention entropy / log T (1 = uniform)": display(initial, "width", "scale", "entropy"),
            "at initialisation: norm of the gradient the softmax passes to the scores": display(
                initial, "width", "scale", "grad_scores"),
            "at initialisation: norm of the gradient reaching W_Q": display(initial, "width", "scale", "grad_w_q"),
            "after training: validation loss (scaled MSE)": display(final, "width", "scale", "val_loss", 4),
            "after training: attention entropy / log T": display(final, "width", "scale", "entropy"),
        },
        figures=figures, interpretation=sentences, answer=answer,
        records={"scale_initialisation": initial, "scale_training": training},
    )
