"""``botcap loadtest run`` as a library call: stack up, Locust headless, RunBundle written.

``run_load(RunOptions(...))`` starts the StagingStack unless a ``target`` webhook is given, runs
Locust (``locust_procs``) bounded in time (``--run-time``, then a hard deadline) and in requests (the
profile's cap or arrival schedule), watches CPU and the records, and writes the bundle
(``bundle.py``). ``run.json`` is written with ``complete: false`` before anything starts and only
becomes ``true`` when Locust ended by itself and every file was written: Ctrl-C, a crash or the
deadline leave an incomplete bundle, which the gate refuses.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import time
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from botcap.loadtest.harness import bundle as B
from botcap.loadtest.harness.external import Marks, check_external, hint, mark_windows, timelines, with_mix
from botcap.loadtest.harness.live import CpuMeter, LiveView, RecordTail
from botcap.loadtest.harness.locust_procs import LocustSpec
from botcap.loadtest.harness.locust_procs import start as start_locust
from botcap.loadtest.harness.percentiles import summary_by_kind
from botcap.loadtest.harness.profiles import Profile
from botcap.loadtest.harness.timeline import verdict
from botcap.loadtest.users.telegram import DEFAULT_TOKEN

from botcap.errors import BadInput
from botcap.scenario import Scenario, load_scenario

GRACE_S = 60.0   # beyond Locust's own --run-time and stop timeout before the harness kills it


@dataclass
class RunOptions:
    profile: Profile
    out: Path
    scenario: Scenario | None = None
    target: str | None = None            # a user's bot webhook URL (no staging stack)
    telegram_url: str | None = None      # with target: the fake Telegram API the bot uses
    bot_token: str = DEFAULT_TOKEN
    webhook_secret: str | None = None
    workers: int = 0
    instances: int = 1
    mode: str = "webhook"
    live: bool = True
    seed: int | None = None
    external_bot: bool = False           # a bot already connected to the fake at telegram_url
    reply_match: str = "next_message"    # next_message | reply_to | stream (users/telegram.py)
    max_error_rate: float = 0.5          # more failed requests than this: exit 1 with the reason
    stream_quiet_s: float = 1.0          # reply_match stream: silence that ends an answer
    claude_url: str | None = None        # external: the fake Claude API the bot uses (its call log)
    bot_pid: int | None = None           # external, local: the bot's process, for its CPU seconds
    mix: str | None = None               # --mix: kinds, shares and messages (users/messages.py)
    handler_cpu_s: float = 0.0           # staging knob: CPU each handler burns more (a slower build)

    @property
    def external(self) -> bool:
        return bool(self.target or self.external_bot)


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


def _get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.loads(r.read())


def _locust_version() -> str:
    from importlib.metadata import version
    return version("locust")


def _base_run_json(o: RunOptions, scenario: Scenario) -> dict[str, Any]:
    """The run's facts. A bot botcap did not start (``target: external``) gets no reference-stack
    labels (profile, Claude time scale) that do not apply to it: ``known`` says what is known."""
    import psutil
    p = o.profile
    settings = asdict(p)
    if o.external:
        settings.pop("claude_time_scale")
    return {
        "complete": False, "reason": "running",
        "target": "external" if o.external else "staging",
        "target_url": ", ".join(u for u in (o.telegram_url, o.target) if u) if o.external else None,
        "known": {"claude_url": o.claude_url, "bot_pid": o.bot_pid} if o.external else None,
        "profile": None if o.external else p.name,
        "workload": p.workload, "users": p.users, "arrivals": p.arrivals or None,
        "rate_per_s": None, "load_s": p.load_s, "max_requests": p.max_requests, "workers": o.workers,
        "claude_time_scale": None if o.external else p.claude_time_scale,
        "reply_match": o.reply_match, "reply_timeout_s": p.reply_timeout_s,
        "max_error_rate": o.max_error_rate,
        "stream_quiet_s": o.stream_quiet_s if o.reply_match == "stream" else None,
        "started_at": _now(), "ended_at": None, "duration_s": None,
        "locust_version": _locust_version(),
        "host": {"platform": platform.platform(), "python": platform.python_version(),
                 "cpus": psutil.cpu_count(), "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
                 "load_avg_1m": psutil.getloadavg()[0]},
        "profile_settings": settings, "scenario": scenario.model_dump(mode="json"),
    }


def run_load(o: RunOptions) -> dict[str, Any]:
    """Run one load test and write its RunBundle into ``o.out``; returns run.json's content."""
    o.out.mkdir(parents=True, exist_ok=True)
    if (o.out / B.RUN_JSON).exists() or (o.out / B.RECORDS).exists():
        raise BadInput(f"--out: {o.out} already holds a run (choose a new folder)")
    scenario = o.scenario or load_scenario()
    if o.mix:
        scenario = with_mix(scenario, o.mix)
    run = _base_run_json(o, scenario)
    B.write_run_json(o.out, run)
    scenario_file = o.out / "scenario.yaml"
    scenario_file.write_text(yaml.safe_dump(scenario.model_dump(mode="json"), sort_keys=False))
    stack = info = locust = host = token = None
    cpu = CpuMeter()
    cpu.watch({"harness": os.getpid()})   # this process: the live view, the marks, the stack's launch
    marks = Marks()
    try:
        if o.external:
            host, token, webhook, secret = o.telegram_url, o.bot_token, o.target, o.webhook_secret
            stack_json = {}
            run["known"].update(check_external(o))
            run["claude_time_scale"] = run["known"].get("claude_time_scale")
            if o.bot_pid:
                cpu.watch({"bot": o.bot_pid})
            cpu.watch(run["known"].get("fake_pids") or {})
        else:
            from botcap.loadtest.staging.stack import StagingStack
            stack = StagingStack(scenario=scenario, instances=o.instances, mode=o.mode,
                                 workdir=o.out / "stack", seed=o.seed,
                                 claude_time_scale=o.profile.claude_time_scale,
                                 handler_cpu_s=o.handler_cpu_s)
            info = stack.start()
            # the fake Telegram API delivers to the webhook itself (as Telegram does, max_connections
            # and all), or queues for getUpdates: either way the generator injects into the fake
            host, token, webhook, secret = info.telegram_api_url, info.bot_token, None, None
            stack_json = info.to_json()
            cpu.watch(info.pids)
            marks.claude_url = info.claude_api_url
        run["stack"] = stack_json
        if o.profile.workload == "digest":
            if info is None:
                raise BadInput("--profile digest: needs the staging stack's scheduler (no --target)")
            run["reason"] = _digest(o, run, info, scenario, cpu)
            return run
        spec = _locust_spec(o, scenario_file, host, token, webhook, secret)
        marks.start(host, token, o.claude_url if o.external else marks.claude_url)
        run["t0_unix_s"] = time.time()
        locust = start_locust(spec)
        cpu.watch(locust.pids)
        cpu.watch_shared_servers()
        cpu.reset()
        run["locust_exit_code"], run["reason"] = _supervise(o, spec, locust, cpu)
    except KeyboardInterrupt:
        run["reason"] = "interrupted (Ctrl-C)"
        if locust is not None:
            locust.interrupt()
            _wait(locust, 15)
    except BaseException as e:
        run["reason"] = f"crashed: {type(e).__name__}: {e}"[:500]
        if locust is not None:
            locust.kill()
        if not isinstance(e, Exception) or isinstance(e, BadInput):
            raise   # bad input stays exit 2 (after the incomplete bundle is written)
    finally:
        try:
            _finish(o, run, cpu, info, host_url=host, token=token, marks=marks)
        finally:
            if stack is not None:
                stack.stop()
    return run


