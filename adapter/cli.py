"""The `ddfl-adapter` command: run the worker, check its health (replay, show, generate follow)."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import gc
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
    from .bootstrap import build
    from .worker.observability import configure_logging

    settings = Settings()
    configure_logging(settings.log_level, settings.log_format)
    # Each message allocates many short-lived objects (XML proxies, models); collecting the young
    # generation every 700 allocations costs more than it frees. Collect less often; freeze what
    # start-up built, so full collections do not walk it again and again.
    gc.set_threshold(50_000, 20, 100)
    gc.freeze()
    runtime = build(settings)
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
    print(
        f"{name}: {len(result.scenario.steps)} steps, {len(result.events)} events, "
        f"{len(result.scenario.expects)} expectations hold"
    )
    return 0


def _write_lines(path: Path, rows: list[dict]) -> None:
    with open(path, "w", encoding="utf-8") as out:
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")


def _show(args: argparse.Namespace) -> int:
    from .replay.show import render_office

    at = dt.datetime.fromisoformat(args.at) if args.at else None
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
        events = [json.loads(line) for line in args.events.read_text(encoding="utf-8").splitlines() if line.strip()]
        names = {}
    else:
        events, names = asyncio.run(_stored_view(args.store or Settings().store_url, args.office))
    text = render_office(events, names, office_her_id=args.office, at=at)
    print(text or f"Ingen behandlere med tjenester på Helsenorge ved kontor {args.office}.")
    return 0


async def _stored_view(url: str, office: int) -> tuple[list[dict], dict[str, str]]:
    """The availability the portal was last told for every practitioner of an office, from a store."""
    from .domain.state import PairState
    from .replay.runner import office_names
    from .store import open_store

    store = await open_store(url)
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
        return events, (await office_names(store, {office}))[office]
    finally:
        await store.close()


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
        help="what citizens see of an office's GPs, in Helsenorge's words",
        description="From the store (default: $DDFL_STORE_URL), from the end of a replay, or from an events file.",
    )
    show.add_argument("--office", type=int, required=True, help="the office's HER-id")
    source = show.add_mutually_exclusive_group()
    source.add_argument("--store", help="store URL (default: $DDFL_STORE_URL)")
    source.add_argument("--replay", type=Path, metavar="SCENARIO.yaml", help="replay this scenario and show its end")
    source.add_argument("--events", type=Path, metavar="EVENTS.jsonl", help="events written by `replay --events`")
    show.add_argument("--at", help="show the state at this instant (ISO 8601 with offset) instead of the latest")
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


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
