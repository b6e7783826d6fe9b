"""A calibrated scenario says so in every output (issue 5); an uncalibrated one says nothing.

Through the real CLI (``botcap.cli.main``, in process so that the plots' texts can be read as they
are saved): ``sim run`` (--json, text, --out), ``sim capacity`` (JSON, text) and ``cost`` (--json,
text, --out, --from-sim). Short runs: half a simulated hour, one replication; a few seconds each.
"""

from __future__ import annotations

import io
import json
from contextlib import redirect_stdout
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib
import pytest
import yaml

matplotlib.use("Agg")
from matplotlib.figure import Figure  # noqa: E402

from botcap.cli import main  # noqa: E402
from botcap.provenance import calibration_facts, calibration_line, footnote  # noqa: E402
from botcap.scenario import load_scenario  # noqa: E402

MMC = Path(__file__).resolve().parents[1] / "sim" / "scenarios" / "mmc.yaml"
CAL = {"runs": ["ladder-2026-11-23", "ladder-2026-11-24"], "created_utc": "2026-11-24T01:02:03Z",
       "fitted_rates_per_s": [0.5, 2.0, 4.0], "held_out_rates_per_s": [1.0, 3.0],
       "max_holdout_error": {"throughput": 0.02, "p50": 0.05, "p95": 0.081},
       "claude_time_scale": 0.1, "notes": ["mcp: no samples, kept the prior"]}
FACTS = {k: v for k, v in CAL.items() if k != "notes"}
LINE = ("calibrated from runs: ladder-2026-11-23, ladder-2026-11-24 (2026-11-24T01:02:03Z; held-out max "
        "error throughput 2.0%, p50 5.0%, p95 8.1%; runs used fake Claude latency x0.1)")
SIM = ["--hours", "0.5", "--replications", "1", "--seed", "3"]
SIM_PLOTS = {"latency_cdf.png", "queues.png", "digests_per_minute.png"}
COST_PLOTS = {"cost_breakdown.png", "break_even.png", "tornado.png", "monte_carlo.png"}
COST = ["--draws", "200", "--set", "costs.prices.priced_on=2026-11-01"]


@dataclass
class Run:
    code: int
    out: str
    figures: dict[str, list[str]] = field(default_factory=dict)  # PNG name -> the figure's texts


def botcap(*args) -> Run:
    """``botcap ARGS`` in process: exit code, stdout, and the texts of every figure saved."""
    figures: dict[str, list[str]] = {}
    save = Figure.savefig

    def spy(fig, fname, *a, **k):
        figures[Path(fname).name] = [t.get_text() for t in fig.texts]
        return save(fig, fname, *a, **k)

    with pytest.MonkeyPatch.context() as mp, redirect_stdout(io.StringIO()) as buf:
        mp.setattr(Figure, "savefig", spy)
        code = main([str(a) for a in args])
    return Run(code, buf.getvalue(), figures)


