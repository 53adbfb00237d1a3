"""schemas/openapi.json: the read API's OpenAPI document, generated from the app.

`python -m adapter.api.openapi [schemas/openapi.json]` writes it; tests/api fails when the
committed file differs from what the code generates.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from .app import create_app
from .reads import Reader

DEFAULT_PATH = Path(__file__).resolve().parents[2] / "schemas" / "openapi.json"


class _NoReads:
    """Generating the document reads nothing."""

    async def fetchall(self, sql: str, params: Any) -> list[tuple[Any, ...]]:
        raise RuntimeError("no store behind the OpenAPI generator")

    async def close(self) -> None:
        pass


def document() -> dict[str, Any]:
    from ..store.sql import SQLITE

    def no_clock() -> Any:
        raise RuntimeError("no clock behind the OpenAPI generator")

    return create_app(Reader(_NoReads(), SQLITE), no_clock).openapi()


def render() -> str:
    return json.dumps(document(), indent=2, ensure_ascii=False, sort_keys=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    path = Path(args[0]) if args else DEFAULT_PATH
    path.write_text(render(), encoding="utf-8")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
