"""The rate-distortion training loop (stage 1), small enough to read at once.

Recipe, chosen for two CPU cores (the model card has the measurements): SOAP with a linear warm-up and a
cosine decay tied to the run's budget (steps or wall time, whichever ends first), 256x256 crops
so the hyperprior sees more than a 2x2 latent, a random quality level per batch (uniform, or as
``level_weights`` says), gradient clipping, and an exponential moving average of the weights, which
is what gets evaluated and exported.
"""

from __future__ import annotations

import copy
import tempfile
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from torch.profiler import record_function

from codec import api, entropy, image, weights
from codec.config import ModelConfig, TrainConfig
from codec.extras import require
from codec.losses import contractive_penalty, psnr_db, rate_distortion
from codec.model import AecModel, ForwardOutput
from codec.train import checkpoint, distributed, harness, precision
from codec.train.data import CropSampler, list_images, validation_sets
from codec.train.schedule import cosine_lr

CHECKPOINT = "checkpoint.pt"


def update_ema(ema: AecModel, model: AecModel, step: int, decay: float) -> None:
    # A shorter memory at the start, so the average is not dominated by the random init.
    d = min(decay, (1 + step) / (10 + step))
    with torch.no_grad():
        torch._foreach_lerp_(list(ema.parameters()), list(model.parameters()), 1 - d)


@torch.no_grad()
def validate(model: AecModel, x: torch.Tensor, levels: list[int]) -> dict[str, float]:
    model.eval()
    out: dict[str, float] = {}
    for q in levels:
        lmbda = model.config.lambdas[q - 1]
        rd = rate_distortion(model(x, q), x, lmbda)
        out[f"q{q}_bpp_estimate"] = float(rd.bpp_estimate)
        out[f"q{q}_psnr_db"] = psnr_db(float(rd.mse))
    model.train()
    return out


def validate_all(model: AecModel, val_sets: dict[str, torch.Tensor], levels: list[int]) -> dict[str, float]:
    return {f"{prefix}{k}": v for prefix, x in val_sets.items() for k, v in validate(model, x, levels).items()}


def kodak_figures(model: AecModel, files: list[Path], levels: list[int]) -> dict[str, float]:
    """Bits per pixel of whole ``.aec`` files and PSNR of the fidelity decoder's 8-bit output,
    through the public API from a frozen-table export of ``model``: what ``aecodec eval`` gives."""
    with tempfile.TemporaryDirectory() as tmp:
        weights.export(copy.deepcopy(model).to("cpu", memory_format=torch.contiguous_format), Path(tmp))
        refs = [image.read(f).rgb for f in files]
        out: dict[str, float] = {}
        for q in levels:
            bpps, psnrs = [], []
            for f, ref in zip(files, refs):
                data = api.encode(f, q, weights_dir=tmp)
                rgb = np.asarray(api.decode(data, weights_dir=tmp, realism=0).convert("RGB"))
                bpps.append(8 * len(data) / (ref.shape[0] * ref.shape[1]))
                psnrs.append(image.psnr(ref, rgb))
            out[f"kodak_q{q}_bpp"] = float(np.mean(bpps))
            out[f"kodak_q{q}_psnr_db"] = float(np.mean(psnrs))
    return out


@dataclass
class State:
    """Everything a checkpoint holds: the model, its moving average and both optimizers."""

    model: AecModel
    ema: AecModel
    opt: torch.optim.Optimizer
    aux_opt: torch.optim.Optimizer
    step: int = 0
    elapsed_s: float = 0.0

    @classmethod
    def create(cls, cfg: TrainConfig, init: Path | None) -> State:
        model = (weights.load(init) if init else AecModel(cfg.model)).train()
        model.add_lower_levels(cfg.model.lambdas)
        if cfg.model.checkerboard:
            model.add_checkerboard()
        model.widen_latent(cfg.model.latent_channels)
        if cfg.model.analysis_channels or cfg.model.synthesis_channels:
            model.widen_transforms(cfg.model.analysis_channels or model.config.encoder_channels,
                                   cfg.model.synthesis_channels or model.config.decoder_channels)
        main = [p for n, p in model.named_parameters() if not n.endswith("quantiles")]
        aux = [p for n, p in model.named_parameters() if n.endswith("quantiles")]
        return cls(model, copy.deepcopy(model), _optimizer(cfg, main), torch.optim.Adam(aux, lr=cfg.aux_lr))

    def parts(self) -> dict[str, checkpoint.Stateful]:
        return {"model": self.model, "ema": self.ema, "opt": self.opt, "aux_opt": self.aux_opt}

    def to(self, device: torch.device, memory_format: torch.memory_format) -> None:
        """Move the model and its average in place, so the optimizers keep their parameters."""
        for m in (self.model, self.ema):
            m.to(device, memory_format=memory_format)

    def save(self, path: Path, cfg: TrainConfig) -> None:
        checkpoint.save(path, self.parts(), self.step, self.elapsed_s, asdict(cfg))

    def load(self, path: Path, cfg: TrainConfig) -> None:
        self.step, self.elapsed_s = checkpoint.load(path, self.parts(), lambda saved: _check_resumable(saved, cfg, path))


