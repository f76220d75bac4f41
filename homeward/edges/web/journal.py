"""The workspace's pages for the case journal and documents (issue 16)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
