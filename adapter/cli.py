"""The `ddfl-adapter` command: run the worker, check its health (replay, show, generate follow)."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import errno
import gc
import json
import logging
import os
import signal
import sys
import urllib.error
import urllib.request
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import unquote, urlsplit

from .config import ConfigurationError, Settings, load_settings, redacted
from .store.base import StoreInUse


def _settings_help() -> str:
    lines = ["configuration (environment variables):"]
    for name, field in Settings.model_fields.items():
        default = field.default if field.default is not None else "(unset)"
        lines.append(f"  DDFL_{name.upper():<24} {field.description} [default: {default}]")
    return "\n".join(lines)


def _run(args: argparse.Namespace) -> int:
    # A stop requested before the application is up has nothing in flight to finish: leave at
    # once, cleanly. FastStream replaces this handler with its graceful one when it starts.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: sys.exit(0))
    settings = load_settings()
    from .bootstrap import build
    from .worker.observability import configure_logging

    configure_logging(settings.log_level, settings.log_format)
    _collect_less()
    runtime = build(settings)
    _uvloop()
    return _serve(runtime.app.run(), settings)


def _collect_less() -> None:
    """Each message allocates many short-lived objects (XML proxies, models); collecting the young
    generation every 700 allocations costs more than it frees. Collect less often; freeze what
    start-up built, so full collections do not walk it again and again."""
    gc.set_threshold(50_000, 20, 100)
    gc.freeze()


def _uvloop() -> None:
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass


def _serve(main: Coroutine[Any, Any, None], settings: Settings, *, api: bool = False) -> int:
    """Run a long-lived command; a failure is one line for an operator (exit 1), with the
    traceback only under DDFL_LOG_LEVEL=DEBUG. `api`: the command serves DDFL_API_PORT."""
    try:
        asyncio.run(main)
    except Exception as error:
        logging.getLogger("ddfl.cli").error(
            startup_problem(error, settings, api=api),
            extra={"event": "DDFL-STARTUP-FAILED", "error": type(error).__name__},
            exc_info=settings.log_level == "DEBUG",
        )
        return 1
    return 0


def startup_problem(error: BaseException, settings: Settings, *, api: bool = False) -> str:
    """One line for an operator: what is wrong, which variable, what to do (`api`: the port in
    question is DDFL_API_PORT, `ddfl-adapter api`'s)."""
    chain = _chain(error)
    names = {type(e).__name__ for e in chain}
    text = " ".join(str(e) for e in chain)
    broker = redacted(settings.amqp_url)
    store = redacted(settings.store_url)
    for e in chain:
        if isinstance(e, OSError) and e.errno == errno.EADDRINUSE:
            if api:
                return (
                    f"DDFL_API_PORT: port {settings.api_port} is already in use: stop what listens there, "
                    "or set DDFL_API_PORT to a free port"
                )
            return (
                f"DDFL_HTTP_PORT: port {settings.http_port} is already in use: stop what listens there, "
                "or set DDFL_HTTP_PORT to a free port (or none to disable the read API, /health and /metrics)"
            )
    if sqlite := [e for e in chain if type(e).__module__ == "sqlite3"]:
        path = Path(settings.store_url.removeprefix("sqlite:///")).resolve()
        return (
            f"DDFL_STORE_URL: cannot open the SQLite store {path} ({_first_line(sqlite[-1])}): "
            "make sure its directory exists and is writable, or set DDFL_STORE_URL"
        )
    if any(type(e).__module__.startswith("psycopg") for e in chain):
        if "does not exist" in text:
            database = urlsplit(settings.store_url).path.lstrip("/")
            return (
                f"DDFL_STORE_URL: PostgreSQL database {database!r} does not exist at {store}: "
                f"create it (createdb {database}) or fix DDFL_STORE_URL"
            )
        return (
            f"DDFL_STORE_URL: cannot connect to PostgreSQL at {store} ({_postgres_reason(text)}): "
            "start it, or fix DDFL_STORE_URL"
        )
    if "ProbableAuthenticationError" in names or "AuthenticationError" in names:
        user = urlsplit(settings.amqp_url).username or "guest"
        return f"DDFL_AMQP_URL: RabbitMQ at {broker} refused the login of user {user!r}: fix the user and password"
    if "InvalidFrameError" in names and "Connection.OpenOk" in text:
        vhost = unquote(urlsplit(settings.amqp_url).path.lstrip("/")) or "/"
        return (
            f"DDFL_AMQP_URL: RabbitMQ at {broker} has no virtual host {vhost!r} open to this user: create it "
            f"(rabbitmqctl add_vhost {vhost}; rabbitmqctl set_permissions -p {vhost} USER '.*' '.*' '.*') "
            "or fix the vhost at the end of DDFL_AMQP_URL"
        )
    if unreachable := [e for e in chain if type(e).__name__ in ("AMQPConnectionError", "TimeoutError", "OSError")]:
        reason = unreachable[-1].args[-1] if unreachable[-1].args else "timed out"
        return f"DDFL_AMQP_URL: cannot reach RabbitMQ at {broker} ({reason}): start it, or fix DDFL_AMQP_URL"
    if "ChannelPreconditionFailed" in names:
        return (
            f"a queue exists on {broker} with other arguments than the adapter declares ({_first_line(error)}): "
            "delete it or choose another name (DDFL_*_QUEUE)"
        )
    if in_use := [e for e in chain if isinstance(e, StoreInUse)]:
        return f"DDFL_STORE_URL: {_first_line(in_use[0])}"
    return f"start-up failed: {type(error).__name__}: {_first_line(error)} (DDFL_LOG_LEVEL=DEBUG shows the traceback)"


def _chain(error: BaseException) -> list[BaseException]:
    """The error and what caused it, outermost first."""
    chain: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and current not in chain:
        chain.append(current)
        if isinstance(current, BaseExceptionGroup) and current.exceptions:
            current = current.exceptions[0]
        else:
            current = current.__cause__ or current.__context__
    return chain


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _postgres_reason(text: str) -> str:
    reason = text.strip().splitlines()[0] if text.strip() else "failed"
    return reason.rpartition(" failed: ")[2] or reason


def _api(args: argparse.Namespace) -> int:
    settings = load_settings()
    from .api.server import serve
    from .worker.observability import configure_logging

    configure_logging(settings.log_level, settings.log_format)
    token = settings.console_token.get_secret_value() if settings.console_token else None
    return _serve(serve(settings.store_url, settings.api_port, settings.api_host, token), settings, api=True)


def _health(args: argparse.Namespace) -> int:
    if args.url:
        url = args.url
    else:
        settings = load_settings()
        if settings.http_port is None:
            print(
                "health: DDFL_HTTP_PORT is none, so the adapter serves no /health: "
                "set DDFL_HTTP_PORT to the adapter's port, or pass --url",
                file=sys.stderr,
            )
            return 2
        url = f"http://127.0.0.1:{settings.http_port}/health"
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            print(response.read().decode())
            return 0
    except urllib.error.HTTPError as error:
        print(error.read().decode(), file=sys.stderr)
    except (OSError, ValueError) as error:
        print(f"unhealthy: {url}: {getattr(error, 'reason', error)}", file=sys.stderr)
    return 1


def _quiet_logging() -> None:
    """Replay and show run the adapter's code, whose refusals are logged as warnings: in a
    scenario they are expected. Only errors are shown, unless DDFL_LOG_LEVEL asks for more.
    Only when the process is ours (the command line), not when embedded (tests call `main`)."""
    from .worker.observability import configure_logging

    if not _OWN_PROCESS:
        return
    settings = load_settings()
    level = settings.log_level if "DDFL_LOG_LEVEL" in os.environ else "ERROR"
    configure_logging(level, settings.log_format)


def _replay(args: argparse.Namespace) -> int:
    from .replay.runner import progress_bar, run_scenario
    from .replay.scenario import ScenarioError

    _quiet_logging()
    if args.amqp_url:
        try:
            load_settings(amqp_url=args.amqp_url)
        except ConfigurationError as error:
            print(f"replay: {str(error).replace('DDFL_AMQP_URL', '--amqp-url')}", file=sys.stderr)
            return 2
    events, receipts = _Lines(args.events), _Lines(args.receipts)

    def written(new_events: list[str], new_receipts: list[str]) -> None:
        events.add(new_events)
        receipts.add(new_receipts)

    if _OWN_PROCESS:  # the command line's, not a test's embedding `main`
        _collect_less()
        _uvloop()
    try:
        # the rows go to the files only: the result keeps just what the expects are checked against
        result = run_scenario(args.scenario, amqp_url=args.amqp_url, progress=progress_bar(), sink=written, keep=False)
    except ScenarioError as error:
        print(f"invalid scenario: {error}", file=sys.stderr)
        return 2
    except Exception as error:
        if not args.amqp_url:
            raise  # a bug of ours, not a mistake of the user's: the traceback helps
        problem = startup_problem(error, load_settings(amqp_url=args.amqp_url))
        print(f"replay: {problem.replace('DDFL_AMQP_URL', '--amqp-url')}", file=sys.stderr)
        return 1
    finally:
        events.close()
        receipts.close()
    name = result.scenario.name
    if result.failures:
        for failure in result.failures:
            print(failure.describe(), file=sys.stderr)
        print(f"{name}: {len(result.failures)} of {len(result.scenario.expects)} expectations failed", file=sys.stderr)
        return 1
    print(
        f"{name}: {len(result.scenario.steps)} steps, {events.count} events, "
        f"{len(result.scenario.expects)} expectations hold"
    )
    return 0


class _Lines:
    """A JSON-lines file written as the replay goes (`tail -f` shows each batch once it is
    published); created with the first rows, so an invalid scenario leaves no file behind. Counts
    the rows, written or not."""

    def __init__(self, path: Path | None):
        self._path = path
        self._file: TextIO | None = None
        self.count = 0

    def add(self, lines: list[str]) -> None:
        """Rows as the replay writes them (`json.dumps(row, ensure_ascii=False)`), one a line."""
        self.count += len(lines)
        if self._path is None:
            return
        if self._file is None:
            self._file = open(self._path, "w", encoding="utf-8")  # noqa: SIM115  # closed by `close`
        self._file.writelines(f"{line}\n" for line in lines)
        self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()


class UsageError(Exception):
    """A mistake in the command line: one line on stderr, exit status 2."""


def _instant(value: str) -> dt.datetime:
    """An ISO 8601 instant with its UTC offset (argparse type for --at)."""
    try:
        instant = dt.datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not an ISO 8601 instant, e.g. 2023-12-27T12:00:00+01:00"
        ) from None
    if instant.tzinfo is None:
        raise argparse.ArgumentTypeError(
            f"{value!r} has no UTC offset: write e.g. {instant.isoformat()}+01:00 (Oslo in winter)"
        )
    return instant


