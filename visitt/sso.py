"""Single sign-on: Visitt as an OpenID Connect relying party (HelseID, Entra ID, ADFS, Keycloak).

The authorization code flow with PKCE (S256), ``state`` and ``nonce``; pushed authorization requests
(PAR) when the discovery document offers them; the client authenticated by ``private_key_jwt`` (a
key from ``VISITT_OIDC_PRIVATE_KEY_FILE``) or ``client_secret_basic``. Authlib talks to the provider;
joserfc checks the ID token's signature against the provider's JWKS (fetched again when a token names
a key it has not seen: the provider rotated its keys) and its ``iss``, ``aud``, ``exp``, ``iat`` and
``nonce``: :class:`RelyingParty` says what the provider vouched for, or :class:`SignInRefused` with the
reason. :func:`staff_for` says which staff member that is (matched by ``VISITT_OIDC_CLAIM``), and makes
an account only where a department allows it; :mod:`visitt.web.sso` has the pages.
"""

from __future__ import annotations

import hmac
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session

from visitt import text as human
from visitt.errors import Conflict, Forbidden, ValidationFailed
from visitt.settings import Settings
from visitt.store import audit
from visitt.store.models import Department, Role, Staff
from visitt.web.i18n import N_

LEEWAY = 60  # seconds of clock difference allowed with the provider (exp, iat)
PENDING_SECONDS = 600  # how long a sign-in may take at the provider
TIMEOUT = 10.0  # seconds for each request to the provider
NO_ACCESS = N_("You signed in, but you have no access to Visitt. Ask your administrator for access.")
NO_PASSWORD = "!sso"  # not an argon2 hash: no password verifies against it


class SignInRefused(Forbidden):
    """The provider's answer was not accepted; ``reason`` is a short word for the audit trail
    (``state``, ``nonce``, ``signature``, ``expired``, ``claims``, ``provider``, …)."""

    def __init__(self, reason: str, message: str = N_("Single sign-on failed. Try again.")) -> None:
        super().__init__(message, code="sso_refused")
        self.reason = reason
        if reason == "provider":
            self.status = 503  # the provider could not be reached or made no sense: not the person's fault


@dataclass(frozen=True)
class Pending:
    """A sign-in started in this browser: kept in a short-lived cookie until the provider sends it back."""

    state: str
    nonce: str
    verifier: str
    started: int

    @classmethod
    def new(cls) -> "Pending":
        return cls(secrets.token_urlsafe(32), secrets.token_urlsafe(32), secrets.token_urlsafe(48), int(time.time()))

    def cookie(self) -> str:
        return f"{self.state}.{self.nonce}.{self.verifier}.{self.started}"

    @classmethod
    def from_cookie(cls, value: str | None) -> "Pending":
        parts = (value or "").split(".")
        if len(parts) != 4 or not parts[3].isdigit():
            raise SignInRefused("state", N_("The sign-in took too long or was started elsewhere. Try again."))
        pending = cls(parts[0], parts[1], parts[2], int(parts[3]))
        if time.time() - pending.started > PENDING_SECONDS:
            raise SignInRefused("state", N_("The sign-in took too long or was started elsewhere. Try again."))
        return pending

    def check_state(self, state: str) -> None:
        if not hmac.compare_digest(self.state.encode(), state.encode()):
            raise SignInRefused("state", N_("The sign-in took too long or was started elsewhere. Try again."))


@dataclass(frozen=True)
class SignedIn:
    """What the provider vouched for: the ID token's claims (with the userinfo endpoint's, when the ID
    token lacked one that is needed) and the ID token itself, kept for signing out at the provider."""

    claims: dict[str, Any]
    id_token: str


