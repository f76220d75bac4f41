"""Prefect flows over the engine: starting and advancing returns, recording checklist items
and handoffs, the scheduled sweeps and the managers' dashboard, and the deployments serving
them (``deployments.build_deployments``).

One flow per module, each thin over the engine (``runtime`` runs engine steps off the event
loop and keeps errors to their one-line message; ``refusals`` ends a refused run in a state of
its own, never a failure). Nothing personal reaches Prefect: run names, tags, logs, events,
artifacts and results carry case_refs, stages, codes and counts.
"""
