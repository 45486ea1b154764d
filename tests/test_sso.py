"""Single sign-on against a real OpenID provider (tests/oidc_provider.py: oidc-provider on Node.js),
requiring private_key_jwt (or client_secret_basic), PKCE and pushed authorization requests."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy
from alembic import command
from alembic.config import Config
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from sqlalchemy import select

from visitt import cli, demo
from visitt.settings import SettingsInvalid
from visitt.sso import public_jwks
from visitt.store import audit
from visitt.store.db import MIGRATIONS, Database
from visitt.store.models import Department, Role, Staff, WebSession
from visitt.testing import Client, InProcess, LiveServer

from .conftest import make_settings, migrated_sqlite, settings_from
from .oidc_provider import HPR, Provider, follow_to, running
from .services import free_port

IN_PROCESS = "http://visitt.test"  # visitt.testing.InProcess's address
SECRET = "basic-client-secret-for-tests-only"
ENGLISH = {"Accept-Language": "en"}
INGRID, OLA = demo.PEOPLE[0][0], demo.PEOPLE[1][0]
USERS: dict[str, dict[str, Any]] = {
    "ingrid": {"email": INGRID, "email_verified": True, "name": "Dr. Ingrid Berg", HPR: "9144900"},
    "ola": {"email": OLA, "email_verified": True, "name": "Ola Hansen", HPR: "9144901"},
    "stranger": {"email": "ukjent@sykehus.example", "email_verified": True, "name": "Per Ukjent",
                 "department": demo.DEPARTMENT[0]},
    "newcomer": {"email": "ny@sykehus.example", "email_verified": True, "name": "Nina Ny", HPR: "9144902",
                 "department": demo.DEPARTMENT[0]},
}


def _client(client_id: str, auth: dict[str, Any], bases: list[str]) -> dict[str, Any]:
    return {"client_id": client_id, **auth, "grant_types": ["authorization_code"], "response_types": ["code"],
            "redirect_uris": [f"{base}/staff/sso/callback" for base in bases],
            "post_logout_redirect_uris": [f"{base}/staff/login" for base in bases]}


@pytest.fixture(scope="module")
def key_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Visitt's private_key_jwt key, as an administrator makes it (docs/administration.md)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path = tmp_path_factory.mktemp("sso-key") / "visitt-oidc.pem"
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    return path


@pytest.fixture(scope="module")
def browser_port() -> int:
    return free_port()


@pytest.fixture(scope="module")
def provider(tmp_path_factory: pytest.TempPathFactory, key_file: Path, browser_port: int) -> Iterator[Provider]:
    bases = [IN_PROCESS, f"http://127.0.0.1:{browser_port}"]
    clients = [_client("visitt", {"token_endpoint_auth_method": "private_key_jwt",
                                  "jwks": public_jwks(str(key_file))}, bases),
               _client("visitt-basic", {"token_endpoint_auth_method": "client_secret_basic",
                                        "client_secret": SECRET}, bases)]
    with running(tmp_path_factory.mktemp("oidc"), clients=clients, users=USERS) as started:
        yield started


@pytest.fixture(autouse=True)
def no_faults(provider: Provider) -> Iterator[None]:
    yield
    provider.mend()


def _sso_settings(provider: Provider, key_file: Path, **overrides: Any) -> dict[str, Any]:
    return {"oidc_issuer": provider.issuer, "oidc_client_id": "visitt", "oidc_client_auth": "private_key_jwt",
            "oidc_private_key_file": str(key_file), **overrides}


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory, provider: Provider, key_file: Path) -> Iterator[InProcess]:
    """Visitt in process, signing in at the provider with private_key_jwt, staff matched by e-mail."""
    started = InProcess(make_settings(tmp_path_factory.mktemp("visitt"), **_sso_settings(provider, key_file))).start()
    yield started
    started.stop()


@pytest.fixture(scope="module")
def basic_node(tmp_path_factory: pytest.TempPathFactory, provider: Provider) -> Iterator[InProcess]:
    """Visitt in process with client_secret_basic, staff matched by HelseID's HPR number claim, and accounts
    made for people the provider places in a department that allows it."""
    settings = make_settings(tmp_path_factory.mktemp("visitt-basic"), oidc_issuer=provider.issuer,
                             oidc_client_id="visitt-basic", oidc_client_auth="client_secret_basic",
                             oidc_client_secret=SECRET, oidc_claim=HPR, oidc_department_claim="department",
                             oidc_scopes=("openid", "email", "profile", "hpr", "department"))
    started = InProcess(settings).start()
    yield started
    started.stop()


def sign_in(node: InProcess, client: Client, at_provider: httpx.Client, login: str,
            cookie: Any = None) -> httpx.Response:
    """Sign in by single sign-on as the provider's user ``login``; Visitt's answer to the callback.
    ``cookie``: changes the pending sign-in's cookie before the provider sends the browser back."""
    started = client.get("/staff/sso")
    assert started.status_code == 303, started.text
    if cookie is not None:
        cookie(client)
    back = follow_to(at_provider, started.headers["location"], f"{node.url}/staff/sso/callback", login=login)
    return client.get(back)


