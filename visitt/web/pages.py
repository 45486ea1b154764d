"""Server-rendered pages: one Jinja2 environment per language, rendered with the request's language."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from visitt.web import i18n
from visitt.web.security import csrf_token, remember_csrf

TEMPLATES = Path(__file__).parent.parent / "templates"
LANG_COOKIE = "visitt_lang"


@lru_cache(maxsize=None)
def environment(language: str) -> Environment:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]),
                      extensions=["jinja2.ext.i18n"], trim_blocks=True, lstrip_blocks=True)
    env.install_gettext_translations(i18n.translations(language), newstyle=True)  # type: ignore[attr-defined]
    env.globals["languages"] = i18n.LANGUAGES
    env.filters["tojson_script"] = lambda value: json.dumps(value, ensure_ascii=False).replace("</", "<\\/")
    env.filters["ltr"] = left_to_right
    return env


def left_to_right(value: object) -> Markup:
    """A phone number, time or code kept left to right inside Arabic or Urdu text: ``{{ phone|ltr }}``."""
    return Markup('<bdi dir="ltr">%s</bdi>') % value


def language(request: Request) -> str:
    return i18n.negotiate(request.headers.get("accept-language"),
                          request.query_params.get("lang") or request.cookies.get(LANG_COOKIE))


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    lang = language(request)
    settings = request.app.state.settings
    values: dict[str, Any] = {"request": request, "lang": lang, "dir": i18n.direction(lang),
                              "csrf": csrf_token(request),
                              "clinic_name": settings.clinic_name, "clinic_phone": settings.clinic_phone,
                              "demo": settings.demo, "portal_path": settings.portal_path}
    html = environment(lang).get_template(template).render({**values, **context})
    response = HTMLResponse(html, status_code=status_code)
    remember_csrf(request, response, settings.secure_cookies)
    if request.query_params.get("lang") in i18n.LANGUAGES:
        response.set_cookie(LANG_COOKIE, lang, samesite="lax", secure=settings.secure_cookies,
                            max_age=365 * 24 * 3600)
    return response