class RelyingParty:
    """One OpenID provider, as the settings name it; the discovery document and the JWKS are cached."""

    def __init__(self, settings: Settings) -> None:
        self.issuer = settings.oidc_issuer
        self.client_id = settings.oidc_client_id
        self.auth_method = settings.oidc_client_auth
        self.scopes = " ".join(settings.oidc_scopes)
        self.claim = settings.oidc_claim
        # the claims a sign-in needs: asked of the userinfo endpoint when the ID token lacks one
        self.wanted = {settings.oidc_claim}
        if settings.oidc_department_claim:
            self.wanted |= {settings.oidc_department_claim, "email", "name"}
        self.redirect_uri = f"{settings.public_url}/staff/sso/callback"
        self.signed_out_uri = f"{settings.public_url}/staff/login"
        self._secret: Any = settings.oidc_client_secret
        self._auth: Any = "client_secret_basic"
        if self.auth_method == "private_key_jwt":
            from authlib.oauth2.rfc7523 import PrivateKeyJWT

            self._secret, alg = _private_key(settings.oidc_private_key_file)
            self._auth = PrivateKeyJWT(alg=alg, headers={"kid": self._secret.kid})
        self._metadata: dict[str, Any] | None = None
        self._keys: Any = None

    # the provider's documents

    async def metadata(self) -> dict[str, Any]:
        """The discovery document (``/.well-known/openid-configuration``), fetched once."""
        if self._metadata is None:
            document = await self._get_json(f"{self.issuer.rstrip('/')}/.well-known/openid-configuration")
            if document.get("issuer") != self.issuer:
                raise SignInRefused("provider", N_("Single sign-on is not available right now."))
            self._metadata = document
        return self._metadata

    async def _get_json(self, url: str) -> dict[str, Any]:
        try:
            async with httpx.AsyncClient(timeout=TIMEOUT) as client:
                response = await client.get(url)
                response.raise_for_status()
                document = response.json()
        except (httpx.HTTPError, ValueError):
            raise SignInRefused("provider", N_("Single sign-on is not available right now.")) from None
        if not isinstance(document, dict):
            raise SignInRefused("provider", N_("Single sign-on is not available right now."))
        return document

    async def _key_set(self, refresh: bool = False) -> Any:
        from joserfc.jwk import KeySet

        if self._keys is None or refresh:
            self._keys = KeySet.import_key_set(await self._get_json((await self.metadata())["jwks_uri"]))  # type: ignore[arg-type]
        return self._keys

    async def _post(self, url: str, params: dict[str, str]) -> dict[str, Any]:
        """POST ``params`` to one of the provider's endpoints, the client authenticated by Authlib
        (``client_secret_basic``, or a ``private_key_jwt`` assertion signed for that endpoint)."""
        from authlib.oauth2 import ClientAuth

        headers = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}
        auth = ClientAuth(self.client_id, self._secret, self._auth)
        url, headers, body = auth.prepare("POST", url, headers, urlencode(params))  # type: ignore[no-untyped-call]
        try:
            async with httpx.AsyncClient(timeout=TIMEOUT) as client:
                response = await client.post(url, headers=headers, content=body)
            answer = response.json()
        except (httpx.HTTPError, ValueError):
            raise SignInRefused("provider", N_("Single sign-on is not available right now.")) from None
        if response.is_error or not isinstance(answer, dict):
            # the provider's OAuth error (invalid_grant, invalid_client, …), without its description
            error = answer.get("error") if isinstance(answer, dict) else None
            raise SignInRefused(f"provider:{error}" if isinstance(error, str) else "provider")
        return answer

    # the flow

    async def authorization_url(self, pending: Pending) -> str:
        """Where to send the browser: the provider's authorization endpoint, with a request pushed to its
        PAR endpoint first when it has one (the parameters then never pass through the browser)."""
        from authlib.oauth2.rfc7636 import create_s256_code_challenge

        metadata = await self.metadata()
        challenge = create_s256_code_challenge(pending.verifier)  # type: ignore[no-untyped-call]
        params = {"response_type": "code", "client_id": self.client_id, "redirect_uri": self.redirect_uri,
                  "scope": self.scopes, "state": pending.state, "nonce": pending.nonce,
                  "code_challenge": challenge, "code_challenge_method": "S256"}
        endpoint = metadata["authorization_endpoint"]
        par = metadata.get("pushed_authorization_request_endpoint")
        if par:
            request_uri = (await self._post(par, params)).get("request_uri")
            if not isinstance(request_uri, str):
                raise SignInRefused("provider", N_("Single sign-on is not available right now."))
            params = {"client_id": self.client_id, "request_uri": request_uri}
        return f"{endpoint}{'&' if '?' in endpoint else '?'}{urlencode(params)}"

    async def finish(self, pending: Pending, query: dict[str, str]) -> SignedIn:
        """The provider sent the browser back with ``query``: check it, redeem the code, check the ID token."""
        pending.check_state(query.get("state", ""))
        if "error" in query or not query.get("code"):
            raise SignInRefused("provider_error", N_("The sign-in was cancelled or refused at the identity provider."))
        if query.get("iss") and query["iss"] != self.issuer:  # RFC 9207: a mix-up between providers
            raise SignInRefused("issuer")
        metadata = await self.metadata()
        token = await self._post(metadata["token_endpoint"], {
            "grant_type": "authorization_code", "code": query["code"], "redirect_uri": self.redirect_uri,
            "code_verifier": pending.verifier})
        id_token, access_token = token.get("id_token"), token.get("access_token")
        if not isinstance(id_token, str):
            raise SignInRefused("claims")
        claims = await self.validate(id_token, pending.nonce)
        if not self.wanted <= claims.keys() and metadata.get("userinfo_endpoint") and isinstance(access_token, str):
            claims = {**await self._userinfo(metadata["userinfo_endpoint"], access_token, claims["sub"]), **claims}
        return SignedIn(claims, id_token)

    async def _userinfo(self, endpoint: str, access_token: str, subject: str) -> dict[str, Any]:
        try:
            async with httpx.AsyncClient(timeout=TIMEOUT) as client:
                response = await client.get(endpoint, headers={"Authorization": f"Bearer {access_token}"})
            response.raise_for_status()
            info = response.json()
        except (httpx.HTTPError, ValueError):
            raise SignInRefused("userinfo") from None
        if not isinstance(info, dict) or info.get("sub") != subject:  # OIDC Core 5.3.2: the same person
            raise SignInRefused("userinfo")
        return info

    async def validate(self, id_token: str, nonce: str) -> dict[str, Any]:
        """The ID token's claims, once its signature (a key of the provider's JWKS; the JWKS fetched again
        for a key not seen yet), ``iss``, ``aud``, ``azp``, ``exp``, ``iat`` and ``nonce`` are right."""
        from joserfc import jwt
        from joserfc.errors import (BadSignatureError, ExpiredTokenError, InvalidClaimError, InvalidKeyIdError,
                                    JoseError, MissingClaimError)

        algorithms = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"]
        try:
            try:
                token = jwt.decode(id_token, await self._key_set(), algorithms=algorithms)
            except InvalidKeyIdError:  # a key not seen yet: the provider has rotated its keys
                token = jwt.decode(id_token, await self._key_set(refresh=True), algorithms=algorithms)
            registry = jwt.JWTClaimsRegistry(
                leeway=LEEWAY, iss={"essential": True, "value": self.issuer},
                aud={"essential": True, "value": self.client_id}, sub={"essential": True},
                exp={"essential": True}, iat={"essential": True}, nonce={"essential": True, "value": nonce})
            registry.validate(token.claims)
        except BadSignatureError:
            raise SignInRefused("signature") from None
        except ExpiredTokenError:
            raise SignInRefused("expired", N_("The identity provider's answer has expired. Check the clocks and "
                                              "try again.")) from None
        except (InvalidClaimError, MissingClaimError) as error:
            raise SignInRefused("nonce" if getattr(error, "claim", "") == "nonce" else "claims") from None
        except (JoseError, ValueError):
            raise SignInRefused("signature") from None
        claims = dict(token.claims)
        audience = claims["aud"]
        if isinstance(audience, list) and len(audience) > 1 and claims.get("azp") != self.client_id:
            raise SignInRefused("claims")
        if claims["iat"] > time.time() + LEEWAY:
            raise SignInRefused("claims")
        return claims

    async def end_session_url(self, id_token: str) -> str | None:
        """Where to send the browser to sign out at the provider too (RP-initiated logout), if it can."""
        try:
            endpoint = (await self.metadata()).get("end_session_endpoint")
        except SignInRefused:
            return None
        if not endpoint:
            return None
        params = {"id_token_hint": id_token, "post_logout_redirect_uri": self.signed_out_uri,
                  "client_id": self.client_id}
        return f"{endpoint}{'&' if '?' in endpoint else '?'}{urlencode(params)}"


