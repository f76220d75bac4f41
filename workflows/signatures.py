"""A flow function's wrapper, seen by Prefect as the flow's own function."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, TypeVar, get_type_hints

W = TypeVar("W", bound=Callable[..., Any])


def with_signature_of(wrapper: W, fn: Callable[..., Any]) -> W:
    """``wrapper`` with ``fn``'s signature and type hints, resolved already: Prefect validates a
    call's parameters against the signature, resolving names in the wrapper's module, which
    may not have the flow's."""
    wrapper.__signature__ = inspect.signature(fn, eval_str=True)  # type: ignore[attr-defined]
    wrapper.__annotations__ = get_type_hints(fn, include_extras=True)
    return wrapper
