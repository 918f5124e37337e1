r"""The paper's experiments (Tables 1-3 on MNIST, Table 4 on citation graphs, Figure 1 on
the circle): profiles, runs, stored results.

The package in nine parts, each re-exported here:

* :mod:`~hvae.experiments.profiles`: every parameter of an experiment set-up
  (:class:`Profile`; ``quick``, the chapters' default, and ``full``, the paper's protocol).
* :mod:`~hvae.experiments.runs`: one run (:func:`run_mnist`: train, evaluate on the test split,
  store the result JSON with its provenance; resumable) and the stored runs
  (:func:`load_results`); :mod:`~hvae.experiments.provenance` records where a result came from.
* :mod:`~hvae.experiments.stats`: means and spreads over seeds (:func:`summarize_runs`) and the
  S-VAE minus N-VAE gap with its standard error (:func:`model_gap`).
* :mod:`~hvae.experiments.paper`: the published numbers (:func:`paper_table1`,
  :func:`paper_table2`; reference data, not results of this package), the models' names and
  the paper's headline.
* :mod:`~hvae.experiments.circle`: Figure 1's five models over seeds (:func:`run_circle`,
  :func:`circle_stability`, :func:`instability_verdict`), stored like the MNIST runs.
* :mod:`~hvae.experiments.semisupervised`: Table 3's M1 + M2 grid (:func:`run_m2`,
  :class:`SemiProfile`), its summary over seeds and the calls between pairs
  (:func:`pair_gap`, :func:`table3_verdict`).
* :mod:`~hvae.experiments.link_prediction`: Table 4's VGAE and S-VGAE runs on the citation
  graphs (:func:`run_link`, :class:`LinkProfile`), their summary and the S - N calls
  (:func:`link_gap`).
* :mod:`~hvae.experiments.scheduling`: a grid of runs in this process or as tasks on Dask
  (:func:`run_grid`, :func:`parse_scheduler`: ``--scheduler none | local[:N] |
  tcp://HOST:PORT``).
* :mod:`~hvae.experiments.report`: the sentences and text blocks the chapters print about
  stored runs (:func:`headline_verdict`, :func:`describe_stored`).

**Dimension convention.** ``dim`` is always the paper's *d*, the dimension of the latent
*manifold*, as in :class:`hvae.models.VAE`: the N-VAE with ``dim=d`` has codes in R^d, the
S-VAE with ``dim=d`` lives on S^d inside R^(d+1) (``code_dim = d + 1``). Every stored result
says so (``"dim_convention": "paper (manifold)"``).

**Command line** (``make reproduce``, :mod:`~hvae.experiments.cli`)::

    python -m hvae.experiments --profile full --device cuda [--dims 2 5] [--seeds 0 1]

loops over latent in (normal, vmf) x dims x seeds, skipping runs whose result and checkpoint
exist.
"""

from hvae.experiments.circle import (
    CIRCLE_MODELS,
    CIRCLE_PROFILES,
    KEEPS_RHO,
    CircleModel,
    CircleProfile,
    circle_metrics,
    circle_result_path,
    circle_stability,
    instability_verdict,
    load_circle_results,
    run_circle,
)
from hvae.experiments.cli import main
from hvae.experiments.link_prediction import (
    GRAPH_MODEL_NAMES,
    LINK_FULL,
    LINK_PROFILES,
    LINK_QUICK,
    LinkProfile,
    link_gap,
    link_result_path,
    link_run_dir,
    load_link_results,
    run_link,
    summarize_link_runs,
)
from hvae.experiments.paper import (
    METRICS,
    MODEL_NAMES,
    PAPER_HEADLINE,
    PAPER_LATENTS,
    PAPER_TABLE2_SIGNIFICANT,
    PAPER_TABLE3_SIGNIFICANT,
    paper_table1,
    paper_table2,
    paper_table3,
    paper_table4,
)
from hvae.experiments.profiles import (
    FULL,
    FULL_PROPOSAL,
    PROFILES,
    QUICK,
    QUICK_PROPOSAL,
    Profile,
    get_profile,
)
from hvae.experiments.provenance import (
    code_changed_since,
    device_description,
    environment_record,
    git_state,
)
from hvae.experiments.report import describe_stored, headline_verdict
from hvae.experiments.runs import (
    DIM_CONVENTION,
    load_results,
    result_path,
    run_dir,
    run_mnist,
    stored_result,
)
from hvae.experiments.scheduling import (
    CONNECT_TIMEOUT,
    GridReport,
    Job,
    Scheduler,
    expected_speedup,
    job_finished,
    parse_scheduler,
    run_grid,
)
from hvae.experiments.semisupervised import (
    PAIRS,
    QUICK_M1,
    SEMI_FULL,
    SEMI_PROFILES,
    SEMI_QUICK,
    SemiProfile,
    load_m2_results,
    m2_result_path,
    m2_run_dir,
    pair_gap,
    pair_name,
    run_m2,
    summarize_m2_runs,
    table3_verdict,
)
from hvae.experiments.stats import (
    gradient_gap,
    mean_and_sd,
    mean_difference,
    model_gap,
    summarize_runs,
)

__all__ = [
    "CIRCLE_MODELS",
    "CIRCLE_PROFILES",
    "CONNECT_TIMEOUT",
    "CircleModel",
    "CircleProfile",
    "DIM_CONVENTION",
    "FULL",
    "FULL_PROPOSAL",
    "GRAPH_MODEL_NAMES",
    "GridReport",
    "Job",
    "KEEPS_RHO",
    "LINK_FULL",
    "LINK_PROFILES",
    "LINK_QUICK",
    "LinkProfile",
    "METRICS",
    "MODEL_NAMES",
    "PAIRS",
    "PAPER_HEADLINE",
    "PAPER_LATENTS",
    "PAPER_TABLE2_SIGNIFICANT",
    "PAPER_TABLE3_SIGNIFICANT",
    "PROFILES",
    "Profile",
    "QUICK",
    "QUICK_M1",
    "QUICK_PROPOSAL",
    "SEMI_FULL",
    "SEMI_PROFILES",
    "SEMI_QUICK",
    "Scheduler",
    "SemiProfile",
    "circle_metrics",
    "circle_result_path",
    "circle_stability",
    "code_changed_since",
    "describe_stored",
    "device_description",
    "environment_record",
    "expected_speedup",
    "get_profile",
    "git_state",
    "gradient_gap",
    "headline_verdict",
    "instability_verdict",
    "job_finished",
    "link_gap",
    "link_result_path",
    "link_run_dir",
    "load_circle_results",
    "load_link_results",
    "load_m2_results",
    "load_results",
    "m2_result_path",
    "m2_run_dir",
    "main",
    "mean_and_sd",
    "mean_difference",
    "model_gap",
    "pair_gap",
    "pair_name",
    "paper_table1",
    "paper_table2",
    "paper_table3",
    "paper_table4",
    "parse_scheduler",
    "result_path",
    "run_circle",
    "run_dir",
    "run_grid",
    "run_link",
    "run_m2",
    "run_mnist",
    "stored_result",
    "summarize_link_runs",
    "summarize_m2_runs",
    "summarize_runs",
    "table3_verdict",
]
