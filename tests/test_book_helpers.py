"""hvae.book, the helpers the chapters share.

The mpmath references are checked against what does not go through them: closed forms for
d = 2 and d = 3 (scipy's exponentially scaled Bessel functions, hyperbolic functions) and, in
higher dimensions, scipy's adaptive quadrature of the marginal of w = mu.x, whose density on
[-1, 1] is proportional to exp(kappa w) (1 - w^2)^((d-3)/2) (with w = cos t: the angle integral
of exp(kappa cos t) sin^(d-2) t over [0, pi]).
"""

import math
import subprocess
import sys

import mpmath
import numpy as np
import pytest
import torch
from scipy import integrate, special

from hvae import book


def _angle_moment(d, kappa, power):
    """int_0^pi cos(t)^power e^{kappa (cos t - 1)} sin(t)^(d-2) dt, by scipy's quad."""

    def f(t):
        return math.cos(t) ** power * math.exp(kappa * (math.cos(t) - 1)) * math.sin(t) ** (d - 2)

    return integrate.quad(f, 0, math.pi, epsabs=0, epsrel=1e-12, limit=200)[0]


def _log_area(d):
    """log |S^{d-1}| = log(2 pi^{d/2} / Gamma(d/2))."""
    return math.log(2) + d / 2 * math.log(math.pi) - special.gammaln(d / 2)


# --- printing and glue -------------------------------------------------------------------------


class _CountingStream:
    def __init__(self):
        self.writes = []

    def write(self, text):
        self.writes.append(text)


def test_show_writes_all_lines_at_once(monkeypatch):
    stream = _CountingStream()
    monkeypatch.setattr(sys, "stdout", stream)
    book.show(["a", "b c", ""])
    book.show(iter(["d"]))
    assert stream.writes == ["a\nb c\n\n", "d\n"]



def test_show_wraps_long_lines_with_a_hanging_indent(capsys):
    field = "  data:          " + "word " * 20
    book.show(["short", "a sentence " * 10, field], width=40)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "short" and max(map(len, lines)) <= 40
    sentence = [line for line in lines if "sentence" in line]
    assert sentence[0].startswith("a sentence") and sentence[1][:3] == "  s"
    data = lines.index(next(line for line in lines if line.startswith("  data:")))
    assert lines[data + 1].startswith(" " * 17 + "word")
    book.show(["x" * 100], width=None)
    assert capsys.readouterr().out == "x" * 100 + "\n"


@pytest.fixture
def displayed(monkeypatch):
    """The mime bundles hvae.book.show_table passes to IPython's display."""
    display = pytest.importorskip("IPython.display")
    bundles = []

    def fake(obj, raw=False):
        assert raw
        bundles.append(obj)

    monkeypatch.setattr(display, "display", fake)
    return bundles


def test_show_table_gives_html_and_aligned_text(displayed):
    book.show_table(["model", "ELBO", "ok"], [["S-VAE", "-177.5 ± 1.4", True],
                                            ["N-VAE <b>", "-56.6 ± 1.4", False]],
                    title="A title.", notes=["A note & more."])
    (bundle,) = displayed
    assert set(bundle) == {"text/html", "text/plain"}
    assert bundle["text/plain"].splitlines() == [
        "A title.",
        "model              ELBO  ok",
        "S-VAE      -177.5 ± 1.4  True",
        "N-VAE <b>   -56.6 ± 1.4  False",
        "A note & more.",
    ]
    html = bundle["text/html"]
    assert '<table class="hvae-table">' in html
    assert "<td>N-VAE &lt;b&gt;</td>" in html and "<b>" not in html
    assert '<th class="num">ELBO</th>' in html and '<td class="num">-56.6 ± 1.4</td>' in html
    assert "<th>ok</th>" in html and "<td>True</td>" in html
    assert '<p class="hvae-table-note">A note &amp; more.</p>' in html
    book.show_table(["model", "ELBO", "ok"], [["S-VAE", "-177.5 ± 1.4", True],
                                            ["N-VAE <b>", "-56.6 ± 1.4", False]],
                    title="A title.", notes=["A note & more."])
    assert displayed[1] == bundle  # the same on every run: no ids


def test_show_table_alignment_can_be_given(displayed):
    book.show_table(["a", "b"], [["1", "2"], ["10", "x"]], align="lr")
    assert displayed[0]["text/plain"].splitlines() == ["a   b", "1   2", "10  x"]
    book.show_table(["a", "b"], [["1", "2"], ["10", "-"]])
    assert displayed[1]["text/plain"].splitlines() == [" a  b", " 1  2", "10  -"]
    book.show_table(["a", "b"], [])
    assert displayed[2]["text/plain"] == "a  b"