def _digest(o: RunOptions, run: dict, info, scenario: Scenario, cpu: CpuMeter) -> str:
    from botcap.loadtest.harness.digest import digest_burst

    cpu.watch_shared_servers()
    cpu.reset()
    run["t0_unix_s"] = time.time()
    requests, digests, summary = digest_burst(
        telegram_url=info.telegram_api_url, token=info.bot_token, scheduler_url=info.scheduler_url,
        subscribers=o.profile.users,
        send_limit_per_s=scenario.platform.telegram.send_rate_per_s, timeout_s=o.profile.reply_timeout_s)
    with (o.out / B.RECORDS).open("w") as f:
        for rec in requests.to_dict("records"):
            f.write(json.dumps({"t": "req", **rec}) + "\n")
    digests.to_parquet(o.out / B.DIGESTS, index=False)
    run["digests"] = summary
    return "ok"


def _locust_spec(o: RunOptions, scenario_file: Path, host, token, webhook, secret) -> LocustSpec:
    p = o.profile
    options = {"bot-token": token, "reply-timeout": p.reply_timeout_s, "reply-match": o.reply_match,
               "stream-quiet": o.stream_quiet_s,
               "botcap-records": str(o.out / B.RECORDS), "seed": o.seed if o.seed is not None else 42}
    if webhook:
        options["webhook-url"] = webhook
    if secret:
        options["webhook-secret"] = secret
    if p.workload == "open":
        options["arrivals"] = p.arrivals
    elif p.max_requests:
        options["max-requests"] = p.max_requests
    if p.tour:
        options["tour"] = "1"
    env = {"BOTCAP_SCENARIO": str(scenario_file)}
    if p.think_time_s is not None:
        env["BOTCAP_THINK_TIME_S"] = str(p.think_time_s)
    return LocustSpec(class_name=p.class_name, host=host, users=p.users, run_time_s=p.run_time_s,
                      out=o.out, options=options, env=env, workers=o.workers,
                      stop_timeout_s=p.reply_timeout_s + 5)


