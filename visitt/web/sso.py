"""The single sign-on pages: off to the identity provider (``/staff/sso``), back from it
(``/staff/sso/callback``), and the address signing out ends at (:func:`signed_out_target`).

A sign-in that the provider vouched for opens the same browser session as the password form
(:func:`visitt.accounts.open_session`); every decision is one audit row, with the reason and never
the person's claims.
"""

from __future__ import annotations

from anyio import from_thread
from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, Response

from visitt import accounts
from visitt.errors import NotFound, RateLimited
from visitt.sso import NO_ACCESS, PENDING_SECONDS, Pending, RelyingParty, SignedIn, SignInRefused, staff_for
from visitt.store import audit
from visitt.web import clock
from visitt.web.i18n import translations
from visitt.web.pages import language, render
from visitt.web.security import SESSION_COOKIE

router = APIRouter(include_in_schema=False)
PENDING_COOKIE = "visitt_sso"
PENDING_PATH = "/staff/sso"


def _relying_party(request: Request) -> RelyingParty:
    party: RelyingParty | None = request.app.state.sso
    if party is None:
        raise NotFound("Single sign-on is not set up.")
    return party


def _refused(request: Request, refusal: SignInRefused) -> Response:
    gettext = translations(language(request)).gettext
    title = gettext("No access") if refusal.message == NO_ACCESS else gettext("Sign-in failed")
    response = render(request, "message.html", status_code=refusal.status, title=title,
                      text=gettext(refusal.message), link="/staff/login", link_text=gettext("Back to sign-in"))
    response.delete_cookie(PENDING_COOKIE, path=PENDING_PATH)
    return response


def _too_many(request: Request, error: RateLimited) -> Response:
    lang = language(request)
    gettext = translations(lang).gettext
    text = gettext(error.message).format(duration=clock.wait(error.retry_after or 1, lang))
    response = render(request, "message.html", status_code=error.status, title=gettext("Sign-in failed"), text=text,
                      link="/staff/login", link_text=gettext("Back to sign-in"))
    response.headers["Retry-After"] = str(error.retry_after)
    return response


@router.get("/staff/sso")
async def start(request: Request) -> Response:
    """Send the browser to the identity provider, with a new ``state``, ``nonce`` and PKCE verifier
    kept in a cookie for this path only, for as long as a sign-in may take."""
    party = _relying_party(request)
    pending = Pending.new()
    try:
        url = await party.authorization_url(pending)
    except SignInRefused as refusal:
        await run_in_threadpool(_record_refusal, request, refusal.reason)
        return _refused(request, refusal)
    response = RedirectResponse(url, status_code=303)
    # SameSite=Lax: the provider's redirect back is a top-level GET from another site, which Lax lets through
    response.set_cookie(PENDING_COOKIE, pending.cookie(), max_age=PENDING_SECONDS, path=PENDING_PATH, httponly=True,
                        samesite="lax", secure=request.app.state.settings.secure_cookies)
    return response


@router.get("/staff/sso/callback")
async def callback(request: Request) -> Response:
    """The provider sends the browser back here: the code is redeemed, the ID token checked, and the
    staff member it names signed in, or refused with a page that says why."""
    party = _relying_party(request)
    # A refused return counts as a failed sign-in from this address, in the one limiter: each return costs a
    # request to the provider, and a flood of forged ones must not become Visitt's flood of the provider.
    limiter, address = request.app.state.limiter, request.client.host if request.client else ""
    try:
        limiter.check("login_address", address, message=accounts.TOO_MANY, code="too_many_sign_ins")
    except RateLimited as error:
        await run_in_threadpool(_record_refusal, request, "too_many")
        return _too_many(request, error)
    try:
        pending = Pending.from_cookie(request.cookies.get(PENDING_COOKIE))
        signed_in = await party.finish(pending, dict(request.query_params))
        token = await run_in_threadpool(_sign_in, request, signed_in)
    except SignInRefused as refusal:
        limiter.hit("login_address", address)
        await run_in_threadpool(_record_refusal, request, refusal.reason)
        return _refused(request, refusal)
    settings = request.app.state.settings
    response = RedirectResponse("/staff", status_code=303)
    response.delete_cookie(PENDING_COOKIE, path=PENDING_PATH)
    response.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="lax", secure=settings.secure_cookies,
                        max_age=settings.session_hours * 3600, path="/")
    return response


def _sign_in(request: Request, signed_in: SignedIn) -> str:
    """The session token for the staff member ``signed_in`` names (:class:`SignInRefused` if none may)."""
    settings = request.app.state.settings
    with request.app.state.database.session() as session:
        staff = staff_for(session, signed_in.claims, claim=settings.oidc_claim,
                          department_claim=settings.oidc_department_claim)
        token = accounts.open_session(session, staff, settings.session_hours, "full", settings.session_idle_minutes,
                                      id_token=signed_in.id_token)
        audit.record(session, f"staff:{staff.id}", "sso_login")
        session.commit()
    return token


def _record_refusal(request: Request, reason: str) -> None:
    with request.app.state.database.session() as session:
        audit.record(session, "anonymous", "sso_refused", reason=reason)
        session.commit()


def signed_out_target(request: Request, id_token: str | None) -> str:
    """Where the browser goes once its session has ended: the provider's end-session endpoint (with
    the ID token as the hint, and back to the sign-in page after) for a session single sign-on opened,
    when the provider has one; the sign-in page otherwise. Called from a synchronous route."""
    party: RelyingParty | None = request.app.state.sso
    if party is None or not id_token:
        return "/staff/login"
    return from_thread.run(party.end_session_url, id_token) or "/staff/login"
