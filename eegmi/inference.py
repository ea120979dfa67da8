"""Single-sample model calls for interactive views (Qt-free).

Everything the GUI shows about one input goes through :class:`Inference`:
electrode vector -> clean topomap -> injected model input -> model (with every
hook point cached) -> reconstruction and its error.  The GUI only calls these
functions inside jobs on its model worker thread, so torch is never touched by
the GUI thread.  Without a model, :func:`preview` gives the input side only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from eegmi.errors import CheckpointError, DataError
from eegmi.models.adapter import adapt, injection_for, recon_of


@dataclass
class ForwardResult:
    """One input pushed through the operator, the injection layer and the model.

    Attributes
    ----------
    values : (n,) float32 or None
        Scaled electrode vector (None for image inputs).
    image : (H, W) float32
        Clean topomap of ``values``.
    model_input : (H, W) float32
        The image after the injection layer (marks / occlusion), as the model sees it.
    activations : dict[str, ndarray]
        Per-sample activation of every hook point, e.g. ``enc.act1`` -> (32, 20, 20),
        ``latent.mu`` -> (d,).  Empty without a model.
    recon : (H, W) float32 or None
        The model output (None without a model).
    mu, logvar : (d,) float32 or None
        Latent mean / log-variance of a VAE (None for decoder-only models).
    mse, ssim : float
        Error of ``recon`` against ``image`` inside the head disc (NaN without a model).
    """

    values: np.ndarray | None
    image: np.ndarray
    model_input: np.ndarray
    activations: dict[str, np.ndarray] = field(default_factory=dict)
    recon: np.ndarray | None = None
    mu: np.ndarray | None = None
    logvar: np.ndarray | None = None
    mse: float = math.nan
    ssim: float = math.nan


@dataclass
class DecodeResult:
    """A latent vector pushed through the decoder.

    Attributes
    ----------
    z : (d,) float32
    recon : (H, W) float32
    activations : dict[str, ndarray]
        Per-sample activation of each decoder hook point (``dec.*``, ``out``).
    """

    z: np.ndarray
    recon: np.ndarray
    activations: dict[str, np.ndarray] = field(default_factory=dict)




def configure_worker_threads(cpu_count: int | None = None) -> int:
    """Give torch every core but one, leaving that one to the GUI thread.

    Interactive forward passes are single small samples: a second OpenMP thread
    gains little, and when it takes the core the GUI thread needs to repaint, a
    click waits for the scheduler (measured on 2 cores: 335 ms per click with two
    torch threads against 53 ms with one). Called on the model worker at start;
    returns the thread count set.  Without ``cpu_count`` it also counts only the
    cores that other processes leave idle (:func:`eegmi.devices.choose_threads`).
    """
    if cpu_count is not None:
        n = max(1, cpu_count - 1)
    else:
        # never more than the cores left idle by other processes (or $EEGMI_THREADS)
        from eegmi.devices import choose_threads, cpu_threads

        cores = cpu_threads()
        n = max(1, min(cores - 1, choose_threads(cores=cores)))
    torch.set_num_threads(n)
    return n


def _ssim(a: np.ndarray, b: np.ndarray) -> float:
    """SSIM of two (H, W) images in [0, 1], data range 1 (as the training metrics)."""
    from skimage.metrics import structural_similarity

    return float(structural_similarity(a, b, data_range=1.0))


def preview(operator: Any, values: np.ndarray, injection_config: Any = None) -> ForwardResult:
    """The input side of a forward pass without a model.

    Parameters
    ----------
    operator : TopomapOperator
    values : (n,) scaled electrode vector
    injection_config : InjectionConfig or None
    """
    values = np.asarray(values, dtype=np.float32).reshape(-1)
    image = operator.render(values).astype(np.float32)
    inj = injection_for(operator, injection_config)
    model_input = image if inj is None else np.asarray(inj.apply_np(image), dtype=np.float32)
    return ForwardResult(values=values, image=image, model_input=model_input)


class Inference:
    """Run one loaded model on single inputs, caching every hook point.

    Parameters
    ----------
    loaded_model : LoadedModel
        From :func:`eegmi.training.checkpoint.load_checkpoint`.
    operator : TopomapOperator or None
        Electrodes -> image operator; defaults to ``loaded_model.operator``.
    device : str
        Torch device the model lives on.
    """

    def __init__(self, loaded_model: Any, operator: Any = None, device: str = "cpu") -> None:
        self.loaded = loaded_model
        self.model = loaded_model.model
        self.operator = operator if operator is not None else loaded_model.operator
        self.device = torch.device(device)
        self.model.to(self.device).eval()
        self.adapter = adapt(loaded_model, self.operator)
        self.kind = self.adapter.kind
        self.injection = self.adapter.injection
        n = self.operator.montage.n_channels
        if int(getattr(loaded_model.config, "n_electrodes", n)) != n:
            raise CheckpointError(
                f"model expects {loaded_model.config.n_electrodes} electrodes, operator has {n}")
        self._names = list(self.model.hook_names())
        self._mask = np.asarray(self.operator.head_mask, dtype=bool)

    @property
    def latent_dim(self) -> int:
        """Size of the latent vector the decoder takes."""
        return int(self.loaded.config.latent_dim)

    def hook_names(self) -> list[str]:
        """Every hook point name, in forward order."""
        return list(self._names)

    def _check(self, values: np.ndarray) -> np.ndarray:
        arr = np.asarray(values, dtype=np.float32)
        n = self.operator.montage.n_channels
        if arr.shape[-1] != n or not np.all(np.isfinite(arr)):
            raise DataError(f"input must be finite with {n} electrodes, got shape {arr.shape}")
        return arr

    @torch.no_grad()
    def _run(self, values: np.ndarray) -> list[ForwardResult]:
        vals = torch.from_numpy(values).to(self.device)
        clean = self.operator.render_torch(vals)  # (B, 1, H, W)
        model_in = self.injection.apply(clean) if self.injection is not None else clean
        x = vals if self.adapter.takes_values else model_in
        if x.ndim == 4 and x.device.type == "cpu":
            # channels-last images take oneDNN's faster convolutions on CPU (the model's
            # forward pass about 15 % faster for one sample; results equal to ~1e-7),
            # and the model itself is left as it is
            x = x.contiguous(memory_format=torch.channels_last)
        out, cache = self.model.run_with_cache(x, self._names)
        recon = recon_of(out).detach().float().cpu().contiguous().numpy()[:, 0]
        image = clean.float().cpu().numpy()[:, 0]
        minput = model_in.float().cpu().numpy()[:, 0]
        acts = {k: v.detach().float().cpu().contiguous().numpy() for k, v in cache.items()}
        results = []
        for b in range(values.shape[0]):
            per = {k: v[b] for k, v in acts.items()}
            diff = (recon[b] - image[b])[self._mask]
            results.append(ForwardResult(
                values=values[b].copy(), image=image[b], model_input=minput[b],
                activations=per, recon=recon[b],
                mu=per.get("latent.mu") if self.adapter.has_variance else None,
                logvar=per.get("latent.logvar") if self.adapter.has_variance else None,
                mse=float(np.mean(diff ** 2)),
                ssim=_ssim(np.clip(image[b], 0, 1), np.clip(recon[b], 0, 1)),
            ))
        return results

    def forward_values(self, values: np.ndarray) -> ForwardResult:
        """Forward one scaled electrode vector ``values (n,)``."""
        arr = self._check(values).reshape(1, -1)
        return self._run(arr)[0]

    def forward_values_batch(self, values: np.ndarray, batch_size: int = 256) -> list[ForwardResult]:
        """Forward a batch ``values (B, n)``; one :class:`ForwardResult` per row."""
        arr = self._check(values)
        if arr.ndim != 2:
            raise DataError(f"batch must be (B, n), got shape {arr.shape}")
        out: list[ForwardResult] = []
        for start in range(0, arr.shape[0], batch_size):
            out.extend(self._run(arr[start:start + batch_size]))
        return out

    @torch.no_grad()
    def decode(self, z: np.ndarray) -> DecodeResult:
        """Drive the decoder with ``z (d,)``; returns the image and decoder activations."""
        z = np.asarray(z, dtype=np.float32).reshape(-1)
        if z.shape[0] != self.latent_dim or not np.all(np.isfinite(z)):
            raise DataError(f"latent vector must be finite with {self.latent_dim} values, got {z.shape}")
        zt = torch.from_numpy(z).to(self.device)[None]
        with self.adapter.capture(self.adapter.decoder_hooks()) as cache:
            recon_t = recon_of(self.adapter.decode(zt))
        acts = {k: v.float().cpu().numpy()[0] for k, v in cache.items()}
        return DecodeResult(z=z, recon=recon_t.float().cpu().numpy()[0, 0], activations=acts)
