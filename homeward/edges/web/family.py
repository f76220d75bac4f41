"""The workspace's pages for the people of a family case and finding a case by name (issue 16)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