def _private_key(path: str) -> tuple[Any, str]:
    """The client's signing key from a PEM file, with its ``kid`` (the RFC 7638 thumbprint, which the
    provider finds in the public JWKS it was given) and the algorithm its kind signs with."""
    from joserfc.errors import InvalidKeyTypeError
    from joserfc.jwk import ECKey, RSAKey

    pem = Path(path).read_bytes()
    try:
        key: Any = RSAKey.import_key(pem)
        alg = "RS256"
    except InvalidKeyTypeError:
        key = ECKey.import_key(pem)
        alg = {"P-256": "ES256", "P-384": "ES384", "P-521": "ES512"}[key.curve_name]
    return key.__class__.import_key(pem, {"kid": key.thumbprint()}), alg


def public_jwks(path: str) -> dict[str, Any]:
    """The public half of the client's key as a JWKS, to register at the provider (``visitt sso-jwks``)."""
    key, alg = _private_key(path)
    return {"keys": [{**key.as_dict(private=False), "use": "sig", "alg": alg}]}


def staff_for(session: Session, claims: dict[str, Any], *, claim: str, department_claim: str = "") -> Staff:
    """The active staff member the provider vouched for: ``claim``'s value matched against the e-mail
    address (``email``) or ``Staff.sso_id`` (any other claim). Someone unknown gets an account only
    when ``department_claim`` names a department that allows it (``Department.sso_auto_create``);
    otherwise :class:`SignInRefused` (``unknown``), and so for an inactive account (``inactive``)."""
    value = claims.get(claim)
    if not isinstance(value, str) or not value.strip():
        raise SignInRefused("claims", NO_ACCESS)
    if claim == "email":
        if claims.get("email_verified") is False:  # the provider says it has not checked the address
            raise SignInRefused("unverified", NO_ACCESS)
        match = Staff.email == value.strip().lower()
    else:
        match = Staff.sso_id == value.strip()
    staff = session.scalar(select(Staff).where(match))
    if staff is not None:
        if not staff.active:
            raise SignInRefused("inactive", NO_ACCESS)
        return staff
    return _new_staff(session, claims, value.strip(), claim=claim, department_claim=department_claim)