def _refusals(node: InProcess) -> list[str]:
    with node.database.session() as session:
        return [event.detail["reason"] for event in audit.events(session, action="sso_refused")]


def _refused(node: InProcess, answer: httpx.Response, reason: str, before: list[str]) -> None:
    assert answer.status_code == 403, answer.text
    assert "visitt_session" not in answer.cookies
    assert _refusals(node) == [*before, reason]


@pytest.mark.in_process
def test_sign_in_opens_a_session_as_the_password_form_does(node: InProcess, provider: Provider) -> None:
    with node.client(headers=ENGLISH) as client, httpx.Client() as at_provider:
        login = client.get("/staff/login")
        assert "Sign in with single sign-on" in login.text
        # the sign-in button's form may lead to the provider (and signing out may end there)
        assert f"form-action 'self' {provider.issuer};" in login.headers["content-security-policy"]
        started = client.get("/staff/sso")
        # pushed authorization request: state, nonce and PKCE challenge never pass through the browser
        assert started.status_code == 303 and "request_uri=" in started.headers["location"]
        assert "nonce" not in started.headers["location"] and "code_challenge" not in started.headers["location"]
        back = follow_to(at_provider, started.headers["location"], f"{node.url}/staff/sso/callback", login="ingrid")
        answer = client.get(back)
        assert answer.status_code == 303 and answer.headers["location"] == "/staff"
        assert "Dr. Ingrid Berg" in client.get("/staff").text
        # the same callback again (a replayed code) signs nobody in
        with node.client(headers=ENGLISH) as other:
            assert other.get(back).status_code == 403
    with node.database.session() as session:
        ingrid = session.scalar(select(Staff).where(Staff.email == INGRID))
        assert ingrid is not None
        logins = audit.events(session, action="sso_login")
        assert [event.actor for event in logins] == [f"staff:{ingrid.id}"]
        refusals = audit.events(session, action="sso_refused")
        assert all(INGRID not in json.dumps(event.detail) for event in logins + refusals)


@pytest.mark.in_process
def test_sign_out_ends_the_session_at_the_provider_too(node: InProcess) -> None:
    with node.client(headers=ENGLISH) as client, httpx.Client() as at_provider:
        assert sign_in(node, client, at_provider, "ingrid").status_code == 303
        csrf = re.search(r'name="csrf" value="([^"]+)"', client.get("/staff").text)
        assert csrf is not None
        out = client.post("/staff/logout", data={"csrf": csrf.group(1)})
        assert out.status_code == 303
        ending = httpx.URL(out.headers["location"])
        assert str(ending).startswith(f"{node.app.state.sso.issuer}/session/end")
        assert ending.params["post_logout_redirect_uri"] == f"{node.url}/staff/login"
        assert ending.params["id_token_hint"].count(".") == 2
        assert client.get("/staff", headers={"Accept": "text/html"}).status_code in (303, 307)  # ended here at once
        assert follow_to(at_provider, str(ending), f"{node.url}/staff/login") == f"{node.url}/staff/login"
        # ended at the provider as well: the next sign-in asks for the login again
        again = at_provider.get(client.get("/staff/sso").headers["location"], follow_redirects=True)
        assert 'name="login"' in again.text


