"""My work (``GET /``): the signed-in person's and their organisation's open items."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from homeward.edges.web import deps
from homeward.edges.web.deps import Viewer

router = APIRouter()


@router.get("/")
def my_work(request: Request, v: Viewer = Depends(deps.viewer)) -> Response:
    return deps.render(request, v, "mywork.html", active="mywork")
