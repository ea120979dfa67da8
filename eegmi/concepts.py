"""What every non-obvious number of the workbench means, written once.

Each :class:`Concept` has a ``short`` text (the tooltip wherever the quantity is shown)
and a ``long`` text (Help › Concepts and ``eegmi concepts NAME``): the definition, its
sign and range, what it can and cannot defend, and the seed paper it comes from
(``/work/shared/seeds``: 000 the EEG VAE paper, 001 eigenspectra and random
projections, 002 saliency / sanity checks / SAEs, 003 CNN SAEs).

The pick & interpolate columns keep their explanations in
:data:`eegmi.analysis.pick_report.COLUMNS` (the CLI prints them as the table's legend);
their concepts take the short text from there, so the two cannot drift apart.
Nothing here imports torch or Qt.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from eegmi.analysis.pick_options import HEADLINE_BAR, SHARED_RHO
from eegmi.analysis.pick_report import COLUMNS
from eegmi.analysis.sanity_rule import SanityRule
from eegmi.errors import ConfigError


@dataclass(frozen=True)
class Concept:
    """One quantity the workbench shows.

    Attributes
    ----------
    key
        Identifier (``eegmi concepts KEY``; panels look tooltips up by it).
    name
        Display name, as the panels label the quantity.
    short
        One or two sentences: the tooltip.
    long
        Full text: definition, sign/range, what it can and cannot defend, seed paper.
    aliases
        Other names it is shown under (``S`` for the action), matched by :func:`find`.
    """

    key: str
    name: str
    short: str
    long: str
    aliases: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["aliases"] = list(self.aliases)
        return d


_PICK = {key: tip for key, _, tip in COLUMNS}
_RULE = SanityRule()

CONCEPTS: tuple[Concept, ...] = (
    # ---- eigenspectra and random projections (seed 001) -------------------------------
    Concept(
        "alpha", "α (power-law exponent)",
        "Decay exponent of the layer's eigenspectrum: eigenvalue_k ∝ k^-α, so α > 0 and a "
        "steeper decay is a larger α. Seed 001 plots the slope −α (its \"α = −1\" is α = 1 "
        "here).",
        "Definition: the activations of held-out frames are PCA'd; α is minus the slope of "
        "a Huber regression of log explained variance on log component rank over ranks "
        "10–50 (seed 001's Methods), so eigenvalue_k ∝ k^-α.\n\n"
        "Sign and range: α > 0 for a decaying spectrum; larger α = faster decay = a more "
        "redundant, smoother code. Seed 001 reports the log-log slope itself, i.e. −α: "
        "its dashed line \"α = −1\" is α = 1 here and its \"α ≤ −1\" (fast decay, finite "
        "action, smooth random projections) is α ≥ 1 here. The convention follows "
        "Stringer et al. 2019 (seed 001's reference 40).\n\n"
        "What it defends: how fast the variance of a layer's code spreads over dimensions, "
        "compared across layers and against untrained networks of the same architecture "
        "on the same inputs (the null each α is read against).\n"
        "What it cannot: a power law is only an approximation (seed 001 notes large "
        "deviations in late layers). A layer spanning only r dimensions (topomaps are linear "
        "in 32 electrode values) has eigenvalues that fall to rounding noise after rank r; "
        "a window reaching past that effective rank fits the cliff, not a power law — the "
        "panel then warns, and the 'auto' window ends below the rank. Check the fit's R² "
        "and the number of fitted points.\n\n"
        "Seed: 001 (Marshall & Kirchner, eigenspectrum of the activation covariance, Fig. 3, "
        "eq. 3–4).",
        aliases=("α", "power law"),
    ),
    Concept(
        "effective_rank", "effective rank",
        "Number of eigenvalues above 1e-5 of the largest: how many dimensions the layer's "
        "activations really span. A power-law window past it fits rounding noise.",
        "Definition: the count of explained-variance eigenvalues larger than rtol = 1e-5 "
        "times the largest (above float32 rounding, far below any eigenvalue a fit over "
        "ranks 10–50 uses). Shown with a '+' when only the top components were computed "
        "and all of them were above that level, so the true rank may be higher.\n\n"
        "Range: 1 .. min(inputs, dimensions). The 40x40 topomaps are linear in the 32 "
        "electrode values, so the input and every near-linear layer have rank ≤ 32.\n\n"
        "What it defends: whether an α fitted over ranks 10–50 describes a power law at all. "
        "What it cannot: it says nothing about how the variance is spread below the rank.\n\n"
        "Seed: the check is this workbench's; the fit window it guards is seed 001's.",
    ),
    Concept(
        "action", "action",
        "Roughness of a random projection of the layer's response to a moving stimulus: "
        "E = ½∫‖dz/dt‖²dt, mean over projections. Small = smooth code.",
        "Definition: the layer's activations to the T frames of a moving dipole form "
        "A (T, m); a random projection r (m, 3) with entries N(0, 1/m) gives a 3-D "
        "trajectory z = A r, and its action is E = ½∫‖dz/dt‖²dt with time scaled so the "
        "stimulus lasts 1 (finite differences). The panel shows the mean over projections "
        "(labelled S in the trajectory plots); the closed-form expectation "
        "dim/(2m)·Σ‖A_{t+1} − A_t‖²/dt is computed beside it as a check.\n\n"
        "Range: ≥ 0, in squared activation units: it scales with the activations' "
        "magnitude, so compare layers with the normalised action (action over the "
        "trajectory's mean squared distance from its time average: 2π² for a circle "
        "traversed once, about T for white noise).\n\n"
        "What it defends: whether a layer maps a smooth input path to a smooth path (seed "
        "001: small action goes with fast eigenspectrum decay, α ≥ 1 in this workbench's "
        "sign). What it cannot: a raw action compares poorly across layers of different "
        "scale, and one stimulus tells nothing about other inputs.\n\n"
        "Seed: 001, Fig. 4 and 6 (average action of random projections, eq. 4).",
        aliases=("S", "average action"),
    ),
    # ---- propagation (seed 000) ----------------------------------------------------------
    Concept(
        "selectivity", "selectivity (electrode)",
        "How much a unit prefers one electrode: (n − Σ_e r_e / max_e r_e)/(n − 1) over its "
        "one-hot responses r; 1 = answers one electrode only, 0 = all equally (or dead).",
        "Definition: each electrode's one-hot signal (1 on that electrode, 0 elsewhere, in "
        "the model's scaled space) goes through the model; a unit's response r_e is its "
        "activation minus its activation to the all-zero input. Selectivity is "
        "(n − Σ_e r_e / max_e r_e) / (n − 1) with n electrodes; the table shows the mean over "
        "a layer's units.\n\n"
        "Range: [0, 1]; 1 when the unit answers one electrode only, 0 when it answers all "
        "equally; 0 for a dead unit.\n\n"
        "What it defends: whether single units are tied to single electrodes under one-hot "
        "input. What it cannot: one-hot signals are far from real frames, and a mixed "
        "(non-selective) unit can still be part of a clean linear mechanism: selectivity "
        "is a statement about the unit basis, not about the mechanism (see pick R² and "
        "interpolate).\n\n"
        "Seed: 000 (signal propagation with one-hot signals).",
    ),
    Concept(
        "monosemantic", "mono (monosemantic units)",
        "Units whose response to one electrode's one-hot signal is at least 0.5 of their "
        "strongest, and to no other: they answer exactly one electrode.",
        "Definition: a unit counts an electrode when its one-hot response to it is at least "
        "threshold (default 0.5) times the unit's strongest response; mono = units counting "
        "exactly one electrode.\n\n"
        "Range: 0 .. the layer's units; mono + poly + dead = units.\n\n"
        "What it defends: a count of units tied to one electrode under one-hot input. What "
        "it cannot: the count depends on the threshold and on the unit basis; it says "
        "nothing about real EEG frames, and 'monosemantic' here means one electrode, not "
        "one human concept.\n\n"
        "Seeds: 000 (one-hot propagation); the term from 002 (superposition, "
        "polysemanticity).",
        aliases=("mono",),
    ),
    Concept(
        "polysemantic", "poly (polysemantic units)",
        "Units responding to two or more electrodes at ≥ 0.5 of their strongest one-hot "
        "response.",
        "Definition: as for mono, a unit counts every electrode whose one-hot response is at "
        "least threshold (default 0.5) times its strongest; poly = units counting two or "
        "more electrodes.\n\n"
        "Range: 0 .. the layer's units.\n\n"
        "What it defends: that many units mix electrodes (expected after a convolution, whose "
        "receptive field covers neighbouring electrodes). What it cannot: polysemantic units "
        "do not imply superposition of features; the count depends on the threshold.\n\n"
        "Seeds: 000 and 002 (polysemanticity and the superposition hypothesis).",
        aliases=("poly",),
    ),
    Concept(
        "dead", "dead units",
        "Units whose strongest one-hot response is below 1e-3 of the layer's strongest: "
        "silent for every electrode.",
        "Definition: units whose strongest response to any electrode's one-hot signal is "
        "below 1e-3 times the strongest response in the layer.\n\n"
        "What it defends: units that carry nothing of single-electrode signals. What it "
        "cannot: a unit dead for one-hots may respond to real frames or to the baseline.\n\n"
        "Seed: 000.",
    ),
    Concept(
        "linearity_r2", "linearity R²",
        "Held-out R² of an affine fit from the electrode values to the layer's activations "
        "(fitted on half the inputs, scored on the other half): 1 = the layer is affine in "
        "the electrodes.",
        "Definition: ordinary least squares act ≈ [x, 1] W from input electrode vectors to "
        "the flattened activations, fitted on one half of the inputs and scored on the "
        "other; R² = 1 − SS_res/SS_tot pooled over units.\n\n"
        "Range: ≤ 1 (negative when the fit is worse than the mean).\n\n"
        "What it defends: seed 000's reading of the encoder as 'overall linear'. What it "
        "cannot: a high R² on random mixes need not hold on real frames, and pooling lets "
        "high-variance units dominate.\n\n"
        "Seed: 000 (E3 observation 2).",
    ),
    # ---- pick & interpolate (seed 000; the basis-invariant test) ---------------------------
    Concept(
        "pick_r2", "pick R²", _PICK["pick_r2"],
        "Definition: " + _PICK["pick_r2"] + "\n\nRange: ≤ 1.\n\n"
        "What it defends: the latents contain the electrode values (linearly). What it "
        "cannot: that the model uses them — an untrained encoder scores high too (see the "
        "untrained control); read it with interpolate.\n\n"
        "Seed: 000 (the pick & interpolate target algorithm), made basis-invariant here.",
        aliases=("pick",),
    ),
    Concept(
        "interpolate", "interpolate", _PICK["interpolate"],
        "Definition: " + _PICK["interpolate"] + "\n\nRange: ≤ 1; the headline bar is "
        f"{HEADLINE_BAR:g} on pick R², interpolate and alignment.\n\n"
        "What it defends: that the model, end to end, is pick & interpolate (latents carry "
        "the values and the decoder applies the topomap operator). What it cannot: which "
        "units implement it, or behaviour off the tested inputs.\n\n"
        "Seed: 000 (pick & interpolate).",
    ),
    Concept(
        "alignment", "alignment", _PICK["alignment"],
        "Definition: " + _PICK["alignment"] + f" 'dims ρ≥{SHARED_RHO:g}' counts the pairs "
        f"with held-out correlation ≥ {SHARED_RHO:g}.\n\n"
        "Range: [0, min(1, latent_dim / n)].\n\n"
        "What it defends: how many electrode-space dimensions the latent space carries, "
        "invariant to any invertible map of the latents. What it cannot: whether the decoder "
        "uses them (see interpolate).\n\nSeed: 000, made basis-invariant here.",
        aliases=("dims ρ≥0.9",),
    ),
    Concept(
        "axis_alignment", "axis alignment", _PICK["axis_alignment"],
        "Definition: latents are assigned to electrodes one-to-one by the Hungarian "
        "algorithm on the normalised electrode x latent one-hot response matrix; each "
        "assigned electrode's value is read off its latent through an affine gain fitted on "
        "half the inputs; the score is the output R² of the topomap operator applied to "
        "these values on the other half. Unassigned electrodes (latent_dim < n) count 0.\n\n"
        "Range: ≤ 1.\n\n"
        "What it defends: that the mechanism sits in the model's own latent coordinates. "
        "What it cannot: anything against the mechanism — a VAE's objective has no "
        "preferred latent axes, and an exact network with rotated latents scores low here "
        "and 1 on pick R², interpolate and alignment (the rotated control).\n\n"
        "Seed: 000 (the per-axis reading of pick & interpolate).",
    ),
    Concept(
        "reconstruction_r2", "recon R²", _PICK["reconstruction_r2"],
        "Definition: " + _PICK["reconstruction_r2"] + "\n\nRange: ≤ 1.\n\n"
        "What it defends: the output is the topomap of the true values. What it cannot: "
        "whether the latents are the route (see pick R² and interpolate).\n\nSeed: 000.",
    ),
    Concept(
        "control_exact", "exact (control)",
        "Control: a network that is exactly pick & interpolate. Must score 1 everywhere.",
        "A hand-built network whose latents are the electrode values and whose decoder is "
        "the topomap operator, scored on the same inputs. It must score 1 on every column: "
        "if not, the test itself is broken.\n\nSeed: 000's target algorithm.",
    ),
    Concept(
        "control_rotated", "rotated (control)",
        "Control: the exact network with its latents rotated by a random orthogonal matrix — "
        "the same function in another basis. Must score 1 on pick, interpolate and "
        "alignment, and scores low on axis alignment: why the headline is basis-invariant.",
        "The exact network with a random orthogonal rotation applied to its latents and "
        "undone in the decoder: the same function, another latent basis. It shows that a "
        "per-axis score (axis alignment) fails a perfect mechanism, and that the headline "
        "does not.\n\nSeed: this workbench's control for seed 000's test.",
    ),
    Concept(
        "control_untrained", "untrained (control)",
        "Control: the model's architecture, untrained. Its pick R² can be high (a random "
        "encoder keeps the information); its interpolate must be low.",
        "The same architecture with freshly initialised weights, on the same inputs. A "
        "random encoder is close to linear and keeps the electrode values, so pick R² alone "
        "cannot tell a trained model from it; interpolate can. Also the null of the "
        "eigenspectra panel (untrained seeds).\n\nSeeds: 000 and 002 (randomisation as a "
        "control).",
    ),
    Concept(
        "control_pca", "PCA-k (baseline)",
        "Baseline: PCA of the clean training images with the model's latent size. Every "
        "topomap is linear in the 32 electrode values, so PCA-32 is exact.",
        "PCA of the clean training images keeping as many components as the model has "
        "latents, scored like a model. With 32 components it is exact (the topomaps span 32 "
        "dimensions); with fewer (E4/E5: 27) it is the best linear model of that size — the "
        "bar a trained model of that size is read against.\n\nSeed: 000 (the 32→1600 "
        "redundancy).",
    ),
    # ---- saliency sanity check (seed 002, Adebayo et al. 2018) ------------------------------
    Concept(
        "rank_abs", "|ρ| of |maps|",
        "|Spearman| rank correlation of the absolute saliency maps (trained vs randomised), "
        "per input over the head pixels the model sees.",
        "Definition: Spearman rank correlation of |map| between the trained and the "
        "randomised model's maps of one input, over the compared pixels (head-disc pixels "
        "the injection passes to the model), taken as |ρ|: a sign-flipped map has not "
        "changed.\n\nRange: [0, 1].\n\n"
        "It is judged against a model-independent baseline (see 'sanity baseline'), never "
        "alone.\n\nSeed: 002 (sanity checks for saliency maps, Adebayo et al. 2018).",
    ),
    Concept(
        "rank_signed", "|ρ| of signed maps",
        "|Spearman| rank correlation of the signed saliency maps (trained vs randomised), "
        "per input over the head pixels the model sees.",
        "Definition: as |ρ| of |maps|, on the signed maps.\n\nRange: [0, 1].\n\n"
        "What it adds: a change of sign pattern that the absolute maps hide.\n\nSeed: 002.",
    ),
    Concept(
        "ssim", "SSIM of rank |maps|",
        "Structural similarity (SSIM) of the rank-normalised absolute maps: compares "
        "structure, not how peaked a method's maps are.",
        "Definition: each map's |values| are replaced by their rank percentile over the "
        "compared pixels, and SSIM compares the two rank images. Two unrelated maps score "
        "about 0 whatever their sparsity.\n\nRange: [−1, 1], about 0 for unrelated maps.\n\n"
        "Seed: 002 (Adebayo et al. use SSIM and rank correlations).",
        aliases=("SSIM",),
    ),
    Concept(
        "sanity_baseline", "sanity baseline",
        "What a map that never saw the model reaches: the higher similarity of the input "
        "magnitude |x| or its Sobel edges to the trained map. Randomised maps must fall "
        "clearly below it.",
        "Definition: for each statistic and input, the larger similarity of two "
        "model-independent maps (the input magnitude and a Sobel edge map of the model's "
        "input image) to the trained map. The grey band in the plots is baseline − margin .. "
        "baseline.\n\n"
        "Why: similarity alone has no scale. Methods that multiply by the input (input x "
        "gradient, Integrated Gradients) stay similar to the trained maps simply because "
        "both look like the input.\n\nSeed: 002; the baseline is this workbench's.",
    ),
    Concept(
        "verdict", "verdict (PASS / FAIL)",
        "PASS: the trained maps are reproducible and the maps of the fully randomised model "
        "have changed (clearly below the model-independent baseline, or below the floor) in "
        "every independent re-initialisation. The caption gives the exact rule.",
        "The rule, with its default numbers:\n" + _RULE.text() + "\n\n"
        "What a PASS defends: the method's maps depend on the learned weights. What it "
        "cannot: that the maps are faithful explanations; a pass is necessary, not "
        "sufficient (seed 002: 'positive feature attribution does not, in general, imply "
        "that increasing the feature will increase the model output').\n\n"
        "Seed: 002 (Adebayo et al. 2018, cascading randomisation).",
        aliases=("sanity rule", "PASS", "FAIL"),
    ),
    # ---- sparse autoencoders (seeds 002, 003) ----------------------------------------------
    Concept(
        "fve", "FVE",
        "Fraction of variance explained by the SAE's reconstruction: "
        "1 − Σ‖x − x̂‖² / Σ‖x − mean(x)‖². 1 = perfect.",
        "Definition: over the SAE inputs (a position in spatial mode, a frame in flat mode), "
        "FVE = 1 − Σ‖x − x̂‖² / Σ‖x − mean(x)‖².\n\nRange: ≤ 1; 0 = no better than the "
        "mean.\n\n"
        "What it defends: fidelity of the dictionary on the layer. What it cannot: alone, "
        "anything about interpretability; read it beside L0 (sparsity) and the model's "
        "reconstruction with the SAE spliced in.\n\nSeeds: 002 and 003 (SAE fidelity loss).",
        aliases=("fraction of variance explained",),
    ),
    Concept(
        "l0", "L0",
        "Mean number of SAE features active (> 0) per input: the sparsity of the code. "
        "Read beside FVE, never alone.",
        "Definition: the mean over SAE inputs of the number of features with activation > 0.\n\n"
        "Range: 0 .. n_features; compare with d, the input dimension.\n\n"
        "What it defends: how sparse the code is. What it cannot: quality alone — an SAE "
        "that explains nothing has L0 → 0. There is deliberately no 'compression' figure "
        "(seed 003's '7x fewer activations' compares ReLU layers; the bundled models are "
        "leaky ReLU, where it would restate L0).\n\nSeed: 003 (L_sparsity = Σ‖f(x)‖₀, "
        "approximated by L1 in training).",
    ),
    Concept(
        "sae_selectivity", "selectivity (SAE feature)",
        "Treves–Rolls lifetime sparseness of a feature over the gallery inputs: "
        "(1 − (E f)² / E f²) / (1 − 1/N); 0 = equally active everywhere, 1 = fires on one input.",
        "Definition: for feature activations f over N inputs, "
        "(1 − (E f)² / E f²) / (1 − 1/N).\n\nRange: [0, 1].\n\n"
        "What it defends: that a feature is specific to few inputs. What it cannot: what "
        "those inputs have in common — look at the top frames and the electrode drive.\n\n"
        "Seeds: 002 and 003 (feature interpretability of SAEs).",
    ),
)

_BY_KEY = {c.key: c for c in CONCEPTS}


def concept(key: str) -> Concept:
    """The concept ``key`` (exact key); KeyError otherwise."""
    return _BY_KEY[key]


def tip(key: str) -> str:
    """The tooltip of concept ``key``."""
    return _BY_KEY[key].short


def find(name: str) -> Concept:
    """The concept named ``name``: its key, display name or an alias (case-insensitive).

    Raises
    ------
    ConfigError
        When nothing matches; the message lists the keys.
    """
    want = name.strip().casefold()
    for c in CONCEPTS:
        if want in {c.key.casefold(), c.name.casefold(), *(a.casefold() for a in c.aliases)}:
            return c
    raise ConfigError(f"no concept {name!r}; known: {', '.join(c.key for c in CONCEPTS)}")


def search(text: str) -> list[Concept]:
    """Concepts whose key, name, aliases or texts contain ``text`` (case-insensitive)."""
    want = text.strip().casefold()
    if not want:
        return list(CONCEPTS)
    return [c for c in CONCEPTS
            if any(want in s.casefold() for s in (c.key, c.name, c.short, c.long, *c.aliases))]
