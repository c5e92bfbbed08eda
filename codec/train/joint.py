"""Stage 3, the seed's joint step: the whole codec and the GAN decoder trained together.

Stage 1 trains the codec for rate and distortion, stage 2 the GAN decoder on its frozen latent.
Here, from weights that have both, every part learns at once: the analysis transform, the
hyperprior and entropy models, the fidelity decoder and the GAN decoder, on the sum of stage
1's loss (``lambda * 255^2 * MSE + bpp + w * ||J_a||_F^2``) and stage 2's generator loss on the
GAN decoder's output, whose gradient now also reaches the encoder through the quantized latent
(straight-through). The discriminator learns beside it as in stage 2; it sees the latent only
as a condition, so the encoder is not trained to fool it through that input. The moving
average of the weights is exported with new frozen tables: a new bitstream hash, so a new
release, and files of the old weights decode only with the old weights.

::

    x -> g_a -> y -> [latent codec: gain, hyperprior, noise/round] -> y_hat -+-> g_s -----> x_hat  (rate-distortion)
                                                    \\-> rate (bpp)         \\-> g_s_gan -> x_gan  (generator loss, D)
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch

from codec import entropy, weights
from codec.config import JointConfig
from codec.losses import contractive_penalty, psnr_db, rate_distortion
from codec.model import AecModel, ForwardOutput
from codec.nn.discriminator import Discriminator
from codec.perceptual import STLPIPS
from codec.train import checkpoint, distributed, gan, harness, loop, precision
from codec.train.data import CropSampler, list_images, validation_sets

CHECKPOINT = "joint_checkpoint.pt"


@dataclass
class JointState:
    model: AecModel
    ema: AecModel
    disc: Discriminator
    opt: torch.optim.Optimizer  # every parameter but the entropy bottleneck's quantiles
    aux_opt: torch.optim.Optimizer  # the quantiles, as in stage 1
    d_opt: torch.optim.Optimizer
    step: int = 0
    elapsed_s: float = 0.0

    @classmethod
    def create(cls, cfg: JointConfig, init: Path) -> JointState:
        model = weights.load(init).train()
        if model.g_s_gan is None:
            raise ValueError(f"{init} has no GAN decoder: --stage joint starts from the weights of a gan stage")
        disc = Discriminator(model.config.latent_channels)
        main = [p for n, p in model.named_parameters() if not n.endswith("quantiles")]
        aux = [p for n, p in model.named_parameters() if n.endswith("quantiles")]
        return cls(model, copy.deepcopy(model), disc, torch.optim.Adam(main, lr=cfg.g_lr),
                   torch.optim.Adam(aux, lr=cfg.aux_lr), torch.optim.Adam(disc.parameters(), lr=cfg.d_lr))

    def parts(self) -> dict[str, checkpoint.Stateful]:
        return {"model": self.model, "ema": self.ema, "disc": self.disc, "opt": self.opt, "aux_opt": self.aux_opt,
                "d_opt": self.d_opt}

    def to(self, device: torch.device, memory_format: torch.memory_format) -> None:
        for m in (self.model, self.ema, self.disc):
            m.to(device, memory_format=memory_format)


def joint_step(s: JointState, x: torch.Tensor, q: int, lr: float, cfg: JointConfig, lpips: STLPIPS,
               dtype: str = "fp32", world: distributed.World = distributed.ALONE) -> dict[str, float]:
    """One step of everything but the discriminator, then one of the discriminator. As stage 1's
    step (:func:`codec.train.loop.train_step`): the transforms at ``dtype``, the losses in float32,
    the training noise per crop, the contractive term by the process with the first crop."""
    for opt, rate in ((s.opt, lr), (s.d_opt, lr * cfg.d_lr / cfg.g_lr)):
        for g in opt.param_groups:
            g["lr"] = rate
    crops = world.share(x.shape[0] * world.size)
    with precision.autocast(dtype, x.device), entropy.training_noise([loop.noise_seed(cfg.seed, s.step, k) for k in crops]):
        y = s.model.g_a(x)
        y_hat, y_likelihoods, z_likelihoods = s.model.latent(y, q)
        x_hat = s.model.g_s(y_hat)
        x_fake = s.model.g_s_gan(y_hat).float()
        terms = (gan.generator_terms(s.disc, lpips, cfg, x_fake, x, y_hat.detach(),
                                     cfg.adversarial_at(q, s.model.config.num_levels))
                 if gan.generator_trains(s.step, cfg) else {})
    rd = rate_distortion(ForwardOutput(x_hat.float(), y_likelihoods, z_likelihoods), x, s.model.config.lambdas[q - 1])
    loss = rd.loss + sum(terms.values())
    penalty = torch.zeros(())
    if crops.start == 0:
        y1 = y[:1] if dtype == "fp32" else s.model.g_a(x[:1])
        penalty = contractive_penalty(s.model.g_a, x[:1], y1, cfg.contractive_eps)
        loss = loss + cfg.contractive_weight * world.size * penalty
    gan.check_finite(loss, "joint", s.step)
    s.opt.zero_grad(set_to_none=True)
    loss.backward()
    params = s.opt.param_groups[0]["params"]
    world.average_gradients(params)
    torch.nn.utils.clip_grad_norm_(params, cfg.clip)
    s.opt.step()
    s.aux_opt.zero_grad(set_to_none=True)
    s.model.latent.aux_loss().backward()
    world.average_gradients(s.aux_opt.param_groups[0]["params"])
    s.aux_opt.step()
    d_loss = gan.discriminator_step(s.disc, s.d_opt, x, x_fake.detach(), y_hat.detach(), world, s.step)
    loop.update_ema(s.ema, s.model, s.step, cfg.ema_decay)
    s.step += 1
    return {"loss": float(loss.detach()), "bpp_estimate": float(rd.bpp_estimate.detach()),
            "psnr_db": psnr_db(float(rd.mse.detach())), "jacobian": float(penalty.detach()),
            **{k: float(v.detach()) for k, v in terms.items()}, "d_loss": d_loss}


def train_joint(cfg: JointConfig, init: Path, resume: bool = False) -> Path:
    """Run stage 3 on top of ``init`` (which has a GAN decoder) and export the moving average
    with new tables to ``out_dir/export``; returns that folder."""
    run = harness.Run(cfg)
    world = run.world
    cfg = replace(cfg, precision=run.dtype)
    s = JointState.create(cfg, init)
    ckpt_path = Path(cfg.out_dir) / CHECKPOINT
    s.to(run.device, run.memory_format)
    if resume and ckpt_path.exists():
        s.step, s.elapsed_s = checkpoint.load(ckpt_path, s.parts())
    elif cfg.discriminator_from:
        gan.load_discriminator(s.disc, Path(cfg.discriminator_from) / gan.CHECKPOINT)
    world.broadcast(s.model, s.ema, s.disc)
    lpips = STLPIPS("alex").to(run.device)
    sampler = CropSampler(list_images(cfg.train_dirs), cfg.crop, cfg.downscale, cfg.seed + s.step)
    val_sets = validation_sets(cfg.val_dirs, 12, 2 * cfg.crop, run.device) if world.is_main else {}
    draw_level = harness.level_drawer(cfg.level_weights, s.model.config.num_levels)
    check_levels = harness.check_levels(s.model.config.num_levels)

    def validate_all() -> dict[str, float]:
        out = {}
        for prefix, x in val_sets.items():
            out.update({f"{prefix}{k}": v for k, v in loop.validate(s.ema, x, check_levels).items()})
            out.update({f"{prefix}gan_{k}": v for k, v in gan.validate(s.ema, x, 1.0, lpips).items()})
        return out

    save = lambda: checkpoint.save(ckpt_path, s.parts(), s.step, s.elapsed_s, asdict(cfg))  # noqa: E731
    with harness.Session(cfg, s, save, world) as session:
        session.write({**run.describe(cfg), **(validate_all() if s.step == 0 else {})})
        gan.run_steps(session, s, cfg, draw_level, lambda: run.batch(sampler.batch(cfg.batch, run.share)),
                      lambda x, q, lr: joint_step(s, x, q, lr, cfg, lpips, run.dtype, world),
                      validate_all, shown=("loss", "d_loss"))
    out_dir = Path(cfg.out_dir) / "export"
    if world.is_main:
        previous = weights.training_records(init)
        weights.export(s.ema.to("cpu", memory_format=torch.contiguous_format), out_dir,
                       {**previous, "joint_training": harness.summary(s, cfg, world)})
    world.leave()
    return out_dir
