"""Controls of the pick & interpolate test, shipped with every result.

- :class:`ExactPickInterpolate`: a tiny hooked network that *is* the algorithm: it
  picks the image at the electrode pixels, undoes the operator's mixing there
  (``O_E⁻¹``, ``O_E`` the operator's rows at the electrode pixels; an electrode rarely
  sits on a pixel centre) to recover the electrode values exactly, and decodes them
  with the topomap operator.  Injection marks never cover an electrode pixel and
  occlusion keeps them, so it is exact on marked or occluded inputs too.  An optional
  invertible ``mix`` (an orthogonal rotation, or any shear) maps the electrode values
  to its latents and back: the same function with another latent basis.
- :func:`untrained_network`: the model's architecture, freshly initialised (seeded).
- :class:`PCABaseline`: the trivial linear baseline: the first ``k`` principal
  components (``k`` = the model's latent size) of the clean training images; its
  latent is the PCA code, read linearly from the input; its output the PCA
  reconstruction.  Every topomap is a linear function of the 32 scaled electrode
  values, so PCA-32 is exact and PCA-``k`` is the best any ``k``-dimensional linear
  code can do.

:func:`control_networks` builds all of them for one loaded model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from eegmi.analysis.inputs import InputSpec, model_data_source, random_mixes, sample_indices
from eegmi.errors import ConfigError
from eegmi.models.adapter import ModelAdapter
from eegmi.models.hooks import HookedModel, HookPoint


def electrode_unmix(operator: Any) -> tuple[np.ndarray, np.ndarray]:
    """Flat pixel index ``(n,)`` of each electrode and ``O_E⁻¹ (n, n)``.

    ``image[electrode pixels] = O_E @ values``, so ``O_E⁻¹ @ image[electrode pixels]``
    is the electrode vector.
    """
    px = np.asarray(operator.electrode_pixels, dtype=np.int64)
    flat = px[:, 0] * int(operator.size) + px[:, 1]
    o_e = np.asarray(operator.matrix, dtype=np.float64)[flat]
    if np.linalg.cond(o_e) > 1e6:
        raise ConfigError("the operator's rows at the electrode pixels are singular: "
                          "electrode values cannot be picked from the image")
    return flat, np.linalg.inv(o_e)


def random_rotation(n: int, seed: int) -> np.ndarray:
    """A random ``(n, n)`` orthogonal matrix (Haar-distributed, seeded)."""
    q, r = np.linalg.qr(np.random.default_rng(seed).normal(size=(n, n)))
    return q * np.sign(np.diag(r))[None, :]


class ExactPickInterpolate(HookedModel):
    """Pick the electrode values from the image, mix them into latents, interpolate.

    ``latent.mu = values @ mixᵀ``; ``out = operator(latent.mu @ mix⁻ᵀ)``.

    Parameters
    ----------
    operator
        The topomap operator (``matrix (H*W, n)``, ``electrode_pixels``, ``size``).
    mix
        ``(n, n)`` invertible latent basis (identity when None).
    input_kind
        ``"image"`` (``(B, 1, H, W)`` input) or ``"values"`` (the electrode vector itself).
    """

    # buffers (declared for the type checker: nn.Module attribute access is untyped)
    pick_idx: torch.Tensor
    unmix: torch.Tensor
    enc: torch.Tensor
    dec: torch.Tensor
    op_t: torch.Tensor

    def __init__(self, operator: Any, mix: np.ndarray | None = None,
                 input_kind: str = "image") -> None:
        super().__init__()
        n = int(np.asarray(operator.matrix).shape[1])
        mix = np.eye(n) if mix is None else np.asarray(mix, dtype=np.float64)
        if mix.shape != (n, n):
            raise ConfigError(f"latent mix must be ({n}, {n}), got {mix.shape}")
        flat, unmix = electrode_unmix(operator)
        self.size = int(operator.size)
        self.input_kind = input_kind
        f32 = torch.float32
        self.register_buffer("pick_idx", torch.as_tensor(flat))
        self.register_buffer("unmix", torch.as_tensor(unmix.T, dtype=f32))
        self.register_buffer("enc", torch.as_tensor(mix.T, dtype=f32))
        self.register_buffer("dec", torch.as_tensor(np.linalg.inv(mix).T, dtype=f32))
        self.register_buffer("op_t", torch.tensor(np.asarray(operator.matrix).T, dtype=f32))
        self.hook_mu = HookPoint("latent.mu")
        self.hook_out = HookPoint("out")

    def example_input(self, batch: int = 1) -> torch.Tensor:
        if self.input_kind == "values":
            return torch.zeros(batch, self.op_t.shape[0], device=self.op_t.device)
        return torch.zeros(batch, 1, self.size, self.size, device=self.op_t.device)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.input_kind == "values":
            values = x
        else:
            values = x.flatten(1)[:, self.pick_idx] @ self.unmix
        mu = self.hook_mu(values @ self.enc)
        img = (mu @ self.dec) @ self.op_t
        return self.hook_out(img.view(x.shape[0], 1, self.size, self.size))


class PCABaseline(HookedModel):
    """PCA-``k`` of the clean training images as a hooked network.

    ``latent.mu = (values - mean) @ proj`` (the PCA code; ``values`` picked from the
    input as in :class:`ExactPickInterpolate`), ``out = mean image + code @ components``.

    Parameters
    ----------
    operator
        The topomap operator.
    train_values
        ``(M, n)`` scaled electrode values of the training frames.
    k
        Number of components (the model's latent size).
    input_kind
        ``"image"`` or ``"values"``.
    """

    # buffers (declared for the type checker: nn.Module attribute access is untyped)
    pick_idx: torch.Tensor
    unmix: torch.Tensor
    mean: torch.Tensor
    proj: torch.Tensor
    mean_img: torch.Tensor
    components: torch.Tensor

    def __init__(self, operator: Any, train_values: np.ndarray, k: int,
                 input_kind: str = "image") -> None:
        super().__init__()
        o = np.asarray(operator.matrix, dtype=np.float64)  # (P, n)
        n = o.shape[1]
        x = np.asarray(train_values, dtype=np.float64)
        if not 1 <= k <= n or x.shape[0] <= k:
            raise ConfigError(f"PCA baseline needs 1 <= k <= {n} and more than k training "
                              f"frames, got k={k} and {x.shape[0]} frames")
        # clean images are x @ oᵀ: PCA in pixel space through a QR of the operator,
        # never an SVD of the (M, H*W) image matrix
        q, r = np.linalg.qr(o)
        mean = x.mean(axis=0)
        _, _, wt = np.linalg.svd((x - mean) @ r.T, full_matrices=False)
        w = wt[:k].T  # (n, k)
        components = q @ w  # (P, k) orthonormal pixel-space components
        flat, unmix = electrode_unmix(operator)
        self.size = int(operator.size)
        self.input_kind = input_kind
        f32 = torch.float32
        self.register_buffer("pick_idx", torch.as_tensor(flat))
        self.register_buffer("unmix", torch.as_tensor(unmix.T, dtype=f32))
        self.register_buffer("mean", torch.as_tensor(mean, dtype=f32))
        self.register_buffer("proj", torch.as_tensor(r.T @ w, dtype=f32))  # (n, k)
        self.register_buffer("mean_img", torch.as_tensor(o @ mean, dtype=f32))
        self.register_buffer("components", torch.as_tensor(components.T, dtype=f32))  # (k, P)
        self.hook_mu = HookPoint("latent.mu")
        self.hook_out = HookPoint("out")

    def example_input(self, batch: int = 1) -> torch.Tensor:
        if self.input_kind == "values":
            return torch.zeros(batch, self.mean.shape[0], device=self.mean.device)
        return torch.zeros(batch, 1, self.size, self.size, device=self.mean.device)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        values = x if self.input_kind == "values" else x.flatten(1)[:, self.pick_idx] @ self.unmix
        mu = self.hook_mu((values - self.mean) @ self.proj)
        img = self.mean_img + mu @ self.components
        return self.hook_out(img.view(x.shape[0], 1, self.size, self.size))


def untrained_network(config: Any, seed: int, device: Any = "cpu") -> HookedModel:
    """The architecture of ``config`` (a ModelConfig), freshly initialised with ``seed``."""
    from eegmi.models.vae import build_model

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = build_model(config)
    return model.to(device).eval()


def training_values(loaded: Any, spec: InputSpec, count: int = 2048) -> tuple[np.ndarray, str]:
    """Scaled electrode values to fit the PCA baseline on, and where they came from.

    The model's training split when its card records one for the data the inputs
    come from; i.i.d. random mixes (seed + 1, disjoint from the inputs' seed) for
    random inputs; otherwise every frame of the input recording (said so).

    Returns
    -------
    values ``(M, n)`` float32, description
    """
    n = int(loaded.operator.montage.n_channels)
    if spec.kind == "random":
        return random_mixes(n, count, spec.seed + 1), f"{count} random mixes (seed {spec.seed + 1})"
    from eegmi.data.loaders import load_dataset

    source = model_data_source(loaded)
    data_spec = spec.data or source
    if not data_spec:
        raise ConfigError("the PCA baseline needs training frames: the model card names no "
                          "dataset, give one (--data) or use random inputs")
    data = load_dataset(data_spec, montage=loaded.operator.montage)
    pool, where = np.arange(data.values.shape[0]), f"all frames of {data_spec} (no recorded split)"
    exp = (getattr(loaded, "meta", {}) or {}).get("experiment")
    if exp and source is not None and str(data_spec) == str(source):
        from eegmi.data.dataset import split_frames
        from eegmi.training.experiments import ExperimentConfig
        from eegmi.training.prepare import _subsample

        d = ExperimentConfig.from_dict(exp).data
        split = split_frames(data, by=d.split_by, fractions=tuple(d.fractions), seed=d.split_seed)
        split = _subsample(split, d.max_frames, d.split_seed)
        if len(split.train) > 0:
            pool, where = np.asarray(split.train), f"training split of {data_spec}"
    take = sample_indices(pool, count, [spec.seed, 11])
    vals = np.asarray(loaded.scaler.transform(np.asarray(data.values[take], np.float32)), np.float32)
    return vals, f"{len(take)} frames, {where}"


@dataclass
class Control:
    """One control network with the pipeline that feeds it.

    Attributes
    ----------
    role
        ``"exact"``, ``"rotated"``, ``"untrained"`` or ``"pca"``.
    label
        Short display name.
    description
        One line saying what it is.
    """

    role: str
    label: str
    description: str
    model: Any
    pipeline: ModelAdapter


def control_networks(loaded: Any, pipeline: ModelAdapter, spec: InputSpec,
                     pca_frames: int = 2048) -> list[Control]:
    """The four controls for one loaded model (seeded by ``spec.seed``).

    The exact and rotated networks take images; for a decoder-only model (whose input
    is the electrode vector) they are fed the clean rendered image.
    """
    from eegmi.devices import model_device

    op = pipeline.operator
    n = pipeline.n_electrodes
    device = model_device(loaded.model)
    # the exact networks read images: a vector-input model's controls get the clean image
    image_pipe = ModelAdapter("vae", op, None) if pipeline.takes_values else pipeline
    kind = pipeline.input_kind
    k = int(loaded.config.latent_dim)
    train, where = training_values(loaded, spec, pca_frames)
    return [
        Control("exact", "exact P&I", "exact pick & interpolate network (electrode pixels, "
                "operator⁻¹ there, operator decoder)",
                ExactPickInterpolate(op).to(device).eval(), image_pipe),
        Control("rotated", "rotated P&I", f"the exact network with latents rotated by a random "
                f"orthogonal {n}x{n} matrix (seed {spec.seed})",
                ExactPickInterpolate(op, random_rotation(n, spec.seed)).to(device).eval(),
                image_pipe),
        Control("untrained", "untrained", f"the model's architecture, untrained (seed {spec.seed})",
                untrained_network(loaded.config, spec.seed, device), pipeline),
        Control("pca", f"PCA-{k}", f"PCA-{k} of the clean training images ({where})",
                PCABaseline(op, train, k, input_kind=kind).to(device).eval(), pipeline),
    ]
