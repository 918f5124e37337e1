r"""Helpers the book's chapters share: printing, glue, image grids and their references.

The chapters in ``chapters/`` are prose around short calls; what several of them need lives
here, once:

* printing: :func:`show` writes lines as one output chunk (wrapping long prose lines to a
  width), :func:`show_table` displays a table as HTML, with its aligned text as the plain
  version;
* glue, the numbers the prose quotes with myst-nb's ``glue:text`` role:
  :func:`glue_significant` rounds to significant digits (for quantities of any size),
  :func:`glue_rounded` to decimal places (for nats, percentages and scores printed with a
  fixed number of decimals);
* image grids of MNIST digits: :func:`first_of_each_class`, :func:`reconstructions` and
  :func:`image_grid`;
* figures: :func:`label_panels` labels the panels of a multi-panel figure (a), (b), ...;
* the references the theory chapters compare ``hvae`` with: in mpmath, each evaluated in
  ``dps``-digit arithmetic straight from the Bessel functions (no asymptotics, no rescaling):
  the log-normaliser :func:`mpmath_log_normalizer`, the mean resultant length
  :func:`mpmath_mean_resultant_length` and its derivative
  :func:`mpmath_mean_resultant_length_derivative`, and the KL divergence to the uniform
  distribution :func:`mpmath_kl_vmf_uniform`; and :func:`wood_rejection`, Wood's rejection
  sampler as a plain loop with numpy's random numbers that counts the proposals of every draw
  and carries the naive gradient (the independent implementation chapter 3 and the tests
  check :mod:`hvae.sampling` and :mod:`hvae.wood` against).

As everywhere in ``hvae``, ``d`` is the *ambient* dimension: the points lie on
:math:`\mathcal{S}^{d-1} \subset \mathbb{R}^d`.

matplotlib and myst_nb are dependencies of the book only (the ``book`` extra), and mpmath is
needed only by the references: each is imported inside the functions that use it, so that
``import hvae.book`` needs neither.
"""

from __future__ import annotations

import html
import re
import sys
import textwrap
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np
import torch

from hvae._validation import check_dim, check_int, check_number
from hvae.wood import wood_log_accept, wood_proposal

__all__ = [
    "WoodDraws",
    "first_of_each_class",
    "glue_rounded",
    "glue_significant",
    "image_grid",
    "label_panels",
    "mpmath_kl_vmf_uniform",
    "mpmath_log_normalizer",
    "mpmath_mean_resultant_length",
    "mpmath_mean_resultant_length_derivative",
    "reconstructions",
    "show",
    "show_table",
    "wood_rejection",
]


# --- printing and glue -------------------------------------------------------------------------


def show(lines: Iterable[str], width: int | None = None) -> None:
    """Print ``lines`` in one write to stdout, each wrapped to ``width`` characters if given.

    One write makes one output chunk, the same on every run, so that nbval compares a table as
    a whole and papermill never splits it between two stream outputs. With ``width`` (78 fits
    the book's text column, which at 1300 px holds 79 characters of output, not 80), a longer
    line is wrapped at spaces by ``textwrap.wrap``, its continuation lines indented under the
    value of a ``label:   value`` line, or else two spaces deeper than the line itself: for
    sentences and provenance, not for tables (a table goes to :func:`show_table`).
    """
    lines = list(lines)
    if width is not None:
        width = check_int(width, "width", minimum=20)
        lines = [part for line in lines for part in _wrap(line, width)]
    sys.stdout.write("\n".join(lines) + "\n")


