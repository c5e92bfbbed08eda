"""The model: the analysis transform, the latent codec and the two decoders.

Dataflow (the latent codec, :mod:`codec.latent`, holds the hyperprior, the context and the
per-level gains)::

    x -> g_a -> y -> [LatentCodec, level q] -> y_hat -> g_s -> x_hat
                       (strings in a file)           (or g_s_gan, the GAN decoder)

``g_a`` is the contractive analysis transform (trained with a penalty on its Jacobian), ``g_s``
the fidelity decoder and ``g_s_gan`` the GAN-trained one; both decoders read the same latents.
Coding images of any size, in windows and tiles, is :mod:`codec.coding`'s.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Mapping
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from codec.config import ModelConfig
from codec.entropy import resize_table_buffers
from codec.latent import LatentCodec
from codec.nn.transforms import Analysis, Synthesis, embed, widened

# Where the latent codec's parameters sat before it had a module of its own (weights of 0.8
# and earlier): their keys gain the ``latent.`` prefix on loading.
_LATENT_KEYS = ("h_a.", "h_s.", "context.", "log_gain", "log_inv_gain", "entropy_bottleneck.", "gaussian_conditional.")


class ForwardOutput(NamedTuple):
    x_hat: Tensor
    y_likelihoods: Tensor
    z_likelihoods: Tensor


class AecModel(nn.Module):
    """``g_a``, the latent codec and the decoders, and the surgery that grows trained weights
    (checkerboard context, wider transforms or latent, a GAN decoder) without changing what
    they decode until training uses it."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        m = config.latent_channels
        self.config = config
        self.g_a = Analysis(config.encoder_channels, m)
        self.g_s = Synthesis(config.decoder_channels, m)
        self.g_s_gan = Synthesis(config.decoder_channels, m) if config.gan_decoder else None
        self.latent = LatentCodec(config.channels, m, config.lambdas, config.checkerboard)

    def load_state_dict(self, state_dict: Mapping[str, Any], strict: bool = True, assign: bool = False) -> Any:
        """As nn.Module's, but frozen entropy tables (exported weights, or a checkpoint of a run
        started from them) are taken at their saved shapes, and the flat keys of older weights
        are mapped into the latent codec."""
        state = {("latent." + k if k.startswith(_LATENT_KEYS) else k): v for k, v in state_dict.items()}
        resize_table_buffers(self, state)
        return super().load_state_dict(state, strict, assign)

    def forward(self, x: Tensor, level: int) -> ForwardOutput:
        y_hat, y_likelihoods, z_likelihoods = self.latent(self.g_a(x), level)
        return ForwardOutput(self.g_s(y_hat), y_likelihoods, z_likelihoods)

    def decoder(self, realism: float) -> nn.Module:
        """The fidelity decoder (realism 0), the GAN decoder (1), or, in between, a decoder whose
        weights are interpolated between the two. The GAN decoder is fine-tuned from the fidelity
        one, so the straight path between their weights gives images in between (network
        interpolation, as in ESRGAN)."""
        if realism == 0:
            return self.g_s
        if self.g_s_gan is None:
            raise ValueError("these weights have no GAN decoder")
        if realism == 1:
            return self.g_s_gan
        blend = copy.deepcopy(self.g_s)
        gan = self.g_s_gan.state_dict()
        blend.load_state_dict({k: torch.lerp(v, gan[k], realism) if v.is_floating_point() else v
                               for k, v in self.g_s.state_dict().items()})
        return blend

    def bitstream_hash(self) -> bytes:
        """What every file coded with these weights records: the latent codec's fingerprint.
        The decoders are outside it, since both read the same files."""
        return self.latent.bitstream_hash()

    def add_checkerboard(self) -> None:
        self.latent.add_checkerboard()
        if not self.config.checkerboard:
            self.config = self.config.with_checkerboard()

    def add_gan_decoder(self, restart: bool = False) -> None:
        """Give the model a second synthesis transform, starting as a copy of the fidelity one;
        ``restart`` replaces the one it has. Blending the two decoders (:meth:`decoder`) needs
        the GAN decoder to descend from the fidelity decoder it is blended with: restart after
        stage 1 has moved the fidelity decoder."""
        if self.g_s_gan is None or restart:
            self.g_s_gan = copy.deepcopy(self.g_s)
            self.config = dataclasses.replace(self.config, gan_decoder=True)

    def add_lower_levels(self, lambdas: tuple[float, ...]) -> None:
        """Quality levels below the lowest, for lower rates: ``lambdas`` are the model's own with
        more in front. The old levels move up by as many; files of the old weights keep decoding
        with those weights (training gives these new tables, a new bitstream hash)."""
        k = len(lambdas) - self.config.num_levels
        if k < 0 or tuple(lambdas[k:]) != self.config.lambdas:
            raise ValueError(f"levels {lambdas} do not extend these weights' {self.config.lambdas} downwards")
        if k:
            self.latent.add_lower_levels(k)
            self.config = dataclasses.replace(self.config, lambdas=tuple(lambdas))

    def widen_transforms(self, analysis: int, synthesis: int) -> None:
        """Give the encoder and the decoders these widths. The model codes and decodes exactly as
        before until training uses the new channels; the entropy model and the bitstream stay."""
        m, before = self.config.latent_channels, (self.config.encoder_channels, self.config.decoder_channels)
        for name, had, wanted in zip(("analysis", "synthesis"), before, (analysis, synthesis)):
            if wanted < had:
                raise ValueError(f"the {name} transform has {had} channels already; it cannot shrink to {wanted}")
        if analysis != before[0]:
            self.g_a = widened(self.g_a, Analysis(analysis, m))
        if synthesis != before[1]:
            self.g_s = widened(self.g_s, Synthesis(synthesis, m))
            if self.g_s_gan is not None:
                self.g_s_gan = widened(self.g_s_gan, Synthesis(synthesis, m))
        self.config = dataclasses.replace(self.config, analysis_channels=analysis, synthesis_channels=synthesis)

    def widen_latent(self, m: int) -> None:
        """Give the latent ``m`` channels. The new ones start at zero (:meth:`LatentCodec.widen`)
        and the decoders read them with random weights, so training can put them to use; until
        it does, the model decodes the same images."""
        old = self.config.latent_channels
        if m == old:
            return
        if m < old:
            raise ValueError(f"the latent has {old} channels already; it cannot shrink to {m}")
        self.g_a[-1] = embed(self.g_a[-1], Analysis(self.config.encoder_channels, m)[-1], zero_new_outputs=True)
        for g_s in (self.g_s, self.g_s_gan):
            if g_s is not None:
                g_s[0] = embed(g_s[0], Synthesis(self.config.decoder_channels, m)[0], zero_new_inputs=False)
        self.latent.widen(m, self.config.lambdas)
        self.config = dataclasses.replace(self.config, latent_channels=m)
