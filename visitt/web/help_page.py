"""The patient's help page, one per language at a stable address: ``/help/<lang>`` (``/help`` picks the
reader's language). What to have ready, how to prepare, what happens step by step with screenshots of
Visitt itself (``static/help/<lang>-<step>.webp``, made by ``bench/help_screenshots.py``), what to do
when something goes wrong, the privacy facts, and whom to call - the clinic, and the IT helpdesk
(``VISITT_HELPDESK_PHONE``). Linked from every patient page, the SMS and the invitation e-mail.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from visitt.web import i18n
from visitt.web.i18n import translations
from visitt.web.pages import LANG_COOKIE, language, render

router = APIRouter(include_in_schema=False)


def address(base_url: str, lang: str) -> str:
    """The help page's address in ``lang``, for an SMS or an e-mail: ``https://…/help/ar``."""
    return f"{base_url}/help/{lang}"


@router.get("/help")
def help_for_reader(request: Request) -> Response:
    return RedirectResponse(f"/help/{language(request)}", status_code=303)


@router.get("/help/{lang}")
def help_page(lang: str, request: Request) -> Response:
    settings = request.app.state.settings
    chosen = request.query_params.get("lang")
    if chosen in i18n.LANGUAGES and chosen != lang:  # the switcher: the same page at the other language's address
        moved = RedirectResponse(f"/help/{chosen}", status_code=303)
        moved.set_cookie(LANG_COOKIE, chosen, samesite="lax", secure=settings.secure_cookies, max_age=365 * 24 * 3600)
        return moved
    if lang not in i18n.LANGUAGES:
        gettext = translations(language(request)).gettext
        return render(request, "message.html", status_code=404, title=gettext("There is no help page in this language"),
                      text=gettext("Choose a language at the top of the page."), link="/help",
                      link_text=gettext("Help with your video consultation"))
    return render(request, "help.html", in_language=lang, max_wait=int(settings.max_wait_minutes))