def _wrap(line: str, width: int) -> list[str]:
    """``line`` wrapped to ``width`` characters with a hanging indent (see :func:`show`)."""
    if len(line) <= width:
        return [line]
    field = re.match(r"\s*[^\s:][^:]*:\s{2,}(?=\S)", line)
    indent = len(field.group()) if field else len(line) - len(line.lstrip()) + 2
    indent = min(indent, width // 2)
    return textwrap.wrap(line, width, subsequent_indent=" " * indent,
                         break_long_words=False, break_on_hyphens=False) or [line]


_NUMBER = re.compile(r"[+\-\u2212]?(\d[\d,_]*\.?\d*|\.\d+)(e[+\-]?\d+)?%?"
                     r"( ± \d+\.?\d*(e[+\-]?\d+)?)?|[+\-]?(nan|inf)|-", re.IGNORECASE)


def _table_text(header: Sequence[str], rows: Sequence[Sequence[str]], right: Sequence[bool],
                title: str | None, notes: Sequence[str]) -> str:
    """The plain-text version of :func:`show_table`'s table: what :func:`show` would print."""
    widths = [max(len(cell) for cell in column) for column in zip(header, *rows, strict=True)]
    lines = [] if title is None else _wrap(title, 78)
    for row in (header, *rows):
        cells = [cell.rjust(w) if r else cell.ljust(w)
                 for cell, w, r in zip(row, widths, right, strict=True)]
        lines.append("  ".join(cells).rstrip())
    lines += [part for note in notes for part in _wrap(note, 78)]
    return "\n".join(lines)


def _table_html(header: Sequence[str], rows: Sequence[Sequence[str]], right: Sequence[bool],
                title: str | None, notes: Sequence[str]) -> str:
    """The HTML version of :func:`show_table`'s table (classes styled by the book's CSS)."""
    def cells(row: Sequence[str], tag: str) -> str:
        return "".join(f'<{tag} class="num">{html.escape(c)}</{tag}>' if r
                       else f"<{tag}>{html.escape(c)}</{tag}>"
                       for c, r in zip(row, right, strict=True))

    parts = ['<div class="hvae-table-wrap">']
    if title is not None:
        parts.append(f'<p class="hvae-table-title">{html.escape(title)}</p>')
    parts += ['<table class="hvae-table">', f"<thead><tr>{cells(header, 'th')}</tr></thead>",
              "<tbody>", *(f"<tr>{cells(row, 'td')}</tr>" for row in rows), "</tbody>",
              "</table>"]
    parts += [f'<p class="hvae-table-note">{html.escape(note)}</p>' for note in notes]
    parts.append("</div>")
    return "\n".join(parts)


def show_table(header: Sequence[Any], rows: Iterable[Sequence[Any]], *,
               title: str | None = None, notes: Iterable[str] = (),
               align: str | None = None) -> None:
    """Display a table as one output with an HTML and a plain-text version.

    A printed text table wider than about 80 characters is wider than the book's text column;
    an HTML table (class ``hvae-table``, compact in ``tools/html_static/hvae.css``) fits, and its
    header cells may wrap. The output is a single ``display_data`` with ``text/html`` (the
    page shows it) and ``text/plain`` (the same table with aligned columns, two spaces apart,
    for a terminal and for nbval's comparison); both are the same on every run.

    Args:
        header: the column names.
        rows: the rows, each with one cell per column. Cells are shown as ``str(cell)``: format
            numbers before (``f"{x:.3f}"``) to choose their rounding.
        title: a sentence shown above the table (wrapped to 78 characters in the text).
        notes: sentences shown below the table, one paragraph each.
        align: ``"l"`` or ``"r"`` per column; by default a column is right-aligned when
            every cell under its header is a number (``-1.5``, ``1e-10``, ``12%``,
            ``-177.5 ± 1.4``; ``-`` and ``nan`` count as numbers).

    Raises:
        ValueError: a row's number of cells, or ``align``, does not match the header.
    """
    from IPython.display import display

    header = [str(cell) for cell in header]
    rows = [[str(cell) for cell in row] for row in rows]
    for i, row in enumerate(rows):
        if len(row) != len(header):
            raise ValueError(f"rows[{i}]: {len(row)} cells for {len(header)} columns")
    if align is None:
        right = [bool(rows) and all(_NUMBER.fullmatch(row[j]) for row in rows)
                 for j in range(len(header))]
    elif len(align) == len(header) and set(align) <= {"l", "r"}:
        right = [a == "r" for a in align]
    else:
        raise ValueError(f"align: need 'l' or 'r' for each of {len(header)} columns, "
                         f"got {align!r}")
    notes = list(notes)
    display({"text/html": _table_html(header, rows, right, title, notes),
             "text/plain": _table_text(header, rows, right, title, notes)}, raw=True)


def _glue(key: str, value: Any) -> None:
    from myst_nb import glue

    glue(key, value, display=False)


def glue_significant(key: str, value: float, digits: int = 4) -> None:
    """Glue ``value`` for the prose, rounded to ``digits`` significant digits.

    For quantities whose size varies (an acceptance rate of 0.66, a KL of 1e-7): the value is
    ``float(f"{value:.{digits}g}")``, so the last bits of a float64 never show in the text.
    """
    digits = check_int(digits, "digits", minimum=1)
    _glue(key, float(f"{float(value):.{digits}g}"))


def glue_rounded(key: str, value: float, digits: int = 1) -> None:
    """Glue ``value`` for the prose, rounded to ``digits`` decimal places.

    For quantities quoted with a fixed number of decimals (nats, percentage points, scores):
    the value is ``round(value, digits)``.
    """
    digits = check_int(digits, "digits", minimum=0)
    _glue(key, round(float(value), digits))


# --- image grids ------------------------------------------------------------------------------


def first_of_each_class(labels: Any, n_classes: int = 10) -> list[int]:
    """The index of the first example of each class ``0 .. n_classes - 1`` in ``labels``."""
    labels = np.asarray(labels)
    n_classes = check_int(n_classes, "n_classes", minimum=1)
    picks = []
    for k in range(n_classes):
        where = np.flatnonzero(labels == k)
        if where.size == 0:
            raise ValueError(f"labels: must contain every class 0 .. {n_classes - 1}, got no {k}")
        picks.append(int(where[0]))
    return picks


def reconstructions(models: Mapping[str, Any], x: torch.Tensor) -> dict[str, torch.Tensor]:
    r"""The decoder's pixel probabilities at each model's deterministic code of ``x``.

    For every ``name: model`` of ``models`` (``hvae.models.VAE``), :math:`\sigma(f(\hat z))`
    with :math:`\hat z` = ``model.embed(x)`` (the posterior mean, or the mean direction on the
    sphere) and :math:`f` the decoder, computed without gradients.
    """
    with torch.no_grad():
        return {name: torch.sigmoid(model.decode(model.embed(x)))
                for name, model in models.items()}


def image_grid(rows: Mapping[str, Any], height: float = 0.52, left: float = 0.2):
    """A grid of square grey-scale images: one row per entry of ``rows``, labelled by its key.

    Each value holds the images of a row (a tensor or array of shape ``(n, side * side)``,
    pixel values in [0, 1], drawn dark on white); the grid has as many columns as the longest
    row. ``height`` is the height of a row in inches and ``left`` the share of the width kept
    for the row labels. Returns the matplotlib figure (the caller shows it).
    """
    import matplotlib.pyplot as plt

    height = check_number(height, "height", positive=True)
    left = check_number(left, "left", nonnegative=True)
    columns = max(len(images) for images in rows.values())
    fig, axes = plt.subplots(len(rows), columns, figsize=(6.4, height * len(rows) + 0.1),
                             squeeze=False)
    for r, (name, images) in enumerate(rows.items()):
        for c in range(columns):
            ax = axes[r, c]
            if c < len(images):
                image = np.asarray(images[c])
                side = int(round(image.size ** 0.5))
                ax.imshow(image.reshape(side, side), cmap="gray_r", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            ax.grid(False)
        axes[r, 0].set_ylabel(name, rotation=0, ha="right", va="center", fontsize=10)
    fig.subplots_adjust(left=left, right=0.99, top=0.98, bottom=0.02, wspace=0.05, hspace=0.05)
    return fig


# --- figure panels ----------------------------------------------------------------------------


def label_panels(axes: Iterable[Any], labels: Iterable[str] | None = None,
                 fontsize: float | None = None) -> list[Any]:
    """Label the panels of a figure "(a)", "(b)", ... in bold, at the top left of each.

    The book's figure rules ask that every panel of a multi-panel figure be labelled, so that
    the prose and the caption can name a panel by letter. Each visible axes of ``axes`` (an
    iterable or an array of matplotlib axes, taken in order, row by row for an array from
    ``plt.subplots``; hidden axes are skipped and take no letter) gets its label just left of
    its top left corner, in axes coordinates, on the baseline of a title: right-aligned there,
    it stays clear of a centred title and of the axis' offset text ("1e4", drawn right of the
    corner), above the column of y tick labels. Polar, 3-D and map axes work the same way
    (their axes box is the circle's, the cube's or the map's bounding box). ``labels``
    replaces the letters (one per visible axes); ``fontsize`` defaults to the axes title size
    of the rc settings. Returns the text artists.
    """
    import matplotlib.pyplot as plt

    visible = [ax for ax in np.ravel(np.asarray(axes, dtype=object)) if ax.get_visible()]
    if labels is None:
        labels = [f"({chr(ord('a') + i)})" for i in range(len(visible))]
    labels = list(labels)
    if len(labels) != len(visible):
        raise ValueError(f"labels: need one per visible axes ({len(visible)}), got {len(labels)}")
    size = plt.rcParams["axes.titlesize"] if fontsize is None else fontsize
    pad = plt.rcParams["axes.titlepad"]
    # Axes.annotate, not ax.text: a 3-D axes' text() takes (x, y, z, s)
    return [ax.annotate(label, xy=(0, 1), xycoords="axes fraction", xytext=(-2, pad),
                        textcoords="offset points", ha="right", va="baseline",
                        fontsize=size, fontweight="bold")
            for ax, label in zip(visible, labels, strict=True)]


# --- mpmath references ------------------------------------------------------------------------


def _mpmath(d: int, dps: int):
    """mpmath, once ``d`` (an ambient dimension) and ``dps`` (>= 15 digits) are checked."""
    check_dim(d, "d")
    check_int(dps, "dps", minimum=15)
    import mpmath

    return mpmath


def mpmath_log_normalizer(d: int, kappa: Any, dps: int = 30):
    r"""The vMF log-normaliser :math:`\log \mathcal{C}_d(\kappa)` in ``dps``-digit arithmetic.

    .. math::
        \log \mathcal{C}_d(\kappa) = \nu \log\kappa - (\nu + 1) \log(2\pi) - \log I_\nu(\kappa),
        \qquad \nu = d/2 - 1,

    the logarithm of :math:`\mathcal{C}_d(\kappa) = \kappa^{\nu} / ((2\pi)^{d/2} I_\nu(\kappa))`
    with ``mpmath.besseli``, whose arbitrary-precision exponent never overflows. ``kappa > 0``
    (a float or an ``mpf``). Returns an ``mpf`` (``float()`` of it for a double).
    """
    mpmath = _mpmath(d, dps)
    with mpmath.workdps(dps):
        v, k = mpmath.mpf(d) / 2 - 1, mpmath.mpf(kappa)
        powers = v * mpmath.log(k) - (v + 1) * mpmath.log(2 * mpmath.pi)
        return powers - mpmath.log(mpmath.besseli(v, k))


def mpmath_mean_resultant_length(d: int, kappa: Any, dps: int = 30):
    r"""The mean resultant length :math:`A_d(\kappa) = I_{d/2}(\kappa) / I_{d/2-1}(\kappa)`.

    :math:`A_d(\kappa) = \mathbb{E}[\boldsymbol{\mu}^\top \mathbf{x}]` under
    :math:`\mathrm{vMF}(\boldsymbol{\mu}, \kappa)`, as the ratio of two ``mpmath.besseli`` in
    ``dps``-digit arithmetic. Returns an ``mpf``.
    """
    mpmath = _mpmath(d, dps)
    with mpmath.workdps(dps):
        v, k = mpmath.mpf(d) / 2, mpmath.mpf(kappa)
        return mpmath.besseli(v, k) / mpmath.besseli(v - 1, k)


def mpmath_mean_resultant_length_derivative(d: int, kappa: Any, dps: int = 30):
    r"""The derivative :math:`A_d'(\kappa)` by mpmath's numerical differentiation.

    ``mpmath.diff`` of :func:`mpmath_mean_resultant_length` in ``dps``-digit arithmetic: an
    independent route to :math:`A_d' = 1 - A_d^2 - \frac{d-1}{\kappa} A_d` (the identity
    ``hvae`` evaluates), which equals :math:`\operatorname{Var}[\boldsymbol{\mu}^\top\mathbf{x}]`
    and, times :math:`\kappa`, the slope of the KL term. Returns an ``mpf``.
    """
    mpmath = _mpmath(d, dps)
    with mpmath.workdps(dps):
        nu = mpmath.mpf(d) / 2
        return mpmath.diff(lambda k: mpmath.besseli(nu, k) / mpmath.besseli(nu - 1, k),
                           mpmath.mpf(kappa))


def mpmath_kl_vmf_uniform(d: int, kappa: Any, dps: int = 30):
    r"""The KL divergence from :math:`\mathrm{vMF}(\boldsymbol{\mu}, \kappa)` to the uniform
    distribution on :math:`\mathcal{S}^{d-1}`, in ``dps``-digit arithmetic.

    The closed form (chapter 4, ``eq-kl-closed``),

    .. math::
        \mathrm{KL} &= \kappa A_d(\kappa) + \log \mathcal{C}_d(\kappa)
        + \log \lvert \mathcal{S}^{d-1} \rvert, \\
        \log \lvert \mathcal{S}^{d-1} \rvert &= \log 2 + \tfrac{d}{2} \log\pi
        - \log\Gamma(\tfrac{d}{2}),

    from :func:`mpmath_mean_resultant_length` and :func:`mpmath_log_normalizer`. It does not
    depend on :math:`\boldsymbol{\mu}`. Returns an ``mpf``.
    """
    mpmath = _mpmath(d, dps)
    with mpmath.workdps(dps):
        k, half = mpmath.mpf(kappa), mpmath.mpf(d) / 2
        log_area = mpmath.log(2) + half * mpmath.log(mpmath.pi) - mpmath.loggamma(half)
        return (k * mpmath_mean_resultant_length(d, k, dps) + mpmath_log_normalizer(d, k, dps)
                + log_area)


# --- an independent Wood sampler, counting proposals ----------------------------------------


class WoodDraws(NamedTuple):
    """Draws of :func:`wood_rejection`."""

    one_minus_w: torch.Tensor  #: accepted 1 - w, with the naive gradient in kappa
    eps: torch.Tensor  #: the accepted Beta draws
    proposals: torch.Tensor  #: number of proposals each draw took (int64, >= 1)


def wood_rejection(kappa: torch.Tensor, d: int, n: int, rng: np.random.Generator,
                   max_rounds: int = 10_000) -> WoodDraws:
    r"""``n`` draws of :math:`1 - w` by Wood's rejection sampler, for one scalar ``kappa``,
    counting the proposals each draw needed, and carrying the **naive** gradient.

    An independent implementation of the sampling loop (numpy random numbers, not
    :mod:`hvae.sampling`'s), for checking: the acceptance probability (each count is geometric
    with mean :math:`1/P_{\mathrm{acc}}`) and the bias of the proposal reparameterisation. The
    returned ``one_minus_w`` is :func:`hvae.wood.wood_proposal` at the accepted
    :math:`\varepsilon`, so autograd gives :math:`\partial w/\partial\kappa` at fixed
    :math:`\varepsilon`: the estimator that drops the score-function correction of Naesseth et
    al. (2017), as the S-VAE authors' public PyTorch code does. It is biased: see
    :func:`hvae.wood.naive_wood_gradient_mean_w`.

    Args:
        kappa: scalar float64 tensor > 0 (may require grad).
        d: ambient dimension >= 2.
        n: number of draws.
        rng: numpy random generator (fixes the draws).
    """
    alpha = 0.5 * (d - 1)
    k = kappa.detach()
    eps = np.empty(n)
    proposals = np.zeros(n, dtype=np.int64)
    pending = np.arange(n)
    for _ in range(max_rounds):
        if pending.size == 0:
            break
        proposals[pending] += 1
        e = torch.from_numpy(rng.beta(alpha, alpha, size=pending.size))
        log_u = torch.from_numpy(np.log(rng.random(pending.size)))
        accepted = (log_u <= wood_log_accept(wood_proposal(e, k, d), k, d)).numpy()
        eps[pending[accepted]] = e.numpy()[accepted]
        pending = pending[~accepted]
    if pending.size:
        raise RuntimeError(f"Wood's sampler did not finish in {max_rounds} rounds")
    eps_t = torch.from_numpy(eps)
    return WoodDraws(wood_proposal(eps_t, kappa, d), eps_t, torch.from_numpy(proposals))
