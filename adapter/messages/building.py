"""Builds domain commands so that a refusal by the model is one of our typed errors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)


def build(model: type[M], refuse: Callable[[str], Exception], **fields: Any) -> M:
    """`model(**fields)`, or raise `refuse(reason)`.

    The fields are checked before this is called; this is the guarantee that a model stricter
    than those checks still never lets a pydantic error escape. The reason names the fields,
    never their values, which may be personal data.
    """
    try:
        return model(**fields)
    except ValidationError as exc:
        reasons = "; ".join(
            f"{'.'.join(str(part) for part in error['loc']) or model.__name__}: {error['msg']}"
            for error in exc.errors(include_url=False, include_input=False, include_context=False)
        )
        raise refuse(reasons) from None
