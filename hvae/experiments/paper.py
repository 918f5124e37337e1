"""The paper's published numbers for MNIST (Tables 1, 2 and 3), its models and its headline.

Davidson, Falorsi, De Cao, Kipf, Tomczak, "Hyperspherical Variational Auto-Encoders",
UAI 2018, arXiv:1804.00891. These are reference data, not results of this package: the
chapters print them beside the stored runs. ``d`` is always the paper's d, the dimension of
the latent manifold (the S-VAE with d lives on S^d inside R^(d+1)).
"""

from __future__ import annotations

__all__ = [
    "METRICS",
    "MODEL_NAMES",
    "PAPER_HEADLINE",
    "PAPER_LATENTS",
    "PAPER_TABLE2_SIGNIFICANT",
    "PAPER_TABLE3_SIGNIFICANT",
    "paper_table1",
    "paper_table2",
    "paper_table3",
    "paper_table4",
]

#: The two latent spaces of Tables 1 and 2 (``hvae.models.VAE``'s names).
PAPER_LATENTS: tuple[str, ...] = ("normal", "vmf")
#: The paper's names of the models.
MODEL_NAMES: dict[str, str] = {"normal": "N-VAE", "vmf": "S-VAE"}
#: Table 1's columns (nats, means over the test split).
METRICS: tuple[str, ...] = ("LL", "ELBO", "RE", "KL")

#: The paper's headline for Table 1: the sign of S-VAE minus N-VAE in LL at each d it names
#: (the S-VAE ahead for d <= 10, the N-VAE at d = 40).
PAPER_HEADLINE: dict[int, int] = {2: 1, 5: 1, 10: 1, 40: -1}

# Table 1 (MNIST, nats) and Table 2 (M1 + k-NN accuracy, %) of the paper, transcribed from
# arXiv:1804.00891. d is the paper's d (manifold).
# Table 1 rows: (LL, LL ±, L[q], RE, RE ±, KL, KL ±); the paper gives no ± for L[q].
_PAPER_TABLE1: dict[tuple[str, int], tuple[float, ...]] = {
    ("N-VAE", 2): (-135.73, 0.83, -137.08, -129.84, 0.91, 7.24, 0.11),
    ("N-VAE", 5): (-110.21, 0.21, -112.98, -100.16, 0.22, 12.82, 0.11),
    ("N-VAE", 10): (-93.84, 0.30, -98.36, -78.93, 0.30, 19.44, 0.14),
    ("N-VAE", 20): (-88.90, 0.26, -94.79, -71.29, 0.45, 23.50, 0.31),
    ("N-VAE", 40): (-88.93, 0.30, -94.91, -71.14, 0.56, 23.77, 0.49),
    ("S-VAE", 2): (-132.50, 0.73, -133.72, -126.43, 0.91, 7.28, 0.14),
    ("S-VAE", 5): (-108.43, 0.09, -111.19, -97.84, 0.13, 13.35, 0.06),
    ("S-VAE", 10): (-93.16, 0.31, -97.70, -77.03, 0.39, 20.67, 0.08),
    ("S-VAE", 20): (-89.02, 0.31, -96.15, -67.65, 0.43, 28.50, 0.22),
    ("S-VAE", 40): (-90.87, 0.34, -101.26, -67.75, 0.70, 33.50, 0.45),
}
# Table 2: accuracy (%) with 100, 600, 1000 labels, (N-VAE, S-VAE) per d and label count.
_PAPER_TABLE2: dict[int, dict[int, tuple[float, float]]] = {
    2: {100: (72.6, 77.9), 600: (80.8, 84.9), 1000: (81.7, 85.6)},
    5: {100: (81.8, 87.5), 600: (90.9, 92.8), 1000: (92.0, 93.4)},
    10: {100: (75.7, 80.6), 600: (88.4, 91.2), 1000: (90.2, 92.8)},
    20: {100: (71.3, 72.8), 600: (88.3, 89.1), 1000: (90.1, 91.1)},
    40: {100: (72.3, 67.7), 600: (88.0, 87.4), 1000: (90.3, 90.4)},
}
#: Table 2 entries marked significant (*) in the paper: (model, d, labels).
PAPER_TABLE2_SIGNIFICANT: frozenset[tuple[str, int, int]] = frozenset(
    {("S-VAE", d, n) for d in (2, 5, 10, 20) for n in (100, 600, 1000)} | {("N-VAE", 40, 100)}
)


