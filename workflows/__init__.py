"""Prefect flows over the engine: starting and advancing returns, sweeps, dashboards."""
