"""The workspace's pages for the reintegration plan and its services (issue 16)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