def _show(args: argparse.Namespace) -> int:
    from .replay.show import render_office

    _quiet_logging()
    names: dict[str, str]
    try:
        if args.replay:
            from .replay.runner import run_scenario
            from .replay.scenario import ScenarioError

            try:
                result = run_scenario(args.replay)
            except ScenarioError as error:
                print(f"invalid scenario: {error}", file=sys.stderr)
                return 2
            events, names = result.events, result.names.get(args.office, {})
        elif args.events:
            events = _read_events(args.events)
            names = _directory_names(args.directory, args.office)
        else:
            url = args.store or load_settings().store_url
            try:
                events, names = asyncio.run(_stored_view(url, args.office))
            except UsageError:
                raise
            except Exception as error:  # the store cannot be read: say why in one line
                problem = startup_problem(error, load_settings(store_url=url))
                print(f"show: {problem.replace('DDFL_STORE_URL', '--store')}", file=sys.stderr)
                return 1
    except UsageError as error:
        print(f"show: {error}", file=sys.stderr)
        return 2
    text = render_office(events, names, office_her_id=args.office, at=args.at)
    print(text or f"Ingen behandlere med tjenester på Helsenorge ved kontor {args.office}.")
    return 0


def _read_events(path: Path) -> list[dict[str, Any]]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise UsageError(f"cannot read the events file {path}: {getattr(error, 'strerror', None) or error}") from None
    events = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            event = json.loads(line)
        except json.JSONDecodeError as error:
            raise UsageError(
                f"{path}, line {number}: not JSON ({error.msg}); write it with `replay --events`"
            ) from None
        if not isinstance(event, dict) or "type" not in event:
            raise UsageError(f"{path}, line {number}: not a portal event (no `type`)")
        events.append(event)
    return events