@pytest.mark.parametrize("rows, align, message", [
    ([["1", "2"], ["3"]], None, r"^rows\[1\]: 1 cells for 2 columns$"),
    ([["1", "2"]], "lrr", r"^align: need 'l' or 'r' for each of 2 columns, got 'lrr'$"),
    ([["1", "2"]], "lx", r"^align: "),
])
def test_show_table_rejects_mismatched_rows(displayed, rows, align, message):
    with pytest.raises(ValueError, match=message):
        book.show_table(["a", "b"], rows, align=align)
    assert displayed == []


@pytest.fixture
def glued(monkeypatch):
    """The calls hvae.book makes to myst_nb.glue, as (key, value, display)."""
    myst_nb = pytest.importorskip("myst_nb")
    calls = []
    monkeypatch.setattr(myst_nb, "glue", lambda key, value, display=True:
                        calls.append((key, value, display)))
    return calls


def test_glue_significant_rounds_to_significant_digits(glued):
    book.glue_significant("a", 0.123456789)
    book.glue_significant("b", 12345.678)
    book.glue_significant("c", np.float32(2.0) / 3, digits=2)
    book.glue_significant("d", torch.tensor(-1.25e-7, dtype=torch.float64), digits=1)
    assert glued == [("a", 0.1235, False), ("b", 12350.0, False), ("c", 0.67, False),
                     ("d", -1e-07, False)]
    assert all(type(value) is float for _, value, _ in glued)


def test_glue_rounded_rounds_to_decimal_places(glued):
    book.glue_rounded("a", -172.349)
    book.glue_rounded("b", 0.98765, 2)
    book.glue_rounded("c", np.float64(41.6), digits=0)
    assert glued == [("a", -172.3, False), ("b", 0.99, False), ("c", 42.0, False)]


@pytest.mark.parametrize("call", [lambda: book.glue_significant("k", 1.0, digits=0),
                                  lambda: book.glue_rounded("k", 1.0, digits=-1),
                                  lambda: book.glue_rounded("k", 1.0, digits=1.5)])
def test_glue_rejects_bad_digits(glued, call):
    with pytest.raises(ValueError, match="^digits: must be an integer"):
        call()
    assert glued == []


