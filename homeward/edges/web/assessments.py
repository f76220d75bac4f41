"""The workspace's pages for structured assessments and the service directory (issue 16)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