@pytest.mark.in_process
@pytest.mark.parametrize("fault", ["tamper", "forge"])
def test_a_tampered_or_forged_id_token_is_refused(node: InProcess, provider: Provider, fault: str) -> None:
    before = _refusals(node)
    provider.fault(fault)
    with node.client(headers=ENGLISH) as client, httpx.Client() as at_provider:
        answer = sign_in(node, client, at_provider, "ingrid")
        _refused(node, answer, "signature", before)
        assert "Sign-in failed" in answer.text
        assert client.get("/staff", headers={"Accept": "text/html"}).status_code in (303, 307)


@pytest.mark.in_process
def test_a_wrong_nonce_is_refused(node: InProcess) -> None:
    """The provider's ID token carries the nonce of the request; the browser's pending sign-in says another."""
    def other_nonce(client: Client) -> None:
        state, _nonce, verifier, started = client.cookies["visitt_sso"].split(".")
        client.cookies.set("visitt_sso", f"{state}.another-nonce.{verifier}.{started}", domain="visitt.test",
                           path="/staff/sso")

    before = _refusals(node)
    with node.client(headers=ENGLISH) as client, httpx.Client() as at_provider:
        _refused(node, sign_in(node, client, at_provider, "ingrid", cookie=other_nonce), "nonce", before)


@pytest.mark.in_process
def test_an_expired_id_token_is_refused(node: InProcess, provider: Provider) -> None:
    """A provider whose clock is a quarter of an hour behind issues ID tokens that expired five minutes ago."""
    before = _refusals(node)
    provider.clock(-900)
    with node.client(headers=ENGLISH) as client, httpx.Client() as at_provider:
        answer = sign_in(node, client, at_provider, "ingrid")
        _refused(node, answer, "expired", before)
        assert "expired" in answer.text


def _kid(id_token: str) -> str:
    header = id_token.split(".")[0]
    return str(json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))["kid"])


@pytest.mark.in_process
def test_a_rotated_signing_key_is_fetched(node: InProcess, provider: Provider) -> None:
    with node.client(headers=ENGLISH) as client, httpx.Client() as at_provider:
        assert sign_in(node, client, at_provider, "ola").status_code == 303
    new_kid = provider.rotate()
    with node.client(headers=ENGLISH) as client, httpx.Client() as at_provider:
        assert sign_in(node, client, at_provider, "ola").status_code == 303
        assert "Ola Hansen" in client.get("/staff").text
    with node.database.session() as session:
        tokens = session.scalars(select(WebSession.id_token).join(Staff).where(Staff.email == OLA)
                                 .order_by(WebSession.id)).all()
    assert len(tokens) == 2 and tokens[0] is not None and tokens[1] is not None
    assert _kid(tokens[0]) != new_kid and _kid(tokens[1]) == new_kid


@pytest.mark.in_process
def test_an_unknown_person_gets_no_access_and_no_account(node: InProcess) -> None:
    before = _refusals(node)
    with node.client(headers=ENGLISH) as client, httpx.Client() as at_provider:
        answer = sign_in(node, client, at_provider, "stranger")
    _refused(node, answer, "unknown", before)
    assert "No access" in answer.text and "Ask your administrator" in answer.text
    with node.database.session() as session:
        assert session.scalar(select(Staff).where(Staff.email == USERS["stranger"]["email"])) is None


@pytest.mark.in_process
def test_an_inactive_account_is_refused(node: InProcess) -> None:
    with node.database.session() as session:
        ola = session.scalar(select(Staff).where(Staff.email == OLA))
        assert ola is not None
        ola.active = False
    before = _refusals(node)
    try:
        with node.client(headers=ENGLISH) as client, httpx.Client() as at_provider:
            _refused(node, sign_in(node, client, at_provider, "ola"), "inactive", before)
    finally:
        with node.database.session() as session:
            ola = session.scalar(select(Staff).where(Staff.email == OLA))
            assert ola is not None
            ola.active = True


@pytest.mark.in_process
def test_client_secret_basic_and_the_hpr_number(basic_node: InProcess) -> None:
    """Matched by HPR number (Staff.sso_id), not by e-mail: Ingrid has hers recorded, Ola has not."""
    with basic_node.database.session() as session:
        ingrid = session.scalar(select(Staff).where(Staff.email == INGRID))
        assert ingrid is not None
        ingrid.sso_id = USERS["ingrid"][HPR]
    with basic_node.client(headers=ENGLISH) as client, httpx.Client() as at_provider:
        assert sign_in(basic_node, client, at_provider, "ingrid").status_code == 303
        assert "Dr. Ingrid Berg" in client.get("/staff").text
    with basic_node.client(headers=ENGLISH) as client, httpx.Client() as at_provider:
        assert sign_in(basic_node, client, at_provider, "ola").status_code == 403


