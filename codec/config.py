"""Frozen configuration of the model and of training.

A weights folder holds ``config.json`` next to the safetensors file, so a model is rebuilt from
the folder alone (the nanoGPT habit: the checkpoint knows its own architecture).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

# Rate-distortion trade-offs of quality levels 1..13: geometric, from 0.0018 at level 6 to 0.0483 at
# level 13 (the span of CompressAI's levels 1..6), so level 1 is about 0.05 bpp and level 13 about
# 1 bpp on Kodak. Levels 1..5 were added below the first eight in aecodec 0.11 (--lower-levels).
DEFAULT_LAMBDAS: tuple[float, ...] = tuple(0.0018 * (0.0483 / 0.0018) ** (i / 7) for i in range(-5, 8))
# Quality levels 1..NUM_LEVELS of the shipped weights (a weights folder's own count is
# ``ModelConfig.num_levels``, which the API checks); the command line offers these.
NUM_LEVELS = len(DEFAULT_LAMBDAS)
DEFAULT_QUALITY = 9  # 0.10's quality 4: the same trade-off
# Pixels per element of y and of z (four and six stride-2 stages): images are padded to a multiple
# of Z_STRIDE before coding, and a tile of a large image holds whole z elements.
Y_STRIDE, Z_STRIDE = 16, 64


def lower_lambdas(lambdas: tuple[float, ...], k: int) -> tuple[float, ...]:
    """``lambdas`` with ``k`` more levels below, continuing the spacing of the lowest two."""
    if k and len(lambdas) < 2:
        raise ValueError("levels can be added below two levels or more, not below one")
    ratio = lambdas[1] / lambdas[0]
    return tuple(lambdas[0] * ratio ** -j for j in range(k, 0, -1)) + tuple(lambdas)


@dataclass(frozen=True)
class ModelConfig:
    """Architecture of a model; everything needed to rebuild it before loading weights."""

    name: str = "aec-msh-v1"
    channels: int = 64  # N: width of the transforms and of the hyperprior
    latent_channels: int = 128  # M: channels of y
    lambdas: tuple[float, ...] = DEFAULT_LAMBDAS  # one per quality level, best last
    gan_decoder: bool = False  # a second, adversarially trained synthesis transform g_s_gan
    checkerboard: bool = False  # a checkerboard context refines the entropy parameters of half of y
    analysis_channels: int | None = None  # width of the encoder g_a (None: channels)
    synthesis_channels: int | None = None  # width of the decoders g_s and g_s_gan (None: channels)

    @property
    def encoder_channels(self) -> int:
        return self.analysis_channels or self.channels

    @property
    def decoder_channels(self) -> int:
        return self.synthesis_channels or self.channels

    @property
    def num_levels(self) -> int:
        return len(self.lambdas)

    def with_checkerboard(self) -> "ModelConfig":
        """This architecture plus the checkerboard context, under its own name: its y strings
        have another layout (FORMAT.md)."""
        return dataclasses.replace(self, checkerboard=True, name="aec-mshc-v1")

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "ModelConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown model config fields: {sorted(unknown)}")
        data = dict(data)
        if "lambdas" in data:
            data["lambdas"] = tuple(float(v) for v in data["lambdas"])
        return cls(**data)


@dataclass(frozen=True)
class RunConfig:
    """What both training stages take. Progress, which drives the learning-rate schedule, is
    whichever of steps and wall time runs out first, so a run on a busy machine still finishes
    its decay."""

    train_dirs: tuple[str, ...] = ()
    val_dirs: tuple[str, ...] = ()  # validated in turn; the first logs as val_*, the others as val_<folder>_*
    out_dir: str = "runs/rd"
    crop: int = 256
    batch: int = 4
    max_steps: int = 200_000
    time_budget_s: float = 3600.0
    lr_min: float = 1e-5
    clip: float = 1.0
    downscale: tuple[float, float] = (0.5, 0.95)  # random downscaling to hide JPEG blocks
    level_weights: tuple[float, ...] = ()  # how often each quality level is drawn; () is uniform
    val_every: int = 500
    ckpt_every_s: float = 600.0
    seed: int = 0
    threads: int = 2
    precision: str = "auto"  # fp32, bf16, or auto: bf16 where the processor has bf16 matrix units
    device: str = "cpu"

    def progress(self, step: int, elapsed_s: float) -> float:
        """The fraction of the budget spent: 1 ends the run."""
        return max(step / self.max_steps, elapsed_s / self.time_budget_s)


@dataclass(frozen=True)
class TrainConfig(RunConfig):
    """Stage 1: the whole codec, rate-distortion plus the contractive penalty."""

    lr: float = 4e-4
    warmup_steps: int = 500
    aux_lr: float = 1e-3
    ema_decay: float = 0.999
    optimizer: str = "soap"  # Shampoo-preconditioned Adam (pytorch-optimizer), or "adam"; MODEL_CARD.md
    # Weight of the ||J_a||_F^2 penalty, per pixel. 1e-2 flips a quarter fewer symbols under noise
    # than 1e-3, but side by side from the same weights it cost 0.1-0.2 dB at the middle and top
    # levels (MODEL_CARD.md, session 14); every shipped release was trained at 1e-3.
    contractive_weight: float = 1e-3
    contractive_eps: float = 1e-2  # step of the finite-difference Jacobian-vector product
    kodak_every_s: float = 1800.0
    kodak_dir: str = ""
    model: ModelConfig = field(default_factory=ModelConfig)


@dataclass(frozen=True)
class GanConfig(RunConfig):
    """Stage 2: the synthesis transform trained as a generator, everything else frozen.

    The generator loss is HiFiC's (Mentzer et al. 2020) plus feature matching:
    ``mse_weight * 255^2 * MSE + perceptual_weight * ST-LPIPS(alex) + adversarial_weight *
    non-saturating loss + feature_matching_weight * L1 of discriminator features``.
    Crops are smaller than stage 1's because ST-LPIPS costs more than the generator on a CPU.
    """

    out_dir: str = "runs/gan"
    crop: int = 128
    lr_min: float = 1e-6
    val_every: int = 250
    g_lr: float = 1e-4
    d_lr: float = 4e-4  # 4x the generator's (TTUR): fastest of the discriminator probes (MODEL_CARD.md)
    d_warmup_steps: int = 100  # the discriminator learns alone first, so its first signal is not noise
    discriminator_from: str = ""  # a gan run whose discriminator starts this one (a fresh one lags for hundreds of steps)
    restart_decoder: bool = False  # start g_s_gan from g_s again, not from the GAN decoder --init holds
    mse_weight: float = 0.075 / 32  # k_M of HiFiC, per 255^2 MSE
    perceptual_weight: float = 1.0
    adversarial_weight: float = 0.05  # HiFiC's 0.15 cost up to 1.1 dB on Kodak for worse ST-LPIPS (MODEL_CARD.md)
    # The adversarial weight at the best level, for one that falls with the rate (at low rates the
    # decoder must invent, at high ones it need not); None keeps adversarial_weight at every level.
    adversarial_weight_best: float | None = None
    feature_matching_weight: float = 1.0

    def adversarial_at(self, q: int, num_levels: int) -> float:
        """The adversarial weight at level ``q``: geometric from the lowest level's to the best's,
        as the lambdas are."""
        best = self.adversarial_weight if self.adversarial_weight_best is None else self.adversarial_weight_best
        if num_levels == 1 or best == self.adversarial_weight:
            return best
        return self.adversarial_weight * (best / self.adversarial_weight) ** ((q - 1) / (num_levels - 1))


@dataclass(frozen=True)
class JointConfig(GanConfig):
    """Stage 3, the seed's joint step: every part of the codec and the GAN decoder together, on
    stage 1's loss plus stage 2's generator loss (:mod:`codec.train.joint`). ``g_lr`` is the peak
    learning rate of every part but the discriminator, low since every part starts trained."""

    out_dir: str = "runs/joint"
    g_lr: float = 2e-5
    aux_lr: float = 1e-3
    ema_decay: float = 0.999
    contractive_weight: float = 1e-3
    contractive_eps: float = 1e-2