def test_importing_the_helpers_needs_no_book_dependency():
    """matplotlib and myst_nb are the book's: hvae.book imports them only when called."""
    code = ("import sys, hvae, hvae.book; "
            "print(sorted(m for m in ('matplotlib', 'myst_nb') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]"


# --- image grids ------------------------------------------------------------------------------


def test_first_of_each_class():
    labels = np.array([3, 1, 0, 1, 2, 0, 3])
    assert book.first_of_each_class(labels, 4) == [2, 1, 4, 0]
    assert book.first_of_each_class(torch.tensor([1, 0]), n_classes=2) == [1, 0]
    with pytest.raises(ValueError, match="^labels: must contain every class 0 .. 4, got no 4"):
        book.first_of_each_class(labels, 5)


class _Doubler(torch.nn.Module):
    """A stand-in for a VAE: embed doubles, decode adds a learnable offset."""

    def __init__(self):
        super().__init__()
        self.offset = torch.nn.Parameter(torch.tensor(0.5))

    def embed(self, x):
        return 2 * x

    def decode(self, z):
        return z + self.offset


def test_reconstructions_are_decoded_probabilities_without_gradients():
    x = torch.tensor([[0.0, 1.0], [-1.0, 0.25]])
    out = book.reconstructions({"m": _Doubler()}, x)
    assert list(out) == ["m"]
    torch.testing.assert_close(out["m"], torch.sigmoid(2 * x + 0.5))
    assert not out["m"].requires_grad


def test_image_grid_draws_each_row_with_its_label():
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    first = torch.linspace(0, 1, 3 * 16).reshape(3, 16)
    second = np.zeros((2, 16))
    fig = book.image_grid({"inputs": first, "model": second}, height=0.5, left=0.25)
    try:
        axes = np.array(fig.axes).reshape(2, 3)
        assert fig.get_size_inches().tolist() == pytest.approx([6.4, 2 * 0.5 + 0.1])
        assert fig.subplotpars.left == pytest.approx(0.25)
        assert [axes[r, 0].get_ylabel() for r in range(2)] == ["inputs", "model"]
        for c in range(3):
            (image,) = axes[0, c].get_images()
            np.testing.assert_array_equal(image.get_array(), first[c].numpy().reshape(4, 4))
            assert image.get_clim() == (0, 1)
        assert [len(axes[1, c].get_images()) for c in range(3)] == [1, 1, 0]  # a short row
        assert not axes[0, 0].get_xticks().size and not axes[0, 0].get_yticks().size
    finally:
        plt.close(fig)


# --- figure panels ----------------------------------------------------------------------------


def test_label_panels_letters_the_visible_axes_at_their_top_left():
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 3, figsize=(7.8, 5.0))
    polar = fig.add_subplot(2, 3, 3, projection="polar")  # a polar axes over the third slot
    axes[0, 2].remove()
    axes[1, 2].set_visible(False)  # an unused slot: no letter
    cube = fig.add_subplot(2, 3, 6, projection="3d")
    try:
        panels = [*axes[0, :2], polar, *axes[1, :], cube]
        texts = book.label_panels(panels)
        assert [t.get_text() for t in texts] == ["(a)", "(b)", "(c)", "(d)", "(e)", "(f)"]
        visible = [ax for ax in panels if ax.get_visible()]
        for ax, text in zip(visible, texts, strict=True):
            assert text in ax.texts  # drawn by its own axes
            assert text.xycoords == "axes fraction" and text.xy == (0, 1)
            assert text.get_fontweight() == "bold"
            assert text.get_horizontalalignment() == "right"
            assert text.get_fontsize() >= 9
        fig.canvas.draw()
        for ax, text in zip(visible, texts, strict=True):  # above the top left corner
            box, frame = text.get_window_extent(), ax.get_window_extent()
            assert box.x1 <= frame.x0 + 1e-6 and box.y0 >= frame.y1 - 4
        named = book.label_panels(axes[0, :2], labels=["A", "B"], fontsize=12)
        assert [t.get_text() for t in named] == ["A", "B"]
        assert [t.get_fontsize() for t in named] == [12, 12]
        with pytest.raises(ValueError, match="^labels: need one per visible axes"):
            book.label_panels(axes[0, :2], labels=["A"])
    finally:
        plt.close(fig)


# --- mpmath references ------------------------------------------------------------------------


@pytest.mark.parametrize("kappa", [1e-3, 0.7, 10.0, 300.0])
def test_log_normalizer_closed_forms(kappa):
    # C_2 = 1 / (2 pi I_0(kappa)), I_0 = i0e e^kappa; C_3 = kappa / (4 pi sinh kappa)
    ref_2 = -math.log(2 * math.pi) - math.log(special.i0e(kappa)) - kappa
    log_sinh = kappa + math.log1p(-math.exp(-2 * kappa)) - math.log(2)
    ref_3 = math.log(kappa) - math.log(4 * math.pi) - log_sinh
    for d, ref in ((2, ref_2), (3, ref_3)):
        value = book.mpmath_log_normalizer(d, kappa)
        assert isinstance(value, mpmath.mpf)
        assert float(value) == pytest.approx(ref, rel=1e-14, abs=1e-14)


@pytest.mark.parametrize("d", [4, 5, 10, 33])
@pytest.mark.parametrize("kappa", [0.1, 3.0, 40.0])
def test_log_normalizer_against_quadrature(d, kappa):
    """1 / C_d = |S^{d-2}| int_0^pi e^{kappa cos t} sin^{d-2} t dt."""
    log_z = _log_area(d - 1) + math.log(_angle_moment(d, kappa, 0)) + kappa
    assert float(book.mpmath_log_normalizer(d, kappa)) == pytest.approx(-log_z, rel=1e-12)


@pytest.mark.parametrize("kappa", [1e-3, 0.5, 5.0, 800.0])
def test_mean_resultant_length_closed_forms(kappa):
    a_2 = special.i1e(kappa) / special.i0e(kappa)
    a_3 = 1 / math.tanh(kappa) - 1 / kappa  # the Langevin function
    assert float(book.mpmath_mean_resultant_length(2, kappa)) == pytest.approx(a_2, rel=1e-14)
    # 1/tanh - 1/kappa cancels at small kappa: compare with its series kappa/3 - kappa^3/45
    a_3 = kappa / 3 - kappa**3 / 45 if kappa < 1e-2 else a_3
    assert float(book.mpmath_mean_resultant_length(3, kappa)) == pytest.approx(a_3, rel=1e-12)


