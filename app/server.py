"""The web server: Streamlit's own ASGI app (st.App) serving Home.py, plus the one endpoint Streamlit lacks —
setting the session cookie HttpOnly — and the model warm-up at start.

A Streamlit script cannot send a Set-Cookie header. After a correct password the page hands the new token
to this endpoint under a one-time code (xiaoshen/sessions.py `offer_token`); the page's browser posts the
code back here and receives the token as a signed cookie, HttpOnly (no script can read it), SameSite=Strict
(no other site's request carries it) and Secure over https. `xiaoshen app` runs `streamlit run` on this file.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import streamlit as st
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from xiaoshen.sessions import COOKIE_NAME, claim_token, sign, signing_key
from xiaoshen.settings import load_settings

sys.path.insert(0, str(Path(__file__).resolve().parent))  # `warmup` beside this file

SESSION_PATH = "/xiaoshen/session"
SIGN_OUT_PATH = "/xiaoshen/session/end"


def _cookie_key() -> bytes:
    access = load_settings().access
    return signing_key(access.sessions_path().with_suffix(".key"))


def _secure(request: Request) -> bool:
    return load_settings().access.cookie_secure or request.url.scheme == "https"


async def claim_session(request: Request) -> Response:
    """Exchange a one-time code for the session cookie (the page's own browser posts it, once)."""
    form = await request.form()
    token = claim_token(str(form.get("code", "")))
    if token is None:
        return Response("unknown or expired code", status_code=403)
    access = load_settings().access
    response = Response(status_code=204)
    response.set_cookie(COOKIE_NAME, sign(token, _cookie_key()), max_age=int(access.session_max_hours * 3600),
                        path="/", httponly=True, samesite="strict", secure=_secure(request))
    return response


async def end_session(request: Request) -> Response:
    """Forget the cookie in this browser (the session itself was ended on the server already)."""
    response = Response(status_code=204)
    response.delete_cookie(COOKIE_NAME, path="/", httponly=True, samesite="strict", secure=_secure(request))
    return response


@asynccontextmanager
async def lifespan(_app: Any) -> AsyncIterator[None]:
    # The models load in the background while the server already answers; pages say what is loading.
    # Even the import is left to that thread: the index and model libraries take seconds to import.
    def warm() -> None:
        import warmup

        warmup.start(load_settings())

    threading.Thread(target=warm, name="xiaoshen-warmup-start", daemon=True).start()
    yield


app = st.App("Home.py", routes=[Route(SESSION_PATH, claim_session, methods=["POST"]),
                                Route(SIGN_OUT_PATH, end_session, methods=["POST"])], lifespan=lifespan)
