"""The ``botcap`` command: a thin Typer shell over the library, and the one exit-code policy.

Each package registers its own commands (``botcap.sim.cli``, ``botcap.loadtest.cli``,
``botcap.costmodel.cli``); this module adds the ``scenario`` group and turns ``BadInput`` into exit 2
with one line per problem.
Modules that would import Locust (gevent monkey-patching) are never imported here.
"""

from __future__ import annotations

import importlib
import sys

import typer
import yaml

from botcap.cliutil import JsonFlag, ScenarioFile, SetOption, emit_json, load, model_warnings
from botcap.errors import EXIT_BAD_INPUT, BadInput, IncompleteBundle

app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  help="Capacity planning and load simulation for a Telegram LLM bot platform.")
scenario_app = typer.Typer(no_args_is_help=True, help="Check and show scenario files.")
app.add_typer(scenario_app, name="scenario")

# Packages that add commands: each has a module with ``register(app: typer.Typer)``.
COMMAND_MODULES = (
    "botcap.sim.cli", "botcap.sim.calibrate.cli", "botcap.loadtest.cli", "botcap.costmodel.cli",
    "botcap.report.cli",
)


@scenario_app.command("validate")
def scenario_validate(file: ScenarioFile = None, set_: SetOption = None, json_: JsonFlag = False) -> None:
    """Check a scenario; exit 0 when valid, 2 with one line per problem when not."""
    scenario = load(file, set_)
    warnings = model_warnings(scenario)
    if json_:
        emit_json({"valid": True, "warnings": warnings, "scenario": scenario.model_dump(mode="json")})
    else:
        typer.echo(f"{file or 'default scenario'}: valid ({scenario.name})")


@scenario_app.command("show")
def scenario_show(file: ScenarioFile = None, set_: SetOption = None, json_: JsonFlag = False) -> None:
    """Print the fully resolved scenario (defaults filled in, --set applied) as YAML."""
    scenario = load(file, set_)
    data = scenario.model_dump(mode="json")
    if json_:
        emit_json(data)
    else:
        typer.echo(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), nl=False)


def _register_packages() -> None:
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(app)


_register_packages()


def main(argv: list[str] | None = None) -> int:
    """Entry point: runs a command and maps errors to the exit-code policy."""
    try:
        # click, when not standalone, returns typer.Exit's code instead of raising it
        code = app(args=argv, standalone_mode=False)
    except (BadInput, IncompleteBundle) as e:  # exit 2, or 1 for a bundle with nothing to judge
        for line in e.lines:
            sys.stderr.write(line + "\n")
        return e.exit_code
    except typer.Exit as e:
        return e.exit_code
    except typer.Abort:
        sys.stderr.write("aborted\n")
        return 130
    except typer.TyperException as e:  # usage errors (Typer's own click): bad option, no such command
        sys.stderr.write(f"{e.format_message()}\n")
        return EXIT_BAD_INPUT
    except BrokenPipeError:
        return 0
    return code if isinstance(code, int) else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