def _check_resumable(saved: dict, cfg: TrainConfig, path: Path) -> None:
    """Name the option that differs, rather than fail inside the optimizer or load_state_dict."""
    if (optimizer := saved.get("optimizer", "adam")) != cfg.optimizer:
        raise ValueError(f"{path} was trained with {optimizer}: resume with --optimizer {optimizer}")
    saved_model = ModelConfig.from_json(saved["model"])
    if saved_model.checkerboard != cfg.model.checkerboard:
        raise ValueError(f"{path} has another architecture: resume {'with' if saved_model.checkerboard else 'without'} "
                         "--checkerboard")
    if (levels := len(saved_model.lambdas)) != cfg.model.num_levels:
        raise ValueError(f"{path} has {levels} quality levels, this command {cfg.model.num_levels}: "
                         "resume with the --lower-levels the run started with")
    for option, width, now in (("--latent-channels", saved_model.latent_channels, cfg.model.latent_channels),
                               ("--analysis-channels", saved_model.encoder_channels, cfg.model.encoder_channels),
                               ("--synthesis-channels", saved_model.decoder_channels, cfg.model.decoder_channels)):
        if width != now:
            raise ValueError(f"{path} has another architecture: resume with {option} {width}")


class StepStats(NamedTuple):
    loss: float
    bpp_estimate: float
    psnr_db: float
    jacobian: float


def _optimizer(cfg: TrainConfig, params: list[torch.nn.Parameter]) -> torch.optim.Optimizer:
    """SOAP (Vyas et al. 2024: Adam in the eigenbasis of Shampoo's preconditioner), which reaches a
    better Kodak curve than Adam in the same wall time on these machines (MODEL_CARD.md); or Adam."""
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=cfg.lr)
    if cfg.optimizer == "soap":
        return require("pytorch_optimizer", "the soap optimizer (--optimizer adam needs nothing more)").SOAP(params, lr=cfg.lr, weight_decay=0.0)
    raise ValueError(f"unknown optimizer {cfg.optimizer!r} (known: adam, soap)")


def train_step(s: State, x: torch.Tensor, q: int, lr: float, cfg: TrainConfig, dtype: str = "fp32",
               world: distributed.World = distributed.ALONE) -> StepStats:
    """One step at ``dtype`` (a resolved precision): the transforms under its autocast; the
    rate term and the contractive finite difference in float32, since a difference of two
    bfloat16 outputs ``eps`` apart would be mostly rounding. ``x`` is this process's share of
    the batch (all of it when alone). The named ranges are what ``examples/profile_step.py``
    reports."""
    for g in s.opt.param_groups:
        g["lr"] = lr
    crops = world.share(x.shape[0] * world.size)
    with precision.autocast(dtype, x.device), entropy.training_noise([noise_seed(cfg.seed, s.step, k) for k in crops]):
        with record_function("g_a"):
            y = s.model.g_a(x)
        with record_function("quantize"):
            y_hat, y_likelihoods, z_likelihoods = s.model.latent(y, q)
        with record_function("g_s"):
            x_hat = s.model.g_s(y_hat)
    with record_function("rate-distortion"):
        rd = rate_distortion(ForwardOutput(x_hat.float(), y_likelihoods, z_likelihoods), x, cfg.model.lambdas[q - 1])
    loss = rd.loss
    # On the batch's first crop, by the process that holds it; the average over processes
    # then divides its weight by their number, which it carries.
    penalty = torch.zeros(())
    if crops.start == 0:
        with record_function("contractive"):
            y1 = y[:1] if dtype == "fp32" else s.model.g_a(x[:1])
            penalty = contractive_penalty(s.model.g_a, x[:1], y1, cfg.contractive_eps)
        loss = loss + cfg.contractive_weight * world.size * penalty
    if not torch.isfinite(loss):
        raise FloatingPointError(f"loss is {float(loss.detach())} at step {s.step}; lower --lr")
    with record_function("backward"):
        s.opt.zero_grad(set_to_none=True)
        loss.backward()
    with record_function("optimizer"):
        params = s.opt.param_groups[0]["params"]
        world.average_gradients(params)
        torch.nn.utils.clip_grad_norm_(params, cfg.clip)
        s.opt.step()
    with record_function("aux"):
        s.aux_opt.zero_grad(set_to_none=True)
        s.model.latent.aux_loss().backward()
        world.average_gradients(s.aux_opt.param_groups[0]["params"])
        s.aux_opt.step()
    with record_function("ema"):
        update_ema(s.ema, s.model, s.step, cfg.ema_decay)
    s.step += 1
    return StepStats(float(loss.detach()), float(rd.bpp_estimate.detach()), psnr_db(float(rd.mse.detach())),
                     float(penalty.detach()))


