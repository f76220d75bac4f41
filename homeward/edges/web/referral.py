"""The workspace's pages for the NRM referral and the internal route (issue 16)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
