"""The Typer application, global options and the error boundary."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Annotated

import typer
from rich.console import Console

from funnelbridge import __version__
from funnelbridge.errors import FunnelbridgeError
from funnelbridge.settings import Settings, load_settings

__all__ = ["State", "app", "console", "err_console", "main", "state"]

console = Console()
err_console = Console(stderr=True)

app = typer.Typer(
    name="funnelbridge",
    help="Run the whole revenue funnel — marketing and sales — as one pipeline.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@dataclass
class State:
    """What the global options set; commands read it through :func:`state`."""

    debug: bool = False
    _settings: Settings | None = field(default=None)

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings()
        return self._settings


_STATE = State()


def state() -> State:
    """The CLI's global state (debug flag, lazily loaded settings)."""
    return _STATE


def _version(value: bool) -> None:
    if value:
        console.print(f"funnelbridge {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    debug: Annotated[bool, typer.Option("--debug", help="Show full tracebacks on errors.")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """funnelbridge: playbook-as-code funnel engine."""
    _STATE.debug = debug


def main(argv: list[str] | None = None) -> int:
    """Console-script entry point: run the app and turn errors into one clear line."""
    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    try:
        app(args=argv, standalone_mode=False)
    except FunnelbridgeError as exc:
        if debug:
            raise
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        return 1
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort:
        err_console.print("aborted")
        return 130
    except KeyboardInterrupt:
        err_console.print("interrupted")
        return 130
    except Exception as exc:
        show, code = getattr(exc, "show", None), getattr(exc, "exit_code", None)
        if callable(show) and isinstance(code, int):  # usage errors of Typer's (vendored) click
            show()
            return code
        if debug:
            raise
        err_console.print(
            f"[bold red]internal error:[/] {type(exc).__name__}: {exc} (run with --debug for the traceback)",
            highlight=False,
            soft_wrap=True,
        )
        return 2
    return 0
