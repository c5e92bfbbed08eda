"""The rate-distortion training loop (stage 1), small enough to read at once.

Recipe, chosen for two CPU cores (see ``shared/TRAINING.md``): Adam with a linear warm-up and a
cosine decay tied to the run's budget (steps or wall time, whichever ends first), 256x256 crops
so the hyperprior sees more than a 2x2 latent, a random quality level per batch, gradient clipping,
and an exponential moving average of the weights, which is what gets evaluated and exported.
"""

from __future__ import annotations

import copy
import json
import math
import random
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

from codec import weights
from codec.config import ModelConfig, TrainConfig
from codec.entropy import freeze_tables
from codec.losses import contractive_penalty, psnr_db, rate_distortion
from codec.model import AecModel, pad, unpad
from codec.train.data import CropSampler, center_crops, list_images

CHECKPOINT = "checkpoint.pt"


def lr_at(cfg: TrainConfig, step: int, progress: float) -> float:
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    return cfg.lr_min + 0.5 * (cfg.lr - cfg.lr_min) * (1 + math.cos(math.pi * min(progress, 1.0)))


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


def kodak_figures(model: AecModel, files: list[Path], levels: list[int]) -> dict[str, float]:
    """Real coded bytes and PSNR of 8-bit output, for a frozen-table copy of ``model``."""
    coder = copy.deepcopy(model).eval()
    freeze_tables(coder)
    out: dict[str, float] = {}
    for q in levels:
        bpps, psnrs = [], []
        for f in files:
            x = torch.from_numpy(np.asarray(Image.open(f).convert("RGB"))).permute(2, 0, 1)[None].float() / 255
            xp, size = pad(x)
            c = coder.compress(xp, q)
            x_hat = unpad(coder.decompress(c, q), size)
            mse = float(((x_hat * 255).round() / 255 - x).pow(2).mean())
            bpps.append(8 * (len(c.y_string) + len(c.z_string)) / (size[0] * size[1]))
            psnrs.append(psnr_db(mse))
        out[f"kodak_q{q}_bpp"] = float(np.mean(bpps))
        out[f"kodak_q{q}_psnr_db"] = float(np.mean(psnrs))
    return out


def save_checkpoint(path: Path, model, ema, opt, aux_opt, step: int, elapsed: float, cfg: TrainConfig) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save(
        {"model": model.state_dict(), "ema": ema.state_dict(), "opt": opt.state_dict(),
         "aux_opt": aux_opt.state_dict(), "step": step, "elapsed": elapsed, "config": asdict(cfg)},
        tmp,
    )
    tmp.replace(path)


