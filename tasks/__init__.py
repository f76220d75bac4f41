"""Checklist items: the versioned catalog of what each stage requires, and the work on items.

Owns ``catalog`` (one JSON file per process version, pinned per case), ``checklist`` (creating a
stage's items, recording them done or skipped, the leaving-a-stage check) and ``handoffs``
(handing an item to another organisation, which accepts or rejects it).
"""
