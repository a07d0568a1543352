"""tests/golden/metrics.json is what `clue golden-metrics` writes today, and says what it claims."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from clue.cli import main
from clue.golden_metrics import golden_document, serialise, write_golden_metrics

REPO_ROOT = Path(__file__).resolve().parents[2]
COMMITTED = REPO_ROOT / "tests" / "golden" / "metrics.json"


def test_golden_metrics_file_is_up_to_date(tmp_path: Path) -> None:
    written = write_golden_metrics(tmp_path)
    assert written.name == "metrics.json"
    assert COMMITTED.read_bytes() == written.read_bytes(), (
        f"{COMMITTED} is stale: run `clue golden-metrics --out tests/golden/metrics.json`"
    )


def test_generation_is_deterministic() -> None:
    assert serialise(golden_document()) == serialise(golden_document())


def test_cli_writes_the_file(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "metrics.json"
    assert main(["golden-metrics", "--out", str(target)]) == 0
    assert target.read_bytes() == COMMITTED.read_bytes()
    assert not [p for p in target.parent.iterdir() if p.name.startswith(".")]  # no temp left


def test_cases_cover_ties_refusals_and_an_independent_auroc() -> None:
    document = json.loads(COMMITTED.read_text())
    cases = {case["name"]: case for case in document["cases"]}
    assert {"hand", "ties", "series", "quantised", "all-normal"} <= cases.keys()
    assert cases["hand"]["expected"]["pooled"]["auroc"] == {"value": 0.75}
    # The all-normal case must make both sides refuse, not produce a number.
    assert "both classes" in cases["all-normal"]["expected"]["pooled"]["auroc"]["error"]
    assert "positive" in cases["all-normal"]["expected"]["pooled"]["max_f1"]["error"]
    series = cases["series"]["expected"]["per_slice"]
    assert "error" in series[2]["auroc"] and "error" in series[3]["auroc"]
    # Ties are really there, and the stored AUROC agrees with scikit-learn's.
    ties = cases["ties"]["slices"][0]
    scores = np.asarray(ties["map"]["values"])
    labels = np.asarray(ties["mask"]["values"])
    assert np.unique(scores).size < scores.size / 4
    assert cases["ties"]["expected"]["pooled"]["auroc"]["value"] == pytest.approx(
        roc_auc_score(labels, scores), abs=1e-12
    )