def _directory_names(path: Path | None, office: int) -> dict[str, str]:
    """The practitioners' names from the directory file (--directory or $DDFL_DIRECTORY), if any."""
    from .service.directory import load_directory

    path = path or load_settings().directory
    if path is None:
        return {}
    try:
        directory = load_directory(path)
    except Exception as error:
        raise UsageError(f"cannot read the directory {path}: {error}") from None
    return {hpr: p.name for hpr, p in directory.get(office, {}).items() if p.name}


async def _stored_view(url: str, office: int) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """The availability the portal was last told for every practitioner of an office, from a store."""
    from .domain.state import OfficeState, PairState
    from .replay.runner import office_names
    from .store import open_store

    store = await open_store(_existing_store(url))
    try:
        events = []
        async with store.transaction() as tx:
            for hpr in await tx.pairs_of_office(office):
                pair = PairState.from_json(await tx.get_pair(office, hpr) or "")
                view = pair.published.to_json()
                events.append(
                    {
                        "type": "availability.changed",
                        "office_her_id": office,
                        "practitioner_hpr": hpr,
                        "effective_at": pair.as_of.isoformat() if pair.as_of else "",
                        **view,
                    }
                )
            text = await tx.get_office(office)
            state = OfficeState.from_json(text) if text is not None else None
            if state is not None and state.booking_sequence > 0:  # the booking list last published
                events.append(
                    {
                        "type": "office.practitioners.changed",
                        "office_her_id": office,
                        "sequence": state.booking_sequence,
                        "practitioners": [entry.to_json() for entry in state.booking],
                    }
                )
        return events, (await office_names(store, {office}))[office]
    finally:
        await store.close()