@pytest.mark.parametrize("d", [5, 10, 50])
@pytest.mark.parametrize("kappa", [0.3, 4.0, 60.0])
def test_mean_and_its_derivative_against_quadrature(d, kappa):
    """A_d = E[w] and A_d' = Var[w] (the vMF is an exponential family in kappa along mu)."""
    z0, z1, z2 = (_angle_moment(d, kappa, p) for p in (0, 1, 2))
    mean, var = z1 / z0, z2 / z0 - (z1 / z0) ** 2
    assert float(book.mpmath_mean_resultant_length(d, kappa)) == pytest.approx(mean, rel=1e-11)
    derivative = book.mpmath_mean_resultant_length_derivative(d, kappa)
    assert float(derivative) == pytest.approx(var, rel=1e-9)


@pytest.mark.parametrize("kappa", [0.05, 1.0, 25.0])
def test_mean_derivative_closed_form_d3(kappa):
    """A_3 = coth - 1/kappa, so A_3' = 1/kappa^2 - 1/sinh^2."""
    expected = 1 / kappa**2 - 1 / math.sinh(kappa) ** 2
    value = book.mpmath_mean_resultant_length_derivative(3, kappa)
    assert float(value) == pytest.approx(expected, rel=1e-10)


@pytest.mark.parametrize("kappa", [0.2, 2.0, 70.0])
def test_kl_closed_form_d3(kappa):
    """d = 3: kappa coth kappa - 1 + log(kappa / sinh kappa)."""
    log_sinh = kappa + math.log1p(-math.exp(-2 * kappa)) - math.log(2)
    expected = kappa / math.tanh(kappa) - 1 + math.log(kappa) - log_sinh
    assert float(book.mpmath_kl_vmf_uniform(3, kappa)) == pytest.approx(expected, rel=1e-13)


@pytest.mark.parametrize("d", [2, 6, 11, 40])
@pytest.mark.parametrize("kappa", [0.5, 8.0, 50.0])
def test_kl_against_quadrature(d, kappa):
    """KL = E_q[log q/u] = kappa E[w] - log(Z(kappa) / Z(0)), Z the angle integral."""
    z0, z1 = _angle_moment(d, kappa, 0), _angle_moment(d, kappa, 1)
    expected = kappa * z1 / z0 - (math.log(z0) + kappa - math.log(_angle_moment(d, 0.0, 0)))
    assert float(book.mpmath_kl_vmf_uniform(d, kappa)) == pytest.approx(expected, rel=1e-10)


def test_kl_small_kappa_resolves_the_leading_term():
    """KL = kappa^2 / (2d) - 3 kappa^4 / (4 d^2 (d + 2)) + ...: at kappa = 1e-3 the float64
    closed form loses most digits to cancellation, the 30-digit reference none."""
    for d in (3, 10, 100):
        kappa = mpmath.mpf("1e-3")
        kl = book.mpmath_kl_vmf_uniform(d, kappa)
        series = kappa**2 / (2 * d) - 3 * kappa**4 / (4 * d * d * (d + 2))
        assert abs(kl / series - 1) < 1e-11


def test_precision_is_the_callers_choice_and_restored():
    before = mpmath.mp.dps
    at_30 = book.mpmath_kl_vmf_uniform(10, 5.0)
    at_60 = book.mpmath_kl_vmf_uniform(10, 5.0, dps=60)
    assert mpmath.mp.dps == before
    with mpmath.workdps(60):
        assert abs(at_60 / at_30 - 1) < mpmath.mpf(10) ** -28
        assert at_60 != at_30  # the 60-digit value carries digits the 30-digit one lacks
    with mpmath.workdps(60):  # a high-precision argument is not rounded to 30 digits first
        third = mpmath.mpf(1) / 3
    value = book.mpmath_log_normalizer(3, third, dps=60)
    with mpmath.workdps(60):
        exact = mpmath.log(third) - mpmath.log(4 * mpmath.pi * mpmath.sinh(third))
        assert abs(value - exact) < mpmath.mpf(10) ** -55


@pytest.mark.parametrize("function", [book.mpmath_log_normalizer,
                                      book.mpmath_mean_resultant_length,
                                      book.mpmath_mean_resultant_length_derivative,
                                      book.mpmath_kl_vmf_uniform])
def test_references_check_their_arguments(function):
    for d in (1, 2.5, True):
        with pytest.raises(ValueError, match="^d: must be an integer >= 2"):
            function(d, 1.0)
    with pytest.raises(ValueError, match="^dps: must be an integer >= 15"):
        function(3, 1.0, dps=10)