@pytest.mark.in_process
def test_an_account_is_made_only_where_the_department_allows_it(basic_node: InProcess) -> None:
    with basic_node.client(headers=ENGLISH) as client, httpx.Client() as at_provider:
        assert sign_in(basic_node, client, at_provider, "newcomer").status_code == 403
    with basic_node.database.session() as session:
        department = session.scalar(select(Department).where(Department.name == demo.DEPARTMENT[0]))
        assert department is not None
        department.sso_auto_create = True
    with basic_node.client(headers=ENGLISH) as client, httpx.Client() as at_provider:
        assert sign_in(basic_node, client, at_provider, "newcomer").status_code == 303
        assert "Nina Ny" in client.get("/staff").text
    with basic_node.database.session() as session:
        made = session.scalar(select(Staff).where(Staff.email == USERS["newcomer"]["email"]))
        assert made is not None and made.sso_id == USERS["newcomer"][HPR] and made.department_id == department.id
        assert [event.subject for event in audit.events(session, action="sso_user_created")] == [f"staff:{made.id}"]


@pytest.mark.in_process
def test_a_callback_without_its_sign_in_is_refused(node: InProcess) -> None:
    """A redirect this browser did not start (login CSRF, or a link sent to someone) signs nobody in."""
    before = _refusals(node)
    with node.client(headers=ENGLISH) as client:
        answer = client.get("/staff/sso/callback", params={"code": "abc", "state": "def"})
        _refused(node, answer, "state", before)
        assert "started elsewhere" in answer.text


@pytest.mark.in_process
def test_a_provider_that_does_not_answer(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, oidc_issuer=f"http://127.0.0.1:{free_port()}", oidc_client_id="visitt",
                             oidc_client_auth="client_secret_basic", oidc_client_secret=SECRET)
    node = InProcess(settings).start()
    try:
        answer = node.get("/staff/sso", headers=ENGLISH)
        assert answer.status_code == 503 and "not available right now" in answer.text
        assert _refusals(node) == ["provider"]
    finally:
        node.stop()


@pytest.mark.in_process
def test_forged_returns_from_the_provider_are_limited_per_address(tmp_path: Path) -> None:
    """Each return costs Visitt a request to the provider: refused ones count as failed sign-ins from the
    address, and over the limit the address waits, told how long, before the provider is asked again."""
    settings = make_settings(tmp_path, oidc_issuer=f"http://127.0.0.1:{free_port()}", oidc_client_id="visitt",
                             oidc_client_auth="client_secret_basic", oidc_client_secret=SECRET,
                             login_failures_per_address=2)
    node = InProcess(settings).start()
    try:
        forged = {"code": "abc", "state": "def"}
        for _ in range(2):
            assert node.get("/staff/sso/callback", params=forged, headers=ENGLISH).status_code == 403
        answer = node.get("/staff/sso/callback", params=forged, headers=ENGLISH)
        assert answer.status_code == 429 and int(answer.headers["Retry-After"]) > 0
        assert "Too many failed sign-ins. Wait" in answer.text
        assert _refusals(node) == ["state", "state", "too_many"]
    finally:
        node.stop()


@pytest.mark.in_process
def test_without_an_issuer_there_is_no_single_sign_on(server: InProcess) -> None:
    assert "single sign-on" not in server.get("/staff/login", headers=ENGLISH).text
    assert server.get("/staff/sso").status_code == 404