def _new_staff(session: Session, claims: dict[str, Any], value: str, *, claim: str, department_claim: str) -> Staff:
    named = claims.get(department_claim) if department_claim else None
    department = session.scalar(select(Department).where(Department.name == named)) if isinstance(named, str) else None
    if department is None or not department.sso_auto_create:
        raise SignInRefused("unknown", NO_ACCESS)
    email, name = claims.get("email"), claims.get("name")
    if not isinstance(email, str) or "@" not in email or not isinstance(name, str) or human.refused(name) \
            or not name.strip() or claims.get("email_verified") is False:
        raise SignInRefused("claims", NO_ACCESS)
    if session.scalar(select(Staff).where(Staff.email == email.strip().lower())) is not None:
        raise SignInRefused("unknown", NO_ACCESS)  # the address belongs to an account the claim did not match
    # no password: this account signs in by single sign-on only (an administrator may set one)
    staff = Staff(email=email.strip().lower(), full_name=name.strip(), role=Role.clinician, password_hash=NO_PASSWORD,
                  department=department, sso_id=None if claim == "email" else value)
    session.add(staff)
    session.flush()
    audit.record(session, "system", "sso_user_created", subject=f"staff:{staff.id}", department=department.id)
    return staff


def link(session: Session, email: str, sso_id: str) -> Staff:
    """Record the value of ``VISITT_OIDC_CLAIM`` that names this staff member at the provider (HelseID's
    HPR number, Entra's object id); ``""`` takes it away."""
    staff = session.scalar(select(Staff).where(Staff.email == email.strip().lower()))
    if staff is None:
        raise ValidationFailed(N_("No staff account has that e-mail address."), fields={"email": N_("Unknown.")})
    value = sso_id.strip() or None
    if value is not None and (len(value) > 254 or human.refused(value)):
        raise ValidationFailed(N_("The account could not be changed."), fields={"sso_id": N_("Unknown.")})
    holder = session.scalar(select(Staff).where(Staff.sso_id == value)) if value else None
    if holder is not None and holder.id != staff.id:
        raise Conflict(N_("The account could not be changed."), fields={"sso_id": N_("Already in use.")})
    staff.sso_id = value
    return staff


def allow_accounts(session: Session, department_name: str, allowed: bool) -> Department:
    """Let single sign-on make accounts for people the provider places in this department, or stop it."""
    department = session.scalar(select(Department).where(Department.name == department_name))
    if department is None:
        raise ValidationFailed(N_("No such department."), fields={"department": N_("Unknown.")})
    department.sso_auto_create = allowed
    return department
