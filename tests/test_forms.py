"""Forms that carry data post it, to a route that takes a post: with scripts off, a name, a phone number or
a note never lands in an address, a browser's history or a proxy's log (visitt/templates, ``/scripts-off``)."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from starlette.routing import Match

from visitt.app import create_app
from visitt.web.pages import TEMPLATES
from visitt.testing import LiveServer

from .conftest import make_settings
from .peers import book
from .test_access import _all_routes


class _Forms(HTMLParser):
    """Each <form> of a template: its attributes and whether it holds a field that carries data."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict[str, Any]] = []
        self.depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "form":
            self.forms.append({"attrs": dict(attrs), "fields": 0, "line": self.getpos()[0]})
        elif tag in ("input", "select", "textarea") and self.forms:
            kind = (dict(attrs).get("type") or "").lower()
            if kind not in ("submit", "button", "reset"):
                self.forms[-1]["fields"] += 1


def _action_path(action: str) -> str:
    """A template's action with its Jinja expressions filled in as a page would fill them."""
    action = action.replace("{{ portal_path }}", "/portal")
    action = action.replace("{{ action }}", "/staff/admin/departments")  # admin_departments.html's macro: its callers
    return re.sub(r"\{\{[^}]*\}\}", "1", action)


def test_every_form_with_a_field_posts_to_a_route_that_takes_a_post(tmp_path: Path) -> None:
    app = create_app(make_settings(tmp_path, public_url="https://video.example"))
    posts = [route for route in _all_routes(app.routes) if "POST" in route.methods]
    gets = [route for route in _all_routes(app.routes) if "GET" in route.methods]
    portal = app.state.settings.portal_path
    checked = 0
    for template in sorted(TEMPLATES.glob("*.html")):
        parser = _Forms()
        parser.feed(template.read_text())
        for form in parser.forms:
            if not form["fields"]:
                continue
            where = f"{template.name}:{form['line']}"
            action = _action_path(form["attrs"].get("action") or "")
            if (form["attrs"].get("method") or "").lower() == "get" and template.name.startswith("admin_"):
                # the admin console's searches: nothing personal in them (a name, a role, a date), and an
                # address an administrator can keep
                scope = {"type": "http", "path": action, "method": "GET", "root_path": ""}
                assert any(route.matches(scope)[0] is Match.FULL for route in gets), f"{where} searches nowhere"
                continue
            assert (form["attrs"].get("method") or "").lower() == "post", f"{where} does not post"
            assert action.startswith("/"), f"{where} posts to the page's own address: name the route"
            scope = {"type": "http", "path": action, "method": "POST", "root_path": ""}
            assert any(route.matches(scope)[0] is Match.FULL for route in posts) or \
                action.startswith(portal), f"{where} posts to {action}, which takes no POST"
            checked += 1
    assert checked >= 10


@pytest.mark.browser
def test_with_scripts_off_the_knock_form_keeps_the_name_out_of_the_address(server: LiveServer,
                                                                           browser: Any) -> None:
    join_url, _token = book(server)
    context = browser.new_context(java_script_enabled=False, locale="en-GB")
    try:
        page = context.new_page()
        page.goto(join_url)
        page.fill("#name", "Kari Nordmann")
        page.click("#join")
        page.wait_for_load_state()
        assert "Kari" not in page.url and "csrf" not in page.url and "?" not in page.url
        assert "This page needs JavaScript" in page.content()
        assert "Kari" not in page.content()
    finally:
        context.close()
