"""The workspace's pages for ad-hoc items and appointments (issue 16)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
