"""Edges: how people and other programs reach Homeward (the CLI, the demo, the import, the local
Prefect server). An edge parses, calls ``homeward.commands`` and prints; no engine rule lives here.
"""