def _supervise(o: RunOptions, spec: LocustSpec, locust, cpu: CpuMeter) -> tuple[int | None, str]:
    deadline = time.monotonic() + spec.run_time_s + spec.stop_timeout_s + GRACE_S + 60 * bool(o.workers)
    tail = RecordTail(o.out / B.RECORDS)
    label = f"external bot at {o.target or o.telegram_url}" if o.external \
        else f"{o.profile.name} → staging stack"
    with LiveView(tail, cpu, label, enabled=o.live) as view:
        while locust.main.poll() is None:
            if time.monotonic() > deadline:
                locust.kill()
                return None, f"timed out: Locust still running {GRACE_S:.0f} s after its run time"
            time.sleep(0.5)
            cpu.sample()
            tail.poll()
            view.update()
        locust.wait_workers()
        tail.poll()
        view.update()
    code = locust.main.returncode
    if code != 0:
        return code, f"Locust exited with code {code} (see locust.log)"
    return code, "ok"


def _wait(locust, timeout_s: float) -> None:
    try:
        locust.main.wait(timeout=timeout_s)
    except Exception:
        locust.kill()
    locust.wait_workers(5)


def _finish(o: RunOptions, run: dict, cpu: CpuMeter, info, host_url, token, marks: Marks) -> None:
    """Turn what the run left into the bundle's files; complete only if all of it worked."""
    cpu.sample()
    run["cpu"] = cpu.summary()
    if o.bot_pid and "bot" in run["cpu"]["processes"]:
        run["bot_cpu_s"] = run["cpu"]["processes"]["bot"]["cpu_s"]
    run["ended_at"] = _now()
    requests, drops = B.read_records(o.out / B.RECORDS)
    mark_windows(o.profile, requests)
    if o.profile.workload != "digest":
        try:
            timelines(o, run, requests, marks)
        except Exception as e:  # noqa: BLE001 - the requests stay true without the fakes' view; say so
            run["timeline_error"] = f"{type(e).__name__}: {e}"[:300]
    run["counts"] = {"requests": int(len(requests)), "ok": int(requests["ok"].sum()),
                     "failed": int((~requests["ok"]).sum()), "dropped": int(len(drops)),
                     "locust_requests": _locust_count(o.out)}
    if o.profile.workload == "open" and len(drops):
        run["counts"]["dropped_by_reason"] = drops["reason"].value_counts().to_dict()
    run["duration_s"] = _duration(o.profile, requests, run.get("t0_unix_s"))
    if o.profile.workload == "open":
        run["rate_per_s"] = (len(requests) + len(drops)) / o.profile.load_s
        run["levels"] = _levels(o.profile, requests, drops)
        _levels_cpu(run["levels"], cpu, bot="bot" if o.bot_pid else None)
        run["unanswered"] = {str(lv["level"]): lv["unanswered"] for lv in run["levels"]}
        _mark_steady(o.profile, requests)
    else:
        run["unanswered"] = {"0": int((~requests["ok"]).sum())}
    if info is not None:
        run["stages_rows"] = _collect_stages(info.stages_dir, o.out)
    if host_url and token:
        try:
            run["telegram_stats"] = _get_json(f"{host_url.rstrip('/')}/_fake/bot{token}/stats")["result"]
        except OSError as e:
            run["telegram_stats"] = {"error": str(e)}
    B.write_requests(o.out, requests)
    run["summary"] = summary_by_kind(requests, run["duration_s"] or 0.0)
    if o.profile.workload != "digest" and run["reason"] == "ok":
        run["verdict"] = verdict(run.get("match_check") or {"requests": len(requests), "matched": 0,
                                                             "takes_seen": 0, "sends_seen": 0,
                                                             "reply_match": o.reply_match},
                                 requests, o.max_error_rate, hint(o, run))
    if run["reason"] == "ok":
        run["complete"], run["reason"] = True, None
    B.write_run_json(o.out, run)


