"""Sign-in for people: the /login form, a session cookie, and the sign-out form.

The session cookie is HttpOnly, SameSite=Strict, Path=/ and Secure over HTTPS (or with GRIDMAP_COOKIE_SECURE); it
holds an opaque token whose hash is a row of auth_sessions, like a refresh token. Both forms carry a CSRF token
that only this server can make: bound to a cookie of the login form, or to the session. `next` is followed only
when it is a path on this site."""

from html import escape
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from api.accounts import tokens
from api.accounts.roles import ROLE_LABELS
from api.accounts.sessions import Authenticated, attempt_sign_in, find_session, from_session_cookie, sign_out
from api.accounts.tokens import Keys, csrf_matches, new_opaque_token, token_hash
from api.deps import CSRF_COOKIE, SESSION_COOKIE, EngineDep, KeysDep, SettingsDep
from api.errors import Forbidden, GridmapError, status_and_code
from api.routers.auth import client_of
from api.settings import Settings

router = APIRouter(include_in_schema=False)

LOGIN_CSRF_COOKIE = "gridmap_login_csrf"
LOGIN_FORM_SECONDS = 3600
MESSAGES = {401: "用户名或密码错误 (wrong login or password)", 429: "登录失败次数过多，请稍后再试 (too many attempts)"}
FORM_EXPIRED = "the sign-in form has expired or did not come from this site: open /login again"

PAGE = """<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>登录 — gridmap</title>
<style>body{{font-family:sans-serif;max-width:22rem;margin:4rem auto;padding:0 1rem}}
label{{display:block;margin:.8rem 0}}
input{{display:block;width:100%;padding:.4rem;box-sizing:border-box}}button{{margin-top:1rem;padding:.4rem 1.2rem}}
.error{{color:#b00020}}</style></head>
<body><h1>登录</h1>
{body}
</body></html>
"""


def safe_next(value: str | None) -> str:
    """`value` when it is a path on this site ('/maps/overview?x=1'), else '/': never '//host', a scheme, a
    backslash (browsers read '/\\\\host' as '//host') or control characters."""
    if not value or len(value) > 2000 or not value.startswith("/") or value.startswith("//"):
        return "/"
    if "\\" in value or any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value):
        return "/"
    parts = urlsplit(value)
    return "/" if parts.scheme or parts.netloc else value


def _secure(request: Request, settings: Settings) -> bool:
    return request.url.scheme == "https" or settings.cookie_secure


def _login_form(keys: Keys, form_cookie: str, next_path: str, login: str = "", message: str = "") -> str:
    token = tokens.csrf_token(keys, "login", token_hash(form_cookie))
    error = f'<p class="error" role="alert">{escape(message)}</p>' if message else ""
    return PAGE.format(
        body=f"""{error}<form method="post" action="/login">
<input type="hidden" name="csrf_token" value="{escape(token)}">
<input type="hidden" name="next" value="{escape(next_path)}">
<label>用户名<input name="username" autocomplete="username" required maxlength="64" value="{escape(login)}"></label>
<label>密码<input name="password" type="password" autocomplete="current-password" required></label>
<button type="submit">登录</button>
</form>"""
    )


def _signed_in_page(keys: Keys, auth: Authenticated, next_path: str) -> str:
    principal = auth.principal
    token = tokens.csrf_token(keys, "session", auth.session_hash or b"")
    role = ROLE_LABELS.get(principal.role, principal.role)
    return PAGE.format(
        body=f"""<p>已登录：{escape(principal.login)}（{escape(role)}）</p>
<p><a href="{escape(next_path)}">继续</a></p>
<form method="post" action="/logout"><input type="hidden" name="csrf_token" value="{escape(token)}">
<button type="submit">退出登录</button></form>"""
    )


def _form_response(request: Request, settings: Settings, keys: Keys, next_path: str, **shown) -> HTMLResponse:
    """The login form with a new form cookie (what its CSRF token is bound to)."""
    form_cookie = new_opaque_token()
    response = HTMLResponse(_login_form(keys, form_cookie, next_path, **shown), headers={"Cache-Control": "no-store"})
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        form_cookie,
        max_age=LOGIN_FORM_SECONDS,
        path="/login",
        httponly=True,
        samesite="strict",
        secure=_secure(request, settings),
    )
    return response


@router.get("/login")
def login_page(
    request: Request, engine: EngineDep, settings: SettingsDep, keys: KeysDep, next: str | None = None
) -> HTMLResponse:
    next_path = safe_next(next)
    cookie = request.cookies.get(SESSION_COOKIE)
    auth = find_session(engine, cookie) if cookie else None
    if auth is not None:
        return HTMLResponse(_signed_in_page(keys, auth, next_path), headers={"Cache-Control": "no-store"})
    return _form_response(request, settings, keys, next_path)


@router.post("/login", response_model=None)
def login_submit(
    request: Request,
    engine: EngineDep,
    settings: SettingsDep,
    keys: KeysDep,
    username: Annotated[str, Form(max_length=10_000)] = "",
    password: Annotated[str, Form(max_length=10_000)] = "",
    csrf_token: Annotated[str, Form(max_length=200)] = "",
    next: Annotated[str, Form(max_length=4000)] = "/",
) -> HTMLResponse | RedirectResponse:
    form_cookie = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not (form_cookie and csrf_matches(keys, "login", token_hash(form_cookie), csrf_token)):
        raise Forbidden(FORM_EXPIRED)
    next_path = safe_next(next)
    address, agent = client_of(request)
    issued = attempt_sign_in(
        engine, settings, login=username, password=password, address=address, user_agent=agent, kind="browser"
    )
    response: HTMLResponse | RedirectResponse
    if isinstance(issued, GridmapError):  # the form again, with the status and headers of api.errors' table
        status, _ = status_and_code(issued) or (401, "")
        response = _form_response(request, settings, keys, next_path, login=username[:64], message=MESSAGES[status])
        response.status_code = status
        response.headers.update(issued.headers)
        return response
    secure = _secure(request, settings)
    response = RedirectResponse(next_path, status_code=303)
    max_age = settings.refresh_token_days * 86400
    cookie = {"max_age": max_age, "path": "/", "samesite": "strict", "secure": secure}
    response.set_cookie(SESSION_COOKIE, issued.token, httponly=True, **cookie)  # type: ignore[arg-type]
    session_csrf = tokens.csrf_token(keys, "session", token_hash(issued.token))  # what GET /me gives too
    response.set_cookie(CSRF_COOKIE, session_csrf, httponly=False, **cookie)  # type: ignore[arg-type]
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


@router.post("/logout")
def logout_submit(
    request: Request, engine: EngineDep, keys: KeysDep, csrf_token: Annotated[str, Form(max_length=200)] = ""
) -> RedirectResponse:
    """End the browser session (the form on /login), then back to /login."""
    auth = from_session_cookie(engine, request.cookies.get(SESSION_COOKIE, ""))
    if not csrf_matches(keys, "session", auth.session_hash or b"", csrf_token):
        raise Forbidden(FORM_EXPIRED.replace("sign-in", "sign-out"))
    sign_out(engine, auth.family_id)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    response.delete_cookie(CSRF_COOKIE, path="/")
    return response
