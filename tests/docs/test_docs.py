"""The docs stay true: every documented command and option exists, every documented JSON key appears in
a real run, the generated pages match the code, links resolve, no docstring cites a missing file.

Commands are checked in-process (Typer's CliRunner, ``--help``), so the whole file costs seconds.
"""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from botcap.cli import app, main

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
PAGES = sorted(DOCS.glob("*.md")) + [ROOT / "README.md"]
CODE_LINE = re.compile(r"^\s*(?:\$\s*)?botcap\s+(.+)$")
INLINE = re.compile(r"`botcap\s+([^`]+)`")
PLACEHOLDER = re.compile(r"^[A-Z][A-Z0-9_]*$")


def _load_gen_docs():
    spec = importlib.util.spec_from_file_location("gen_docs", ROOT / "scripts" / "gen_docs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ------------------------------------------------------------------------------ commands in the docs
def documented_commands(text: str) -> list[str]:
    """Every ``botcap ...`` invocation of a page: code lines starting with it, and inline code."""
    found, fenced = [], False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        m = CODE_LINE.match(line) if fenced else None
        if m:
            found.append(m.group(1).split(" #")[0].split("|")[0].strip())
        elif not fenced:
            found.extend(s.strip() for s in INLINE.findall(line))
    return found


def _resolve(words: list[str]):
    """(command path, the command, the rest of the words) walking the Typer tree."""
    node, path = typer.main.get_command(app), []
    rest = list(words)
    while rest and hasattr(node, "commands") and rest[0] in node.commands:
        path.append(rest[0])
        node = node.commands[rest.pop(0)]
    return path, node, rest


def _cases():
    out = []
    for page in PAGES:
        if page.is_file():
            for line in documented_commands(page.read_text(encoding="utf-8")):
                if not re.match(r"[a-z]", line):   # "`botcap ...`" in prose: no command named
                    continue
                out.append(pytest.param(line, id=f"{page.name}: botcap {line}"[:120]))
    return out


def test_the_pages_mention_commands_at_all():
    # the parser finds what the README shows (guards against a parser that silently finds nothing)
    readme = documented_commands((ROOT / "README.md").read_text(encoding="utf-8"))
    assert "sim run" in readme and any(c.startswith("cost") for c in readme)
    sample = "```\nbotcap gate g.yaml run/ --json  # a comment\n```\nsee `botcap cost --json`"
    assert documented_commands(sample) == ["gate g.yaml run/ --json", "cost --json"]


@pytest.mark.parametrize("line", _cases())
def test_every_documented_command_and_option_exists(line):
    words = line.split()
    path, cmd, rest = _resolve(words)
    assert path, f"botcap {line}: no such command"
    assert not hasattr(cmd, "commands"), f"botcap {line}: {' '.join(path)} is a group; sub-command " \
                                         f"{rest[0] if rest else '(none)'} does not exist"
    r = CliRunner().invoke(app, [*path, "--help"], prog_name="botcap")
    assert r.exit_code == 0, r.output
    known = {o for p in cmd.params for o in [*p.opts, *p.secondary_opts]} | {"--help"}
    for word in rest:
        if word.startswith("--"):
            option = word.split("=")[0]
            assert option in known, f"botcap {line}: {' '.join(path)} has no option {option}"


# ------------------------------------------------------------------------------- JSON keys documented
def key_blocks(text: str) -> dict[str, list[str]]:
    """``keys <command>`` fenced blocks of contracts.md: command -> the dotted paths listed."""
    blocks, current = {}, None
    for line in text.splitlines():
        if line.startswith("```keys "):
            current = line.removeprefix("```keys ").strip()
            blocks[current] = []
        elif line.startswith("```"):
            current = None
        elif current is not None and line.strip() and not line[0].isspace():   # indented: a comment
            blocks[current].append(line.split()[0])
    return blocks


def missing(obj, path: str) -> list[str]:
    """The parts of ``path`` absent from ``obj`` (an UPPERCASE segment: every key present there)."""
    head, _, tail = path.partition(".")
    if PLACEHOLDER.match(head):
        if not isinstance(obj, dict) or not obj:
            return [f"{head}: no entries"]
        return [f"{k}.{m}" for k, v in obj.items() for m in (missing(v, tail) if tail else [])]
    if not isinstance(obj, dict) or head not in obj:
        return [head]
    return [f"{head}.{m}" for m in missing(obj[head], tail)] if tail else []


RUNS = {
    # a short daytime window: every kind arrives, the 10:00 digests are scheduled, two replications
    "botcap sim run --json": ["sim", "run", "--json", "--hours", "0.25", "--replications", "2",
                              "--set", "workload.dau=2000", "--set", "horizon.warmup_s=60",
                              "--set", "horizon.start=09:50"],
    "botcap cost --json": ["cost", "--json", "--draws", "200"],
}


@pytest.fixture(scope="module")
def contract_blocks():
    return key_blocks((DOCS / "contracts.md").read_text(encoding="utf-8"))


def test_contracts_document_both_objects(contract_blocks):
    assert set(RUNS) <= set(contract_blocks)
    assert all(len(contract_blocks[c]) >= 20 for c in RUNS)


@pytest.mark.parametrize("command", sorted(RUNS))
def test_every_documented_json_key_is_in_a_real_output(command, contract_blocks, capsys):
    assert main(RUNS[command]) == 0
    doc = json.loads(capsys.readouterr().out)
    problems = {p: m for p in contract_blocks[command] if (m := missing(doc, p))}
    assert problems == {}, f"{command}: documented but absent: {problems}"


def test_the_key_checker_catches_a_missing_key():
    doc = {"a": {"x": {"p95": 1}, "y": {"p50": 2}}, "b": 1}
    assert missing(doc, "b") == [] and missing(doc, "a.KIND.p95") == ["a.y.p95"]
    assert missing(doc, "c.d") == ["c"] and missing({"a": {}}, "a.KIND") == ["a.KIND: no entries"]


# ----------------------------------------------------------------------------------- generated pages
@pytest.mark.parametrize("name", ["cli.md", "scenario.md"])
def test_the_generated_pages_are_up_to_date(name):
    gen = _load_gen_docs()
    assert (DOCS / name).read_text(encoding="utf-8") == gen.GENERATED[name](), \
        f"docs/{name} is out of date: run python scripts/gen_docs.py"


def test_the_generated_pages_cover_every_command_and_scenario_field():
    gen = _load_gen_docs()
    cli = gen.cli_markdown()
    root = typer.main.get_command(app)
    for group in ("scenario", "sim"):
        for name in root.commands[group].commands:
            assert f"## `botcap {group} {name}`" in cli
    from botcap.scenario.model import Platform

    scenario = gen.scenario_markdown()
    for name in Platform.model_fields:
        assert f"| `platform.{name}` |" in scenario


# ------------------------------------------------------------------------------- links and citations
def test_every_relative_link_of_the_docs_resolves():
    broken = []
    for page in PAGES:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text(encoding="utf-8")):
            if "://" not in target and not (page.parent / target).exists():
                broken.append(f"{page.relative_to(ROOT)} -> {target}")
    assert broken == []


def test_no_docstring_cites_a_design_file_outside_the_repository():
    stale = [str(p.relative_to(ROOT)) for folder in ("botcap", "sim", "loadtest", "costmodel")
             for p in (ROOT / folder).rglob("*.py") if "CONTRACTS.md" in p.read_text(encoding="utf-8")]
    assert stale == []


def test_gen_docs_check_names_a_stale_page_and_writing_fixes_it(tmp_path, monkeypatch, capsys):
    gen = _load_gen_docs()
    monkeypatch.setattr(gen, "DOCS", tmp_path)
    assert gen.main(["--check"]) == 1                       # nothing written yet: both stale
    assert "docs/cli.md is out of date" in capsys.readouterr().err
    assert gen.main([]) == 0 and gen.main(["--check"]) == 0
    (tmp_path / "scenario.md").write_text("edited by hand\n", encoding="utf-8")
    assert gen.main(["--check"]) == 1
    assert capsys.readouterr().err == "docs/scenario.md is out of date: run python scripts/gen_docs.py\n"
