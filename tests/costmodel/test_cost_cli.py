"""``botcap cost``: one JSON object with the contract's names; bad input exits 2 with one line."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from botcap.cli import main

CONTRACT = {"scenario", "prices", "tiers", "total", "break_even", "mitigations", "uncertainty"}


def test_json_is_one_object_with_the_contract_names():
    r = subprocess.run([sys.executable, "-m", "botcap.cli", "cost", "--json", "--draws", "500",
                        "--set", "costs.prices.priced_on=2026-11-01"],
                       capture_output=True, text=True, timeout=120, env={**os.environ, "COLUMNS": "200"})
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert CONTRACT <= set(d)
    for t in d["tiers"].values():
        for k in ("users", "cost_per_user_month_usd", "claude_per_user_month_usd",
                  "revenue_per_user_month_usd", "margin_per_user_month_usd"):
            assert k in t
    assert {"monthly_cost_usd", "monthly_revenue_usd"} <= set(d["total"])
    assert "paying_users" in d["break_even"]
    assert d["prices"]["source"] and len(d["prices"]["as_of"]) == 10
    for m in d["mitigations"].values():
        assert {"monthly_cost_usd", "monthly_saving_usd"} <= set(m)
    assert {"p5", "p50", "p95"} <= set(d["uncertainty"]["monthly_cost_usd"])


def _run(capsys, *args):
    code = main(["cost", *args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("args, needle", [
    (["--set", "costs.tiers.T1.share=0.5"], "costs.tiers: shares must sum to 1"),
    (["--set", "costs.revenue.payout_usd_per_star=0.02"], "payout_usd_per_star: must lie within"),
    (["--set", "costs.tiers.T1.content_cache_hit_rate={nope: 0.5}"],
     "costs.tiers.T1.content_cache_hit_rate.nope"),
    (["--set", "costs.tiers.T1.model_shares={chat_deep: {opus: 1}}"],
     "unknown model; allowed: haiku, sonnet"),
    (["--set", "costs.infra.neon.plan=enterprise"], "costs.infra.neon.plan: must be one of"),
    (["--set", "costs.mitigations.haiku_model=nope"], "costs.mitigations.haiku_model: must be one of"),
    (["--set", "platform.claude.models.haiku.api_model=claude-nope-1"],
     "no price for api_model 'claude-nope-1'"),
    (["--set", "costs.prices.override_file=/nonexistent/p.yaml"], "costs.prices.override_file: /nonexistent"),
    # genai-prices prices claude-opus-4-1 but has no Batch API variant for it: batching on it is refused
    (["--set", "platform.claude.models.sonnet.api_model=claude-opus-4-1",
      "--set", "costs.tiers.T1.batch_share={digest: 0.5}"],
     "costs.tiers.T1.batch_share.digest: claude-opus-4-1 has no Batch API price"),
    (["--draws", "-1"], "--draws: must be from 0 to 1,000,000 (got -1)"),
    (["--from-sim", "/nonexistent/summary.json"], "--from-sim /nonexistent/summary.json: no such file"),
])
def test_bad_input_exits_2_with_one_line_and_nothing_on_stdout(capsys, args, needle):
    code, out, err = _run(capsys, *args, "--json")
    assert code == 2
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], err


def test_out_writes_json_and_plots_atomically_and_replaces_an_earlier_output(capsys, tmp_path):
    out = tmp_path / "cost"
    for _ in range(2):
        code, stdout, err = _run(capsys, "--draws", "200", "--out", str(out))
        assert code == 0, err
    names = sorted(p.name for p in out.iterdir() if p.name != ".botcap-out.json")  # botcap's marker
    assert names == ["break_even.png", "cost.json", "cost_breakdown.png", "monte_carlo.png", "tornado.png"]
    assert (out / ".botcap-out.json").is_file()
    assert all((out / n).stat().st_size > 1000 for n in names)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cost"]          # no temporary folders left
    assert json.loads((out / "cost.json").read_text())["uncertainty"]["draws"] == 200
    assert "Claude share of cost" in stdout


def test_out_refuses_a_folder_that_is_not_an_earlier_cost_output(capsys, tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    code, out, err = _run(capsys, "--out", str(tmp_path), "--draws", "0")
    assert code == 2 and "already holds files botcap did not write" in err
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_from_sim_summary_rescales_claude_per_model(capsys, tmp_path, default_result):
    by_model = default_result.data["volumes"]["by_model"]
    # a sim that spent exactly the profiles' tokens, and one that spent twice the Sonnet tokens
    for mult in (1.0, 2.0):
        tokens = {m: {"input": v["input_tokens_per_day"] * (mult if m == "sonnet" else 1),
                      "output": v["output_tokens_per_day"] * (mult if m == "sonnet" else 1),
                      "cache_read": 0, "cache_write": 0} for m, v in by_model.items()}
        f = tmp_path / f"summary{mult}.json"
        f.write_text(json.dumps({"replications": 1, "simulated_s": 86400, "measured_s": 86400,
                                 "claude": {"tokens": tokens}}))
        code, out, err = _run(capsys, "--from-sim", str(f), "--draws", "0", "--json",
                              "--set", "costs.prices.priced_on=2026-11-01")
        assert code == 0, err
        d = json.loads(out)
        assert d["volumes"]["source"].startswith("sim summary")
        base = default_result.data["total"]["claude_monthly_usd"]
        sonnet = by_model["sonnet"]["monthly_usd"]
        assert d["total"]["claude_monthly_usd"] == pytest.approx(base + (mult - 1) * sonnet, rel=1e-9)


def test_a_partial_day_sim_is_scaled_by_its_share_of_the_diurnal_traffic(tmp_path, default_scenario):
    from botcap.costmodel.volumes import sim_tokens_per_day

    # one hour from 00:00, no warm-up: the default profile gives that hour 0.2 of 28.7 weight units
    f = tmp_path / "night.json"
    f.write_text(json.dumps({"replications": 2, "simulated_s": 3600, "warmup_s": 0, "measured_s": 7200,
                             "claude": {"tokens": {"claude-haiku-4-5": {"input": 1000, "output": 10}}}}))
    per_day = sim_tokens_per_day(f, default_scenario)
    assert per_day["haiku"]["input"] == pytest.approx(1000 / 2 / (0.2 / 28.7), rel=1e-9)
    # a whole day is scaled by time alone
    f.write_text(json.dumps({"replications": 1, "simulated_s": 87000, "warmup_s": 600, "measured_s": 86400,
                             "claude": {"tokens": {"haiku": {"input": 1000}}}}))
    assert sim_tokens_per_day(f, default_scenario)["haiku"]["input"] == pytest.approx(1000.0)


def test_a_model_without_a_batch_price_is_priced_and_the_batch_mitigation_says_it_left_it_out(capsys):
    """Older models in genai-prices have standard rates but no batch variant: the model is priced
    (it was refused whole), its tokens cost what genai-prices says, and the batch mitigation cannot
    count a discount nobody published: it saves nothing on that model and names it."""
    code, out, _ = _run(capsys, "--set", "platform.claude.models.sonnet.api_model=claude-opus-4-1",
                        "--draws", "0", "--json")
    assert code == 0
    d = json.loads(out)
    opus = d["prices"]["claude"]["sonnet"]
    assert opus["api_model"] == "claude-opus-4-1" and opus["batch"] is None
    assert opus["output_mtok_usd"] == 75.0
    batch, combined = d["mitigations"]["batch_digests"], d["mitigations"]["combined"]
    assert batch["batch_unpriced_models"] == ["claude-opus-4-1"] == combined["batch_unpriced_models"]
    assert d["mitigations"]["haiku_routing"]["batch_unpriced_models"] == []
    # digests run on Sonnet (here Opus 4.1) by default: with no batch price nothing is saved
    assert batch["monthly_saving_usd"] == 0.0
    code, out, _ = _run(capsys, "--set", "platform.claude.models.sonnet.api_model=claude-opus-4-1",
                        "--draws", "0")
    assert code == 0 and "not batched on claude-opus-4-1: no Batch API price" in out
