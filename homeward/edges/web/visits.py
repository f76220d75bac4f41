"""The workspace's pages for follow-up visits and their monitoring form (issue 16)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
