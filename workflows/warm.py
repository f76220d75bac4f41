"""What ``homeward up``'s fork server does once, so that no run's process does it again.

The fork server (``workflows.serving``) imports this module when it starts, before any run:
every run's process is forked from it with all of this done. Only code and in-memory
structures: no settings are read, no database engine or connection is made, no keyring is
read and no socket is opened here (those belong to each run, after the fork, with the runner's
environment as it is then).

- the flows (``workflows.deployments``) and what they import;
- every table class defined (``homeward.base.models`` defines each when first named) and the
  ORM's mappers configured (SQLAlchemy does it at a process's first query: about a quarter of
  a run's first command);
- the context models Prefect rebuilds in every run's process before the flow starts;
- the modules a run's process otherwise imports on its way (anyio's asyncio backend, the
  IDNA codec httpx uses for the API's host name);
- everything loaded by then moved out of the garbage collector's reach (``gc.freeze``): a
  run's process would otherwise walk all of it in its first full collection, 50-80 ms of a
  sweep's 120-250 ms of CPU (issue 19, point 7); these objects live as long as the process;
- the young generation collected every ``YOUNG`` net allocations instead of 700: a run keeps
  what it reads (a sweep's pages, rows and digests) and met about a hundred collections on the
  way, 20 ms of a 20,000-case sweep's 250, a handful from here (its garbage is freed by
  reference counting all the same; only cycles wait a little longer).
"""

from __future__ import annotations

import gc
import importlib

from prefect._internal.result_records import ResultRecordMetadata
from prefect.context import FlowRunContext, TaskRunContext
from prefect.flows import Flow
from prefect.tasks import Task
from sqlalchemy.orm import configure_mappers

import workflows.deployments  # noqa: F401  (the flows, registered by name)
from homeward.base.models import load_all_tables

LATE_IMPORTS = ("anyio._backends._asyncio", "encodings.idna", "stringprep")
YOUNG = 10_000  # the first generation's threshold (CPython's default: 700)


def warm() -> None:
    """Do what every run's process would do first (idempotent)."""
    load_all_tables()  # a run may use any table (homeward.base.models defines them when named)
    configure_mappers()
    types = {"Flow": Flow, "Task": Task, "ResultRecordMetadata": ResultRecordMetadata}
    FlowRunContext.model_rebuild(_types_namespace=types)  # as prefect.context.hydrated_context
    TaskRunContext.model_rebuild(_types_namespace=types)
    for name in LATE_IMPORTS:
        importlib.import_module(name)
    gc.collect()  # what is garbage already is not frozen with the rest
    gc.freeze()
    gc.set_threshold(YOUNG, *gc.get_threshold()[1:])


warm()
