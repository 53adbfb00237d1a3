"""The `ddfl-adapter` command: run the worker, check its health (replay, show, generate follow)."""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
import urllib.error
import urllib.request
from pathlib import Path

from .config import Settings


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
    from .worker.observability import configure_logging
    from .worker.runtime import Runtime

    settings = Settings()
    configure_logging(settings.log_level, settings.log_format)
    runtime = Runtime(settings)
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(runtime.app.run())
    return 0


def _health(args: argparse.Namespace) -> int:
    settings = Settings()
    url = args.url or f"http://127.0.0.1:{settings.http_port}/health"
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            print(response.read().decode())
            return 0
    except urllib.error.HTTPError as error:
        print(error.read().decode(), file=sys.stderr)
    except OSError as error:
        print(f"unhealthy: {error}", file=sys.stderr)
    return 1


def _replay(args: argparse.Namespace) -> int:
    from .replay.runner import progress_bar, run_scenario
    from .replay.scenario import ScenarioError

    try:
        result = run_scenario(args.scenario, amqp_url=args.amqp_url, progress=progress_bar())
    except ScenarioError as error:
        print(f"invalid scenario: {error}", file=sys.stderr)
        return 2
    if args.events:
        _write_lines(args.events, result.events)
    if args.receipts:
        _write_lines(args.receipts, result.receipts)
    name = result.scenario.name
    if result.failures:
        for failure in result.failures:
            print(failure.describe(), file=sys.stderr)
        print(f"{name}: {len(result.failures)} of {len(result.scenario.expects)} expectations failed", file=sys.stderr)
        return 1
    print(f"{name}: {len(result.scenario.steps)} steps, {len(result.events)} events, "
          f"{len(result.scenario.expects)} expectations hold")
    return 0


def _write_lines(path: Path, rows: list[dict]) -> None:
    with open(path, "w", encoding="utf-8") as out:
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")


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
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