def test_single_sign_on_settings_must_be_complete(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(SettingsInvalid, match="VISITT_OIDC_CLIENT_ID"):
        settings_from(monkeypatch, VISITT_OIDC_ISSUER="https://helseid-sts.nhn.no")
    with pytest.raises(SettingsInvalid, match="VISITT_OIDC_PRIVATE_KEY_FILE"):
        settings_from(monkeypatch, VISITT_OIDC_CLIENT_ID="visitt")
    with pytest.raises(SettingsInvalid, match="VISITT_OIDC_CLIENT_SECRET"):
        settings_from(monkeypatch, VISITT_OIDC_CLIENT_AUTH="client_secret_basic")
    settings = settings_from(monkeypatch, VISITT_OIDC_CLIENT_SECRET="s", VISITT_OIDC_SCOPES="openid, profile")
    assert settings.oidc_scopes == ("openid", "profile") and settings.oidc_client_auth == "client_secret_basic"


@pytest.mark.browser
def test_sign_in_and_out_in_a_browser(browser: Any, tmp_path: Path, provider: Provider, key_file: Path,
                                      browser_port: int) -> None:
    server = LiveServer(make_settings(tmp_path, **_sso_settings(provider, key_file)), port=browser_port).start()
    context = browser.new_context(locale="en-US")
    try:
        page = context.new_page()
        page.goto(f"{server.url}/staff/login")
        page.get_by_role("button", name="Sign in with single sign-on").click()
        page.locator("input[name=login]").fill("ingrid")
        page.locator("input[name=password]").fill("any")
        page.get_by_role("button", name="Sign-in").click()
        page.wait_for_url(f"{server.url}/staff")
        assert page.get_by_text("Dr. Ingrid Berg").first.is_visible()
        page.get_by_role("button", name="Sign out").click()
        page.get_by_role("button", name="Yes, sign me out").click()
        page.wait_for_url(f"{server.url}/staff/login")
        page.goto(f"{server.url}/staff")
        page.wait_for_url(re.compile(r".*/staff/login.*"))
    finally:
        context.close()
        server.stop()


def test_the_command_prints_the_public_key_and_links_accounts(tmp_path: Path, key_file: Path,
                                                              capsys: pytest.CaptureFixture[str],
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    cli.main(["sso", "jwks", "--key", str(key_file)])
    (key,) = json.loads(capsys.readouterr().out)["keys"]
    assert key["kty"] == "RSA" and key["alg"] == "RS256" and key["kid"] and "d" not in key
    ec_file = tmp_path / "ec.pem"
    ec_file.write_bytes(ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    (ec_key,) = public_jwks(str(ec_file))["keys"]
    assert ec_key["kty"] == "EC" and ec_key["alg"] == "ES256" and "d" not in ec_key
    monkeypatch.setenv("VISITT_PASSWORD_HASHING", "cheapest")
    monkeypatch.setenv("VISITT_NEW_PASSWORD", demo.PASSWORD)
    migrated_sqlite(tmp_path / "visitt.sqlite3")
    data = ["--data-dir", str(tmp_path)]
    cli.main(["users", "add", INGRID, "--name", "Dr. Ingrid Berg", "--department", demo.DEPARTMENT[0], *data])
    cli.main(["sso", "link", INGRID, "9144900", *data])
    cli.main(["sso", "auto-create", demo.DEPARTMENT[0], "on", *data])
    out = capsys.readouterr().out
    assert "signs in by single sign-on as 9144900" in out and "makes accounts in" in out
    with pytest.raises(SystemExit):
        cli.main(["sso", "auto-create", "No such place", "on", *data])


def test_the_migration_goes_down_and_up_again(database_url: str) -> None:
    """0010_sso on SQLite (batch mode) and PostgreSQL: down to 0009 and back, an HPR number kept unique."""
    def migrate(step: Callable[[Config, str], None], revision: str) -> None:
        engine = sqlalchemy.create_engine(database_url)
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            step(config, revision)
        engine.dispose()

    def columns(table: str) -> set[str]:
        engine = sqlalchemy.create_engine(database_url)
        with engine.connect() as connection:
            names = {column["name"] for column in sqlalchemy.inspect(connection).get_columns(table)}
        engine.dispose()
        return names

    migrate(command.downgrade, "0009")
    assert "sso_id" not in columns("staff") and "id_token" not in columns("web_sessions")
    migrate(command.upgrade, "head")
    assert "sso_id" in columns("staff") and "sso_auto_create" in columns("departments")
    database = Database(database_url)
    with database.session() as session:
        department = Department(name="Hud")
        session.add(department)
        session.flush()
        assert department.sso_auto_create is False
        session.add_all([Staff(email=f"{n}@example.no", full_name="A", role=Role.clinician, password_hash="x",
                               sso_id="9144900") for n in "ab"])
        with pytest.raises(sqlalchemy.exc.IntegrityError):
            session.flush()
        session.rollback()
    database.dispose()