def paper_table1() -> dict[tuple[str, int], dict[str, float | None]]:
    """The paper's Table 1 (arXiv:1804.00891; MNIST test set, nats), keyed by (model, d).

    ``model`` is ``"N-VAE"`` or ``"S-VAE"``, ``d`` the paper's d (manifold dimension). Each
    value: ``{"LL", "LL_pm", "ELBO", "ELBO_pm", "RE", "RE_pm", "KL", "KL_pm"}``, where
    ``*_pm`` is the ± the paper prints (None for the ELBO, printed without one). A fresh copy
    on every call.
    """
    out: dict[tuple[str, int], dict[str, float | None]] = {}
    for key, (ll, ll_pm, elbo, re, re_pm, kl, kl_pm) in _PAPER_TABLE1.items():
        out[key] = {
            "LL": ll, "LL_pm": ll_pm, "ELBO": elbo, "ELBO_pm": None,
            "RE": re, "RE_pm": re_pm, "KL": kl, "KL_pm": kl_pm,
        }  # fmt: skip
    return out


def paper_table2() -> dict[tuple[str, int], dict[int, float]]:
    """The paper's Table 2 (arXiv:1804.00891; k-NN accuracy in %), keyed by (model, d).

    Each value maps the number of labels (100, 600, 1000) to the accuracy in percent (our
    results store fractions in [0, 1]). Significance marks: :data:`PAPER_TABLE2_SIGNIFICANT`.
    """
    out: dict[tuple[str, int], dict[int, float]] = {}
    for i, model in enumerate(("N-VAE", "S-VAE")):
        for d, row in _PAPER_TABLE2.items():
            out[(model, d)] = {n: pair[i] for n, pair in row.items()}
    return out


# Table 3 (M1 + M2 with 100 labels, test accuracy %), transcribed from arXiv:1804.00891:
# (z1, z2) -> (N+N, S+S, S+N); z1 and z2 are the paper's d.
_PAPER_TABLE3: dict[tuple[int, int], tuple[float, float, float]] = {
    (5, 5): (90.0, 94.0, 93.8), (5, 10): (90.7, 94.1, 94.8), (5, 50): (90.7, 92.7, 93.0),
    (10, 5): (90.7, 91.7, 94.0), (10, 10): (92.2, 96.0, 95.9), (10, 50): (92.9, 95.1, 95.7),
    (50, 5): (92.0, 91.7, 95.8), (50, 10): (93.0, 95.8, 97.1), (50, 50): (93.2, 94.2, 97.4),
}  # fmt: skip
#: The (z1, z2, pair) cells of Table 3 the paper marks as significantly best.
PAPER_TABLE3_SIGNIFICANT: frozenset[tuple[int, int, str]] = frozenset(
    {(5, 5, "S+S")} | {(z1, z2, "S+N") for z1, z2 in
                       ((5, 10), (5, 50), (10, 5), (10, 10), (10, 50), (50, 5), (50, 10),
                        (50, 50))} | {(10, 10, "S+S")}
)


def paper_table3() -> dict[tuple[int, int], dict[str, float]]:
    """The paper's Table 3 (arXiv:1804.00891; M1 + M2 test accuracy in %, 100 labels), keyed
    by (z1, z2), the paper's d of M1's and M2's latent spaces; each value maps ``"N+N"``,
    ``"S+S"``, ``"S+N"`` (M1 type + M2 type) to the accuracy. A fresh copy on every call."""
    return {key: dict(zip(("N+N", "S+S", "S+N"), row, strict=True))
            for key, row in _PAPER_TABLE3.items()}


_PAPER_TABLE4: dict[tuple[str, str], tuple[float, float]] = {
    ("cora", "normal"): (91.4, 92.6), ("cora", "vmf"): (94.1, 94.1),
    ("citeseer", "normal"): (90.8, 92.0), ("citeseer", "vmf"): (94.7, 95.2),
    ("pubmed", "normal"): (94.4, 94.7), ("pubmed", "vmf"): (96.0, 96.0),
}  # fmt: skip


def paper_table4() -> dict[tuple[str, str], dict[str, float]]:
    """The paper's Table 4 (link prediction, in %), keyed by (graph, latent): ``latent``
    ``"normal"`` is the VGAE, ``"vmf"`` the S-VGAE; each value maps ``"auc"`` and ``"ap"`` to
    the published number. A fresh copy on every call."""
    return {key: {"auc": auc, "ap": ap} for key, (auc, ap) in _PAPER_TABLE4.items()}