def _write(path: Path, scenario) -> Path:
    """A whole resolved scenario file, as `botcap calibrate --out` writes one."""
    path.write_text(yaml.safe_dump(scenario.model_dump(mode="json"), sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("scenarios")
    calibrated = load_scenario(data={"calibration": CAL})
    assert calibrated.calibration is not None and load_scenario().calibration is None
    mmc_calibrated = load_scenario(MMC, data={"calibration": CAL})
    return {"calibrated": _write(d / "calibrated.yaml", calibrated),
            "plain": _write(d / "plain.yaml", load_scenario()),
            "mmc_calibrated": _write(d / "mmc_calibrated.yaml", mmc_calibrated),
            "mmc_plain": _write(d / "mmc_plain.yaml", load_scenario(MMC))}


@pytest.fixture(scope="module")
def sim_runs(files, tmp_path_factory) -> dict[str, tuple[Run, Run, Path]]:
    """Per scenario: (`sim run --json`, `sim run --out DIR` (text), DIR)."""
    runs = {}
    for name in ("calibrated", "plain"):
        out = tmp_path_factory.mktemp("sim") / name
        runs[name] = (botcap("sim", "run", files[name], *SIM, "--json"),
                      botcap("sim", "run", files[name], *SIM, "--out", out), out)
    return runs


# --- the module itself ------------------------------------------------------------------------
def test_facts_and_line_of_a_calibrated_scenario():
    sc = load_scenario(data={"calibration": CAL})
    assert calibration_facts(sc) == FACTS  # notes stay in the scenario file
    assert calibration_line(sc) == LINE
    # read back from JSON (a summary.json, cost.json): the same line
    assert calibration_line(json.loads(json.dumps(calibration_facts(sc)))) == LINE


def test_an_uncalibrated_scenario_has_no_facts_no_line_no_footnote():
    sc = load_scenario()
    assert calibration_facts(sc) is None and calibration_line(sc) is None
    assert calibration_facts(None) is None and calibration_facts({"runs": []}) is None
    fig = Figure(figsize=(7, 4))
    assert footnote(fig, sc) == 0.0 and fig.texts == []


def test_line_without_held_out_levels_or_time_scale():
    sc = load_scenario(data={"calibration": {"runs": ["a"], "created_utc": "2026-01-01T00:00:00Z"}})
    assert calibration_line(sc) == "calibrated from runs: a (2026-01-01T00:00:00Z; no held-out check)"


def test_footnote_names_every_run_even_when_it_must_wrap():
    runs = [f"runs/ladder-{i:02d}-with-a-long-bundle-name" for i in range(12)]
    sc = load_scenario(data={"calibration": {"runs": runs, "created_utc": "2026-01-01T00:00:00Z"}})
    fig = Figure(figsize=(7, 4))
    share = footnote(fig, sc)
    (text,) = [t.get_text() for t in fig.texts]
    assert text.count("\n") >= 2 and all(r in text.replace("\n", " ") for r in runs)
    assert 0 < share < 0.5 and share > footnote(Figure(figsize=(7, 4)), {"runs": ["a"]})


# --- botcap sim run ---------------------------------------------------------------------------
def test_sim_run_json_carries_the_calibration_object(sim_runs):
    run = sim_runs["calibrated"][0]
    assert run.code == 0
    s = json.loads(run.out)
    assert s["calibration"] == FACTS
    assert s["calibrated_from"] == CAL["runs"]  # the earlier key is kept as it was
    assert s["requests"]["completed"] > 0


def test_sim_run_text_out_and_plots_say_calibrated(sim_runs):
    _, text, out = sim_runs["calibrated"]
    assert text.code == 0
    assert LINE in text.out.splitlines()
    assert json.loads((out / "summary.json").read_text())["calibration"] == FACTS
    assert SIM_PLOTS <= {p.name for p in out.iterdir()}
    assert set(text.figures) == SIM_PLOTS
    for name, texts in text.figures.items():
        assert any(t.replace("\n", " ") == LINE for t in texts), name


def test_uncalibrated_sim_run_says_nothing(sim_runs):
    js, text, out = sim_runs["plain"]
    assert js.code == text.code == 0
    for doc in (json.loads(js.out), json.loads((out / "summary.json").read_text())):
        assert "calibration" not in doc and "calibrated_from" not in doc
    assert "calibrat" not in text.out
    assert set(text.figures) == SIM_PLOTS
    assert not any("calibrat" in t for texts in text.figures.values() for t in texts)


# --- botcap sim capacity ----------------------------------------------------------------------
@pytest.mark.parametrize("name", ["mmc_calibrated", "mmc_plain"])
def test_sim_capacity_json_and_text(files, name):
    args = ("sim", "capacity", files[name], "--hours", "0.2", "--replications", "1", "--tolerance", "0.5")
    js, text = botcap(*args, "--json"), botcap(*args)
    assert js.code == text.code == 0
    found = json.loads(js.out)
    assert found["capacity"] is not None
    if name == "mmc_calibrated":
        assert found["calibration"] == FACTS
        assert found["summary"]["calibration"] == FACTS
        assert text.out.splitlines()[0] == LINE
    else:
        assert "calibrat" not in js.out and "calibrat" not in text.out


# --- botcap cost ------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["calibrated", "plain"])
def test_cost_json_text_and_plots(files, tmp_path, name):
    out = tmp_path / "cost"
    js = botcap("cost", files[name], *COST, "--json")
    text = botcap("cost", files[name], *COST, "--out", out)
    assert js.code == text.code == 0
    d = json.loads(js.out)
    written = json.loads((out / "cost.json").read_text())
    assert set(text.figures) == COST_PLOTS and COST_PLOTS <= {p.name for p in out.iterdir()}
    if name == "calibrated":
        assert d["calibration"] == written["calibration"] == FACTS
        assert LINE in text.out.splitlines()
        for png, texts in text.figures.items():
            assert any(t.replace("\n", " ") == LINE for t in texts), png
            assert any(t.startswith("prices: ") for t in texts), png  # the price footer is still there
    else:
        assert "calibration" not in d and "calibration" not in written
        assert "calibrat" not in text.out
        assert not any("calibrat" in t for texts in text.figures.values() for t in texts)


def test_cost_from_a_calibrated_sim_summary_names_its_runs(files, sim_runs):
    summary = sim_runs["calibrated"][2] / "summary.json"
    js = botcap("cost", files["plain"], *COST, "--from-sim", summary, "--json")
    text = botcap("cost", files["plain"], *COST, "--from-sim", summary)
    assert js.code == text.code == 0
    d = json.loads(js.out)
    assert "calibration" not in d  # the scenario itself was not calibrated ...
    assert d["volumes"]["sim"]["calibration"] == FACTS  # ... but the tokens came from a calibrated sim
    assert f"sim summary {LINE}" in text.out.splitlines()