def _locust_count(out: Path) -> int | None:
    try:
        stats = pd.read_csv(out / "locust_stats.csv")
        return int(stats.loc[stats["Name"] == "Aggregated", "Request Count"].iloc[0])
    except (OSError, ValueError, IndexError, KeyError):
        return None


def _duration(p: Profile, requests: pd.DataFrame, t0: float | None) -> float | None:
    """Seconds of offered load: the schedule's length (open), else first send → last answer (closed)."""
    if p.workload == "open":
        return p.load_s
    if not len(requests):
        return None
    end = requests["replied_at"].fillna(requests["posted_at"]).max()
    return float(end - requests["sent_at"].min())


def _levels(p: Profile, requests: pd.DataFrame, drops: pd.DataFrame) -> list[dict]:
    """Per level: throughput counts only replies to requests sent in the level's window that came
    before its end; the late and the never-answered are counted beside it, not dropped."""
    out = []
    for i, seg in enumerate(p.segments):
        sent = requests[requests["level"] == i]
        ok = sent["ok"].astype(bool)
        in_window = sent["in_window"].astype(bool)
        dropped = int((drops["level"] == i).sum()) if len(drops) else 0
        out.append({"level": i, "rate_per_s": (seg.rate0 + seg.rate1) / 2, "duration_s": seg.duration_s,
                    "warmup_s": p.warmup_s, "sent": int(len(sent)), "dropped": dropped,
                    "window_start_at": _median(sent["window_start_at"]),
                    "window_end_at": _median(sent["window_end_at"]),
                    "answered_in_window": int(in_window.sum()), "late": int((ok & ~in_window).sum()),
                    "unanswered": int((~ok).sum()),
                    "throughput_per_s": int(in_window.sum()) / seg.duration_s,
                    "latency_s": summary_by_kind(sent, seg.duration_s)["all"]})
    return out


def _levels_cpu(levels: list[dict], cpu: CpuMeter, bot: str | None) -> None:
    """Each level's ``host_busy_cores``, ``other_work_cores`` and, with ``--bot-pid``, ``bot_cpu_s``: from
    its window's start to the next level's (the last level's to the run's end, its drain included)."""
    for i, lv in enumerate(levels):
        start = lv["window_start_at"]
        end = levels[i + 1]["window_start_at"] if i + 1 < len(levels) else cpu.series[-1][0] \
            if cpu.series else None
        if start is None or end is None:
            continue
        used = cpu.between(start, end)
        lv["host_busy_cores"] = used["host_busy_cores"]
        lv["other_work_cores"] = used["other_work_cores"]
        if bot is not None:
            lv["bot_cpu_s"] = used["cpu_s"].get(bot)


def _median(values: pd.Series) -> float | None:
    values = values.dropna()
    return float(values.median()) if len(values) else None


def _mark_steady(p: Profile, requests: pd.DataFrame) -> None:
    """``steady`` = sent after the first ``warmup_s`` of its level (queues settle after a step)."""
    if not len(requests):
        requests["steady"] = pd.Series(dtype=bool)
        return
    starts = np.concatenate([[0.0], np.cumsum([s.duration_s for s in p.segments])])
    t0 = float(requests["sent_at"].min())
    level_start = t0 + starts[requests["level"].fillna(0).astype(int).clip(0, len(starts) - 1)]
    requests["steady"] = (requests["sent_at"] - level_start) >= p.warmup_s


def _collect_stages(stages_dir: Path, out: Path) -> int:
    frames = [pd.read_json(f, lines=True) for f in sorted(Path(stages_dir).glob("stages-*.jsonl"))
              if f.stat().st_size]
    df = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    df.to_parquet(out / B.STAGES, index=False)
    return int(len(df))
