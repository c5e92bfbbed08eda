"""Stage 2: the GAN decoder.

Everything that decides the bitstream (analysis, hyperprior, entropy models, gains) is frozen,
so the frozen tables and every file already written stay valid; only the second synthesis
transform ``g_s_gan`` learns, starting from the fidelity decoder, as the generator of a
conditional GAN (HiFiC's recipe: MSE + LPIPS + non-saturating adversarial loss, plus feature
matching). The discriminator learns alone for a few steps first.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch

from codec import weights
from codec.config import GanConfig
from codec.losses import (
    discriminator_loss,
    feature_matching,
    generator_adversarial_loss,
    psnr_db,
)
from codec.model import AecModel
from codec.nn.discriminator import Discriminator
from codec.perceptual import STLPIPS
from codec.train import checkpoint, distributed, harness, precision
from codec.train.data import CropSampler, list_images, validation_sets
from codec.train.schedule import cosine_lr

CHECKPOINT = "gan_checkpoint.pt"
# The levels stage 2 validates, counted down from the best (1): 2 and 6 of eight levels.
VAL_FROM_TOP = (7, 3)


@dataclass
class GanState:
    model: AecModel  # frozen, except g_s_gan
    disc: Discriminator
    g_opt: torch.optim.Optimizer
    d_opt: torch.optim.Optimizer
    step: int = 0
    elapsed_s: float = 0.0

    @classmethod
    def create(cls, cfg: GanConfig, init: Path) -> GanState:
        model = weights.load(init)
        model.add_gan_decoder(restart=cfg.restart_decoder)
        model.requires_grad_(False)
        model.g_s_gan.requires_grad_(True)
        disc = Discriminator(model.config.latent_channels)
        return cls(model, disc, torch.optim.Adam(model.g_s_gan.parameters(), lr=cfg.g_lr),
                   torch.optim.Adam(disc.parameters(), lr=cfg.d_lr))

    def parts(self) -> dict[str, checkpoint.Stateful]:
        return {"g_s_gan": self.model.g_s_gan, "disc": self.disc, "g_opt": self.g_opt, "d_opt": self.d_opt}

    def to(self, device: torch.device, memory_format: torch.memory_format) -> None:
        """Move the networks in place, so the optimizers keep their parameters."""
        for m in (self.model, self.disc):
            m.to(device, memory_format=memory_format)

    def save(self, path: Path, cfg: GanConfig) -> None:
        checkpoint.save(path, self.parts(), self.step, self.elapsed_s, asdict(cfg))

    def load(self, path: Path) -> None:
        self.step, self.elapsed_s = checkpoint.load(path, self.parts())


def load_discriminator(disc: Discriminator, path: Path) -> None:
    """Start from an earlier run's discriminator: against a generator that is already good, a fresh
    one sits at chance for hundreds of steps (MODEL_CARD.md)."""
    if not path.is_file():
        raise ValueError(f"{path.parent} holds no {CHECKPOINT}: --discriminator takes a gan run folder")
    try:
        checkpoint.load(path, {"disc": disc})
    except ValueError:
        raise ValueError(f"{path} holds a discriminator for another latent width") from None


def check_finite(loss: torch.Tensor, what: str, step: int) -> None:
    if not torch.isfinite(loss):
        raise FloatingPointError(f"{what} loss is {float(loss.detach())} at step {step}; lower --lr")


def gan_step(s: GanState, x: torch.Tensor, q: int, lr: float, cfg: GanConfig, lpips: STLPIPS,
             dtype: str = "fp32", world: distributed.World = distributed.ALONE) -> dict[str, float]:
    """One discriminator step and, after the warm-up, one generator step first. ``lr`` is the
    generator's; the discriminator's follows the same schedule at ``d_lr / g_lr`` times it.
    The networks run at ``dtype`` (a resolved precision), the losses in float32. ``x`` is this
    process's share of the batch; both networks' gradients are averaged over the processes."""
    with precision.autocast(dtype, x.device):
        return _gan_step(s, x, q, lr, cfg, lpips, world)


def _gan_step(s: GanState, x: torch.Tensor, q: int, lr: float, cfg: GanConfig, lpips: STLPIPS,
              world: distributed.World) -> dict[str, float]:
    for opt, rate in ((s.g_opt, lr), (s.d_opt, lr * cfg.d_lr / cfg.g_lr)):
        for g in opt.param_groups:
            g["lr"] = rate
    with torch.no_grad():
        y_hat = s.model.latent(s.model.g_a(x), q)[0]
    train_generator = generator_trains(s.step, cfg)
    with torch.set_grad_enabled(train_generator):
        x_fake = s.model.g_s_gan(y_hat).float()
    stats: dict[str, float] = {}
    if train_generator:
        terms = generator_terms(s.disc, lpips, cfg, x_fake, x, y_hat, cfg.adversarial_at(q, s.model.config.num_levels))
        g_loss = sum(terms.values())
        check_finite(g_loss, "generator", s.step)
        s.g_opt.zero_grad(set_to_none=True)
        g_loss.backward()
        world.average_gradients(list(s.model.g_s_gan.parameters()))
        torch.nn.utils.clip_grad_norm_(s.model.g_s_gan.parameters(), cfg.clip)
        s.g_opt.step()
        stats = {"g_loss": float(g_loss.detach()), **{k: float(v.detach()) for k, v in terms.items()}}
    d_loss = discriminator_step(s.disc, s.d_opt, x, x_fake.detach(), y_hat, world, s.step)
    s.step += 1
    return {**stats, "d_loss": d_loss}


def generator_trains(step: int, cfg: GanConfig) -> bool:
    """Whether the warm-up, in which the discriminator learns alone, is over; a short run is not
    spent warming up: at most a quarter of its steps."""
    return step >= min(cfg.d_warmup_steps, cfg.max_steps // 4)


def generator_terms(disc: Discriminator, lpips: STLPIPS, cfg: GanConfig, x_fake: torch.Tensor, x: torch.Tensor,
                    y_hat: torch.Tensor, adversarial_weight: float) -> dict[str, torch.Tensor]:
    """The generator loss's weighted terms for decodings ``x_fake`` (float32) of ``x``, the
    adversarial one at the level's weight (:meth:`GanConfig.adversarial_at`); the discriminator's
    weights get no gradient from them."""
    disc.requires_grad_(False)
    try:
        fake_logits, fake_features = disc(x_fake, y_hat)
        with torch.no_grad():
            _, real_features = disc(x, y_hat)
    finally:
        disc.requires_grad_(True)
    return {
        "mse": cfg.mse_weight * 255**2 * torch.mean((x_fake - x) ** 2),
        "perceptual": cfg.perceptual_weight * lpips(x_fake, x).float().mean(),
        "adversarial": adversarial_weight * generator_adversarial_loss(fake_logits.float()),
        "feature_matching": cfg.feature_matching_weight * feature_matching(
            [f.float() for f in real_features], [f.float() for f in fake_features]),
    }


def discriminator_step(disc: Discriminator, d_opt: torch.optim.Optimizer, x: torch.Tensor, x_fake: torch.Tensor,
                       y_hat: torch.Tensor, world: distributed.World, step: int) -> float:
    """One step of the discriminator on originals ``x`` against (detached) decodings ``x_fake``."""
    real_logits, _ = disc(x, y_hat)
    fake_logits, _ = disc(x_fake, y_hat)
    d_loss = discriminator_loss(real_logits.float(), fake_logits.float())
    check_finite(d_loss, "discriminator", step)
    d_opt.zero_grad(set_to_none=True)
    d_loss.backward()
    world.average_gradients(list(disc.parameters()))
    d_opt.step()
    return float(d_loss.detach())


@torch.no_grad()
def validate(model: AecModel, x: torch.Tensor, realism: float, lpips: STLPIPS) -> dict[str, float]:
    """PSNR and ST-LPIPS of 8-bit decodings of held-out crops, at the lowest level and two more."""
    out: dict[str, float] = {}
    for q in harness.check_levels(model.config.num_levels, VAL_FROM_TOP):
        x_hat = model.decoder(realism)(model.latent(model.g_a(x), q)[0]).clamp(0, 1).mul(255).round().div(255)
        out[f"q{q}_psnr_db"] = psnr_db(float(torch.mean((x_hat - x) ** 2)))
        out[f"q{q}_st_lpips"] = float(lpips(x_hat, x).mean())
    return out


def run_steps(session: harness.Session, s: harness.Progressing, cfg: GanConfig, draw_level: Callable[[], int],
              next_batch: Callable[[], torch.Tensor], step: Callable[[torch.Tensor, int, float], dict[str, float]],
              validate_all: Callable[[], dict[str, float]], shown: tuple[str, ...]) -> None:
    """The loop of both stages that train a generator (this one and the joint step): a level and a
    batch per step, the generator's schedule without warm-up, the losses logged every 25 steps,
    the held-out figures every ``val_every`` and at the end; ``shown`` losses in the progress bar."""
    stats: dict[str, float] = {}
    while session.running():
        q = draw_level()
        lr = cosine_lr(s.step, session.progress, cfg.g_lr, cfg.lr_min, 0)
        stats = step(next_batch(), q, lr)
        session.stepped(q=q, **{k: f"{v:.3f}" for k, v in stats.items() if k in shown})
        record = {**stats, "q": q, "lr": lr} if s.step % 25 == 0 else {}
        if s.step % cfg.val_every == 0:
            record.update(validate_all())
        if record:
            session.write(record)
    session.write({**stats, **validate_all()})


def train_gan(cfg: GanConfig, init: Path, resume: bool = False) -> Path:
    """Run stage 2 on top of the weights in ``init`` and export them with the GAN decoder to
    ``out_dir/export``; returns that folder. Under torchrun, as stage 1 (:func:`codec.train.loop.train`)."""
    run = harness.Run(cfg)
    world = run.world
    cfg = replace(cfg, precision=run.dtype)  # recorded as resolved
    s = GanState.create(cfg, init)
    digest = s.model.bitstream_hash()
    ckpt_path = Path(cfg.out_dir) / CHECKPOINT
    s.to(run.device, run.memory_format)  # before loading, so the optimizers' state lands there too
    if resume and ckpt_path.exists():
        s.load(ckpt_path)
    elif cfg.discriminator_from:
        load_discriminator(s.disc, Path(cfg.discriminator_from) / CHECKPOINT)
    world.broadcast(s.model.g_s_gan, s.disc)
    lpips = STLPIPS("alex").to(run.device)
    sampler = CropSampler(list_images(cfg.train_dirs), cfg.crop, cfg.downscale, cfg.seed + s.step)
    val_sets = validation_sets(cfg.val_dirs, 12, 2 * cfg.crop, run.device) if world.is_main else {}
    draw_level = harness.level_drawer(cfg.level_weights, s.model.config.num_levels)

    def validate_all(decoder: str) -> dict[str, float]:
        realism = 1.0 if decoder == "gan" else 0.0
        return {f"{prefix}{decoder}_{k}": v for prefix, x in val_sets.items()
                for k, v in validate(s.model, x, realism, lpips).items()}

    # The folder is made only once the data is known to serve.
    with harness.Session(cfg, s, lambda: s.save(ckpt_path, cfg), world) as session:
        session.write({**run.describe(cfg), **(validate_all("fidelity") if s.step == 0 else {})})
        run_steps(session, s, cfg, draw_level, lambda: run.batch(sampler.batch(cfg.batch, run.share)),
                  lambda x, q, lr: gan_step(s, x, q, lr, cfg, lpips, run.dtype, world),
                  lambda: validate_all("gan"), shown=("perceptual", "d_loss"))
    out_dir = Path(cfg.out_dir) / "export"
    if world.is_main:
        export_gan(s, cfg, init, out_dir, digest, world)
    world.leave()
    return out_dir


def export_gan(s: GanState, cfg: GanConfig, init: Path, out_dir: Path, digest: bytes,
               world: distributed.World = distributed.ALONE) -> Path:
    """Write ``init``'s weights plus the GAN decoder; the bitstream hash must not have moved."""
    previous = weights.training_records(init)
    model = s.model.to("cpu", memory_format=torch.contiguous_format)
    if weights.export(model, out_dir, {**previous, "gan_training": harness.summary(s, cfg, world)}) != digest:
        raise RuntimeError("the bitstream hash changed during stage 2; the frozen parts were modified")
    return out_dir