def _existing_store(url: str) -> str:
    """`url` if it names a store that exists: reading must never create one (a typo would
    otherwise show an empty office from a new, empty database)."""
    try:
        url = load_settings(store_url=url).store_url
    except ConfigurationError as error:
        raise UsageError(str(error).replace("DDFL_STORE_URL", "--store", 1)) from None
    if url.startswith("sqlite:///"):
        path = url.removeprefix("sqlite:///")
        if path == ":memory:" or not Path(path).is_file():
            raise UsageError(f"no store at {Path(path).resolve()}: check the path (--store or DDFL_STORE_URL)")
    return url


def _generate(args: argparse.Namespace) -> int:
    from .replay.generate import generate

    scenario = generate(
        args.out,
        seed=args.seed,
        offices=args.offices,
        gps_per_office=args.gps_per_office,
        days=args.days,
        absence_rate=args.absence_rate,
        substitute_rate=args.substitute_rate,
        start=dt.date.fromisoformat(args.start),
    )
    print(scenario)
    return 0


def _contracts(args: argparse.Namespace) -> int:
    from . import contracts

    if args.check:
        stale = contracts.stale()
        for name in stale:
            print(f"schemas/{name} differs from what the code generates", file=sys.stderr)
        return 1 if stale else 0
    for path in contracts.write():
        print(path)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ddfl-adapter", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser(
        "run",
        help="run the adapter on RabbitMQ",
        description="Consume EPJ/AR XML and absence commands, publish portal events and receipts.",
        epilog=_settings_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run.set_defaults(handler=_run)
    api = commands.add_parser(
        "api",
        help="serve the read API (/v1) on DDFL_API_PORT, reading the store beside a running adapter",
        description="The portal's read side: availability per pair, per office and paged over all (docs/read-api.md); "
        "with DDFL_CONSOLE_TOKEN set, also the support console under /console (docs/console.md).",
    )
    api.set_defaults(handler=_api)
    health = commands.add_parser("health", help="exit 0 when the running adapter is healthy, else 1")
    health.add_argument("--url", help="health endpoint (default: http://127.0.0.1:$DDFL_HTTP_PORT/health)")
    health.set_defaults(handler=_health)
    replay = commands.add_parser(
        "replay",
        help="run a scenario file through the adapter and check its expectations",
        description="Exit status: 0 when every expectation holds, 1 when one fails, 2 when the scenario is invalid.",
    )
    replay.add_argument("scenario", type=Path, help="the scenario YAML file")
    replay.add_argument("--events", type=Path, metavar="OUT.jsonl", help="write every portal event, one per line")
    replay.add_argument("--receipts", type=Path, metavar="OUT.jsonl", help="write one line per inbound message")
    replay.add_argument("--amqp-url", help="run against this RabbitMQ instead of in memory")
    replay.set_defaults(handler=_replay)
    show = commands.add_parser(
        "show",
        help="what citizens see of an office's GPs and whom they can book with, in Helsenorge's words",
        description="From the store (default: $DDFL_STORE_URL), from the end of a replay, or from an events file.",
    )
    show.add_argument("--office", type=int, required=True, help="the office's HER-id")
    source = show.add_mutually_exclusive_group()
    source.add_argument("--store", help="store URL (default: $DDFL_STORE_URL)")
    source.add_argument("--replay", type=Path, metavar="SCENARIO.yaml", help="replay this scenario and show its end")
    source.add_argument("--events", type=Path, metavar="EVENTS.jsonl", help="events written by `replay --events`")
    show.add_argument(
        "--at", type=_instant, help="show the state at this instant (ISO 8601 with offset) instead of the latest"
    )
    show.add_argument(
        "--directory",
        type=Path,
        metavar="FILE",
        help="names for --events (default: $DDFL_DIRECTORY; format: run --help)",
    )
    show.set_defaults(handler=_show)
    gen = commands.add_parser("generate", help="write a deterministic synthetic fixture set and its scenario")
    gen.add_argument("out", type=Path, help="directory to write into")
    gen.add_argument("--seed", type=int, default=1)
    gen.add_argument("--offices", type=int, default=10)
    gen.add_argument("--gps-per-office", type=int, default=4)
    gen.add_argument("--days", type=int, default=30)
    gen.add_argument("--absence-rate", type=float, default=0.2, help="share of GPs who register an absence")
    gen.add_argument("--substitute-rate", type=float, default=0.05, help="share of GPs who get a substitute")
    gen.add_argument("--start", default="2024-06-01", help="first day (an Oslo date)")
    gen.set_defaults(handler=_generate)
    contracts = commands.add_parser("contracts", help="write schemas/portal-events.schema.json and asyncapi.json")
    contracts.add_argument("--check", action="store_true", help="only check that they are up to date")
    contracts.set_defaults(handler=_contracts)
    return parser


_OWN_PROCESS = False


def main(argv: list[str] | None = None) -> int:
    global _OWN_PROCESS
    _OWN_PROCESS = argv is None  # the command line, not a caller embedding the CLI
    args = build_parser().parse_args(argv)
    try:
        code: int = args.handler(args)
    except ConfigurationError as error:
        print(f"ddfl-adapter {args.command}: {error}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `ddfl-adapter show … | head`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    return code


if __name__ == "__main__":
    sys.exit(main())