def train(cfg: TrainConfig, init: Path | None = None, resume: bool = False) -> Path:
    """Run stage 1 and export the EMA weights to ``out_dir/export``; returns that folder."""
    torch.manual_seed(cfg.seed)
    random.seed(cfg.seed)
    torch.set_num_threads(cfg.threads)
    out_dir = Path(cfg.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    log = (out_dir / "log.jsonl").open("a")

    model = weights.load(init) if init else AecModel(cfg.model)
    model.train()
    ema = copy.deepcopy(model)
    main_params = [p for n, p in model.named_parameters() if not n.endswith("quantiles")]
    aux_params = [p for n, p in model.named_parameters() if n.endswith("quantiles")]
    opt = torch.optim.Adam(main_params, lr=cfg.lr)
    aux_opt = torch.optim.Adam(aux_params, lr=cfg.aux_lr)
    step, elapsed0 = 0, 0.0
    ckpt_path = out_dir / CHECKPOINT
    if resume and ckpt_path.exists():
        ckpt = torch.load(ckpt_path, weights_only=True)
        model.load_state_dict(ckpt["model"])
        ema.load_state_dict(ckpt["ema"])
        opt.load_state_dict(ckpt["opt"])
        aux_opt.load_state_dict(ckpt["aux_opt"])
        step, elapsed0 = ckpt["step"], ckpt["elapsed"]

    sampler = CropSampler(list_images(cfg.train_dirs), cfg.crop, cfg.downscale, cfg.seed + step)
    val_x = center_crops(list_images([cfg.val_dir])[:24], cfg.crop) if cfg.val_dir else None
    kodak = list_images([cfg.kodak_dir]) if cfg.kodak_dir else []
    levels = list(range(1, cfg.model.num_levels + 1))
    check_levels = [levels[1], levels[len(levels) // 2], levels[-1]]
    print(f"training on {len(sampler)} images, {sum(p.numel() for p in main_params)} parameters", flush=True)

    t0 = time.monotonic() - elapsed0
    last_ckpt = last_kodak = time.monotonic()
    bar = tqdm(total=cfg.max_steps, initial=step, dynamic_ncols=True, mininterval=5)
    while (progress := max(step / cfg.max_steps, (time.monotonic() - t0) / cfg.time_budget_s)) < 1.0:
        lr = lr_at(cfg, step, progress)
        for g in opt.param_groups:
            g["lr"] = lr
        q = random.choice(levels)
        x = sampler.batch(cfg.batch)

        y = model.g_a(x)
        out = model.forward_from_y(y, q)
        rd = rate_distortion(out, x, cfg.model.lambdas[q - 1])
        penalty = contractive_penalty(model.g_a, x[:1], y[:1], cfg.contractive_eps)
        loss = rd.loss + cfg.contractive_weight * penalty
        if not torch.isfinite(loss):
            raise FloatingPointError(f"loss is {float(loss)} at step {step}; lower --lr")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(main_params, cfg.clip)
        opt.step()
        aux_opt.zero_grad(set_to_none=True)
        model.aux_loss().backward()
        aux_opt.step()
        update_ema(ema, model, step, cfg.ema_decay)
        step += 1
        loss, penalty, bpp, mse = (t.detach() for t in (loss, penalty, rd.bpp_estimate, rd.mse))
        bar.update(1)
        bar.set_postfix(q=q, loss=f"{float(loss):.3f}", bpp=f"{float(bpp):.3f}",
                        psnr=f"{psnr_db(float(mse)):.2f}", lr=f"{lr:.1e}", refresh=False)

        record = {}
        if step % 50 == 0:
            record.update(loss=float(loss), bpp_estimate=float(bpp),
                          psnr_db=psnr_db(float(mse)), q=q, jacobian=float(penalty), lr=lr)
        if val_x is not None and step % cfg.val_every == 0:
            record.update({f"val_{k}": v for k, v in validate(ema, val_x, check_levels).items()})
        if kodak and time.monotonic() - last_kodak > cfg.kodak_every_s:
            record.update(kodak_figures(ema, kodak, check_levels))
            last_kodak = time.monotonic()
        if record:
            record.update(step=step, elapsed_s=round(time.monotonic() - t0, 1))
            log.write(json.dumps(record) + "\n")
            log.flush()
        if time.monotonic() - last_ckpt > cfg.ckpt_every_s:
            save_checkpoint(ckpt_path, model, ema, opt, aux_opt, step, time.monotonic() - t0, cfg)
            last_ckpt = time.monotonic()
    bar.close()
    save_checkpoint(ckpt_path, model, ema, opt, aux_opt, step, time.monotonic() - t0, cfg)
    final = kodak_figures(ema, kodak, levels) if kodak else {}
    log.write(json.dumps({"step": step, "elapsed_s": round(time.monotonic() - t0, 1), **final}) + "\n")
    log.close()
    export_dir = out_dir / "export"
    weights.export(ema, export_dir, {"training": {"steps": step, "cpu_hours": round(
        (time.monotonic() - t0) * cfg.threads / 3600, 2), "config": asdict(cfg), "kodak": final}})
    return export_dir


def export_checkpoint(run_dir: Path, out_dir: Path) -> Path:
    """Export the EMA weights of ``run_dir``'s checkpoint to ``out_dir``."""
    ckpt = torch.load(run_dir / CHECKPOINT, weights_only=True)
    model_cfg = ModelConfig.from_json(ckpt["config"]["model"])
    model = AecModel(model_cfg)
    model.load_state_dict(ckpt["ema"])
    hours = ckpt["elapsed"] * ckpt["config"]["threads"] / 3600
    weights.export(model, out_dir, {"training": {"steps": ckpt["step"], "cpu_hours": round(hours, 2), "config": ckpt["config"]}})
    return out_dir
