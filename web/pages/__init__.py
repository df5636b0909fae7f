"""Server-rendered pages for people: sign-in, experiments, reports, admin."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import FastAPI, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from web.auth import CsrfFailed, RoleRequired, SignInRequired
from web.pages.admin import router as admin_router
from web.pages.common import TEMPLATES, render
from web.pages.experiments import router as experiments_router
from web.pages.preview import router as preview_router
from web.pages.report import router as report_router
from web.pages.signin import router as signin_router


def install(app: FastAPI) -> None:
    for router in (
        signin_router,
        experiments_router,
        report_router,
        preview_router,
        admin_router,
    ):
        app.include_router(router)
    app.mount(
        "/static", StaticFiles(directory=TEMPLATES.parent / "static"), name="static"
    )

    @app.exception_handler(SignInRequired)
    async def on_sign_in(request: Request, exc: SignInRequired) -> Response:
        target = request.url.path
        if request.url.query:
            target += "?" + request.url.query
        if request.method != "GET":
            target = "/"
        return RedirectResponse(
            f"/login?next={quote(target, safe='')}",
            status_code=status.HTTP_303_SEE_OTHER,
        )

    @app.exception_handler(RoleRequired)
    async def on_role(request: Request, exc: RoleRequired) -> HTMLResponse:
        return render(
            request,
            "error.html",
            {"title": "Not allowed", "message": str(exc) + "; ask an admin."},
            user=None,
            status_code=status.HTTP_403_FORBIDDEN,
        )

    @app.exception_handler(CsrfFailed)
    async def on_csrf(request: Request, exc: CsrfFailed) -> HTMLResponse:
        return render(
            request,
            "error.html",
            {
                "title": "Form expired",
                "message": "The form expired or was sent from another site. "
                "Go back, reload the page and try again.",
            },
            user=None,
            status_code=status.HTTP_403_FORBIDDEN,
        )
