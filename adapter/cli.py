"""The `ddfl-adapter` command: run the worker, check its health (replay, show, generate follow)."""

from __future__ import annotations

import argparse
import asyncio
import sys
import urllib.error
import urllib.request

from .config import Settings


def _settings_help() -> str:
    lines = ["configuration (environment variables):"]
    for name, field in Settings.model_fields.items():
        default = field.default if field.default is not None else "(unset)"
        lines.append(f"  DDFL_{name.upper():<24} {field.description} [default: {default}]")
    return "\n".join(lines)


def _run(args: argparse.Namespace) -> int:
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
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
