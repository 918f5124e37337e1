"""Table 4's runner (hvae.experiments.link_prediction) and its command line: stored results
with provenance, reuse and resumption, the summary over seeds and the S - N calls (against
hand-computed numbers), the paper's numbers, one-line errors for a missing graph and bad
arguments. The runs read the real Cora files (skipped with a message where they are not)."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pytest

import hvae.experiments as ex
from hvae.data import PlanetoidNotFoundError

SHARED = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "planetoid"
DATA = Path(os.environ.get("HVAE_PLANETOID_DIR") or SHARED)
needs_cora = pytest.mark.skipif(not (DATA / "ind.cora.graph").is_file(),
                                reason=f"the Cora files are not in {DATA} "
                                "(set HVAE_PLANETOID_DIR)")
TINY = ex.LinkProfile(name="tiny", graphs=("cora",), seeds=(0,), epochs=3)


@needs_cora
def test_run_stores_result_with_provenance_and_reuses_it(tmp_path):
    kw = {"out_root": tmp_path / "runs", "results_root": tmp_path / "res", "device": "cpu",
          "data_root": DATA}
    r = ex.run_link("vmf", "cora", 0, TINY, **kw)
    path = ex.link_result_path("cora", "vmf", 0, TINY, tmp_path / "res")
    assert json.loads(path.read_text()) == json.loads(json.dumps(r))
    assert r["model"] == "S-VGAE" and r["dim"] == 16 and r["training"]["epochs_run"] == 3
    assert 0 <= r["metrics"]["auc"] <= 1 and 0 <= r["metrics"]["ap"] <= 1
    prov = r["provenance"]
    assert prov["profile_params"] == TINY.params()
    assert prov["data"]["n_nodes"] == 2708 and prov["data"]["n_edges"] == 5278
    assert prov["data"]["split_sizes"] == {"train": 4488, "val": 263, "val_non_edges": 263,
                                           "test": 527, "test_non_edges": 527}
    assert prov["data"]["sha256"] == ex.link_prediction.PLANETOID_SHA256["cora"]
    again = ex.run_link("vmf", "cora", 0, TINY, **kw)  # stored: not retrained
    assert again["provenance"]["date_utc"] == r["provenance"]["date_utc"]
    path.unlink()  # the checkpoint is complete: recomputed from it, same numbers
    redone = ex.run_link("vmf", "cora", 0, TINY, **kw)
    assert redone["metrics"] == r["metrics"]
    other = ex.LinkProfile(name="tiny", graphs=("cora",), seeds=(0,), epochs=4)
    with pytest.raises(ValueError, match="other parameters of profile 'tiny'"):
        ex.run_link("vmf", "cora", 0, other, **kw)


def test_missing_graph_is_one_line(tmp_path, monkeypatch, capsys):
    with pytest.raises(PlanetoidNotFoundError, match="not found in"):
        ex.run_link("normal", "cora", 0, TINY, out_root=tmp_path / "r",
                    results_root=tmp_path / "s", data_root=tmp_path / "empty")
    monkeypatch.setenv("HVAE_PLANETOID_DIR", str(tmp_path / "empty"))
    code = ex.main(["--experiment", "link", "--profile", "quick", "--allow-dirty",
                    "--out-root", str(tmp_path / "r"), "--results-root", str(tmp_path / "s")])
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if "error:" in line]  # the rest: the bar
    assert code == 1 and len(lines) == 1 and "Traceback" not in err
    assert lines[0].split("\r")[-1].startswith(
        "hvae.experiments: error: VGAE cora seed=0 (profile 'quick'): Planetoid data set "
        "'cora' not found in")


@pytest.mark.parametrize(("argv", "message"), [
    (["--dims", "5"], "--dims: not for --experiment link"),
    (["--graphs", "pubmed"], "--graphs: must be one of ('cora', 'citeseer')"),
    (["--profile", "huge"], "--profile: must be one of ('quick', 'full')"),
])
def test_cli_refuses_bad_arguments(argv, message, capsys, tmp_path):
    code = ex.main(["--experiment", "link", "--allow-dirty", "--results-root", str(tmp_path),
                    *argv])
    assert code == 1 and message in capsys.readouterr().err


def test_graphs_flag_only_for_link(capsys, tmp_path):
    assert ex.main(["--graphs", "cora", "--results-root", str(tmp_path)]) == 1
    assert "--graphs: only for --experiment link" in capsys.readouterr().err


def _run(graph, latent, seed, auc, ap):
    return {"graph": graph, "latent": latent, "seed": seed, "metrics": {"auc": auc, "ap": ap}}


def test_summary_and_gap_from_hand_computed_numbers():
    runs = [_run("cora", "vmf", s, a, 0.9) for s, a in enumerate((0.93, 0.94, 0.95))]
    runs += [_run("cora", "normal", s, a, 0.9) for s, a in enumerate((0.90, 0.91, 0.92))]
    runs += [_run("citeseer", "vmf", 0, 0.9, 0.9)]
    s = ex.summarize_link_runs(runs)
    assert s[("cora", "vmf")]["auc"]["mean"] == pytest.approx(0.94)
    assert s[("cora", "vmf")]["auc"]["std"] == pytest.approx(0.01)
    assert s[("cora", "normal")]["seeds"] == [0, 1, 2]
    assert math.isnan(s[("citeseer", "vmf")]["auc"]["std"])
    gap = ex.link_gap(s, "auc")
    assert set(gap) == {"cora"}  # citeseer has no VGAE runs
    # diff 0.03, se = sqrt(0.01^2/3 + 0.01^2/3) = 0.00816: 3.7 se, S-VGAE ahead
    assert gap["cora"]["diff"] == pytest.approx(0.03)
    assert gap["cora"]["se"] == pytest.approx(math.sqrt(2e-4 / 3))
    assert gap["cora"]["ahead"] == "S-VGAE"
    assert ex.link_gap(s, "ap")["cora"]["ahead"] == "level"  # equal, zero spread
    with pytest.raises(ValueError, match="^metric: must be one of"):
        ex.link_gap(s, "f1")


def test_paper_table4_matches_the_reference():
    t4 = ex.paper_table4()
    assert t4[("cora", "normal")] == {"auc": 91.4, "ap": 92.6}
    assert t4[("cora", "vmf")] == {"auc": 94.1, "ap": 94.1}
    assert t4[("citeseer", "normal")] == {"auc": 90.8, "ap": 92.0}
    assert t4[("citeseer", "vmf")] == {"auc": 94.7, "ap": 95.2}
    assert t4[("pubmed", "normal")] == {"auc": 94.4, "ap": 94.7}
    assert t4[("pubmed", "vmf")] == {"auc": 96.0, "ap": 96.0}
    t4[("cora", "vmf")]["auc"] = 0
    assert ex.paper_table4()[("cora", "vmf")]["auc"] == 94.1


def test_profiles():
    assert ex.LINK_FULL.seeds == tuple(range(10)) and ex.LINK_FULL.graphs == ("cora", "citeseer")
    assert ex.LINK_FULL.epochs == 200 and ex.LINK_FULL.lr == 0.01
    with pytest.raises(ValueError, match="^graphs: must be one of"):
        ex.LinkProfile(name="x", graphs=("pubmed",), seeds=(0,))
    with pytest.raises(ValueError, match="^seeds: must be a non-empty sequence"):
        ex.LinkProfile(name="x", graphs=("cora",), seeds=())
