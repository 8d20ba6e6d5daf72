"""Entry point: builds the typer app and maps every library error to one line on stderr and exit code 2.

Command modules import heavy dependencies (torch, plotly, scalesim) inside their command bodies so that
``hwsim --help`` and the cost commands start fast.
"""

from __future__ import annotations

import signal
import sys

import typer

from hwsim.cli import cost_cmds, nn_cmds, sweep_cmds, tech_cmds, trainsweep_cmds
from hwsim.errors import HwsimError

# typer >= 0.20 vendors click (typer._click); older releases raise click's own classes. Catch both families.
_USAGE_ERRORS: tuple[type[BaseException], ...] = (typer.TyperException,) if hasattr(typer, "TyperException") else ()
try:
    import click

    _USAGE_ERRORS += (click.ClickException,)
    _EXIT_TYPES: tuple[type[BaseException], ...] = (typer.Exit, click.exceptions.Exit)
    _ABORT_TYPES: tuple[type[BaseException], ...] = (typer.Abort, click.exceptions.Abort, KeyboardInterrupt)
except ImportError:  # pragma: no cover - typer without click
    _EXIT_TYPES = (typer.Exit,)
    _ABORT_TYPES = (typer.Abort, KeyboardInterrupt)

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130
# An error line is for a person: a 10,000-element bad list would otherwise make a 40 KB line.
MAX_ERROR_CHARS = 500


def one_line(message: str) -> str:
    """``message`` on one line (newlines folded), at most :data:`MAX_ERROR_CHARS` characters."""
    text = " ".join(str(message).split())
    return text if len(text) <= MAX_ERROR_CHARS else text[: MAX_ERROR_CHARS - 15] + " ... (truncated)"


def _root() -> None:
    """Hardware cost and Pareto exploration of head-pruned All-Attention language models on systolic arrays."""


def build_app() -> typer.Typer:
    app = typer.Typer(
        callback=_root,
        name="hwsim",
        help="Hardware cost and Pareto exploration of head-pruned All-Attention language models on systolic arrays.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        rich_markup_mode=None,
    )
    for module in (cost_cmds, nn_cmds, sweep_cmds, tech_cmds, trainsweep_cmds):
        module.register(app)

    @app.command("version")
    def version() -> None:
        """Print the hwsim version."""
        from hwsim import __version__

        print(__version__)

    return app


def run(argv: list[str] | None = None) -> int:
    """Run the CLI on ``argv`` and return the exit code (used by ``main`` and by the tests)."""
    interrupted: list[bool] = []

    def on_sigint(signum, frame):  # typer turns KeyboardInterrupt into a silent exit 130: remember it was Ctrl-C
        interrupted.append(True)
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGINT, on_sigint)
    except ValueError:  # not the main thread: keep the default handler
        previous = None
    try:
        code = _run(argv, interrupted)
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
    if interrupted and code == EXIT_INTERRUPTED:
        print("error: interrupted", file=sys.stderr)
    return code


def _run(argv: list[str] | None, interrupted: list[bool]) -> int:
    app = build_app()
    try:
        result = typer.main.get_command(app).main(args=argv, prog_name="hwsim", standalone_mode=False)
    except HwsimError as exc:
        print(one_line(f"error: {exc}"), file=sys.stderr)
        return EXIT_USER_ERROR
    except _EXIT_TYPES as exc:
        return int(getattr(exc, "exit_code", 0) or 0)
    except _USAGE_ERRORS as exc:
        if type(exc).__name__ == "NoArgsIsHelpError" and getattr(exc, "ctx", None) is not None:
            print(exc.ctx.get_help())
            return 0
        message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
        print(one_line(f"error: {message}"), file=sys.stderr)
        return EXIT_USER_ERROR
    except _ABORT_TYPES:
        interrupted.append(True)
        return EXIT_INTERRUPTED
    except OSError as exc:  # the environment, not the input: a full disk, a vanished file, a permission change
        where = f" {exc.filename}" if getattr(exc, "filename", None) else ""
        print(one_line(f"error: cannot access{where}: {exc.strerror or exc}"), file=sys.stderr)
        return EXIT_USER_ERROR
    except MemoryError:
        print("error: out of memory: the input asks for more than this machine has", file=sys.stderr)
        return EXIT_USER_ERROR
    return result if isinstance(result, int) else 0


def main() -> None:
    try:
        code = run()
    except KeyboardInterrupt:  # a second Ctrl-C while the first one is being handled
        print("error: interrupted", file=sys.stderr)
        code = EXIT_INTERRUPTED
    sys.exit(code)


if __name__ == "__main__":
    main()
