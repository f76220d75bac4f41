"""My work (``GET /``): the signed-in person's and their organisation's open items (overdue
first, due today, coming up), handoffs waiting for their organisation and, for supervisors,
closure requests waiting for them. Filters (by case, stage, owner) travel in the query string:
case references and codes only."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from homeward.commands.mywork import OWNERS, MyWork
from homeward.edges.web import deps
from homeward.edges.web.deps import Problem, Viewer

router = APIRouter()


@router.get("/")
def my_work(
    request: Request,
    v: Viewer = Depends(deps.viewer),
    case: str = "",
    stage: str = "",
    owner: str = "",
) -> Response:
    filters = {"case": case.strip()[:32], "stage": stage[:32], "owner": owner[:16]}
    try:
        work = deps.call(
            v,
            MyWork(
                case=filters["case"] or None,
                stage=filters["stage"] or None,
                owner=filters["owner"] or None,
            ),
        )
    except Problem as problem:
        work = deps.call(v, MyWork())
        return deps.render(
            request,
            v,
            "mywork.html",
            active="mywork",
            work=work,
            filters=filters,
            owners=OWNERS,
            problem=problem,
            status_code=problem.status,
        )
    return deps.render(
        request, v, "mywork.html", active="mywork", work=work, filters=filters, owners=OWNERS
    )