def noise_seed(seed: int, step: int, crop: int) -> int:
    """The seed of the training noise of crop ``crop`` of step ``step``'s batch."""
    return hash((seed, step, crop)) & 0xFFFF_FFFF_FFFF


def train(cfg: TrainConfig, init: Path | None = None, resume: bool = False) -> Path:
    """Run stage 1 and export the EMA weights to ``out_dir/export``; returns that folder. Under
    torchrun, every process trains its share of each batch and rank 0 writes everything."""
    run = harness.Run(cfg)
    world = run.world
    s = State.create(cfg, init)
    # With --init, the architecture is the weights'; the precision is recorded as resolved.
    cfg = replace(cfg, model=s.model.config, precision=run.dtype)
    draw_level = harness.level_drawer(cfg.level_weights, cfg.model.num_levels)
    ckpt_path = Path(cfg.out_dir) / CHECKPOINT
    s.to(run.device, run.memory_format)  # before loading, so the optimizers' state lands there too
    if resume and ckpt_path.exists():
        s.load(ckpt_path, cfg)
    world.broadcast(s.model, s.ema)
    sampler = CropSampler(list_images(cfg.train_dirs), cfg.crop, cfg.downscale, cfg.seed + s.step)
    val_sets = validation_sets(cfg.val_dirs, 24, cfg.crop, run.device) if world.is_main else {}
    kodak = list_images([cfg.kodak_dir]) if cfg.kodak_dir and world.is_main else []
    val_levels = harness.check_levels(cfg.model.num_levels)

    # The folder is made only once the data is known to serve.
    with harness.Session(cfg, s, lambda: s.save(ckpt_path, cfg), world) as session:
        session.write(run.describe(cfg))
        last_kodak = time.monotonic()
        while session.running():
            q = draw_level()
            x = run.batch(sampler.batch(cfg.batch, run.share))
            lr = cosine_lr(s.step, session.progress, cfg.lr, cfg.lr_min, cfg.warmup_steps)
            stats = train_step(s, x, q, lr, cfg, run.dtype, world)
            session.stepped(q=q, bpp=f"{stats.bpp_estimate:.3f}", psnr=f"{stats.psnr_db:.2f}", lr=f"{lr:.1e}")
            record = {**stats._asdict(), "q": q, "lr": lr} if s.step % 50 == 0 else {}
            if val_sets and s.step % cfg.val_every == 0:
                record.update(validate_all(s.ema, val_sets, val_levels))
            if kodak and time.monotonic() - last_kodak > cfg.kodak_every_s:
                record.update(kodak_figures(s.ema, kodak, val_levels))
                last_kodak = time.monotonic()
            if record:
                session.write(record)
        final = kodak_figures(s.ema, kodak, list(range(1, cfg.model.num_levels + 1))) if kodak else {}
        session.write({**(validate_all(s.ema, val_sets, val_levels) if s.step % cfg.val_every else {}), **final})
    out_dir = Path(cfg.out_dir) / "export"
    if world.is_main:
        export_run(s, cfg, out_dir, final, world)
    world.leave()
    return out_dir


def export_run(s: State, cfg: TrainConfig, out_dir: Path, kodak: dict[str, float],
               world: distributed.World = distributed.ALONE) -> Path:
    info = {**harness.summary(s, cfg, world), "kodak": kodak}
    weights.export(s.ema.to("cpu", memory_format=torch.contiguous_format), out_dir, {"training": info})
    return out_dir


def export_checkpoint(run_dir: Path, out_dir: Path) -> Path:
    """Export the EMA weights of ``run_dir``'s checkpoint to ``out_dir``."""
    if not (run_dir / CHECKPOINT).is_file():
        raise ValueError(f"{run_dir} holds no {CHECKPOINT}: export takes a stage-1 run folder "
                         "(a gan run writes its weights to its export/ when it ends)")
    ckpt = torch.load(run_dir / CHECKPOINT, weights_only=True)
    config = dict(ckpt["config"])
    if "val_dir" in config:  # runs before 0.8 had one validation folder
        folder = config.pop("val_dir")
        config["val_dirs"] = (folder,) if folder else ()
    cfg = TrainConfig(**{**config, "model": ModelConfig.from_json(config["model"])})
    s = State.create(cfg, None)
    s.load(run_dir / CHECKPOINT, cfg)
    return export_run(s, cfg, out_dir, {})
