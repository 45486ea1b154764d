"""The ``visitt`` command: serve, demo, users add|portal|trained|deactivate|reactivate|reset-link|
reset-second-factor, tokens create|list|revoke, retention run, sso jwks|link|auto-create, turn-config,
janus-config, db upgrade, and the admin console's commands (users list|invite|set, departments, audit:
:mod:`visitt.admin_cli`)."""

from __future__ import annotations

import argparse
import getpass
import json
import os
import re
import sys
from pathlib import Path

from sqlalchemy import select

from visitt import accounts, admin_cli, demo, password_reset, retention, second_factor, sso, training
from visitt.ops import logs
from visitt.live import janus_config, turn
from visitt.store.db import Database
from visitt import text as human
from visitt.errors import ValidationFailed, VisittError
from visitt.store.models import Department, Role, Staff
from visitt.settings import Settings, SettingsInvalid, load


def _settings(args: argparse.Namespace) -> Settings:
    settings = load()
    if getattr(args, "data_dir", None):
        settings = settings.but(data_dir=Path(args.data_dir))
    accounts.use_hashing(settings.password_hashing)
    return settings


def _serve(settings: Settings, host: str, port: int, log_format: str) -> None:
    from visitt.app import create_app
    from visitt.ops.serving import serve

    # Every logger, the server's too, writes through visitt.ops.logs: its format, its privacy rule.
    logs.configure(settings.log_format or log_format)
    serve(create_app(settings), settings, host, port)


def _public_url_problem(url: str) -> str | None:
    """Why ``url`` cannot be the address in patients' links, if it cannot."""
    if not url:
        return ("VISITT_PUBLIC_URL is not set: set it to the address patients open, "
                "e.g. https://video.sykehuset.example (links are never built from a request's Host)")
    if not re.fullmatch(r"https?://[^/\s?#]+(/[^\s?#]*)?", url):
        return "VISITT_PUBLIC_URL must be an http:// or https:// address, e.g. https://video.sykehuset.example"
    return None


def cmd_serve(args: argparse.Namespace) -> None:
    settings = _settings(args)
    problem = _public_url_problem(settings.public_url)
    if problem:
        print(f"visitt: {problem}", file=sys.stderr)
        sys.exit(2)
    _serve(settings, args.host, args.port, "json")


def cmd_demo(args: argparse.Namespace) -> None:
    settings = _settings(args).but(demo=True)
    if "VISITT_LINK_OPENS_MINUTES" not in os.environ:  # so a booking for tomorrow can be tried at once
        settings = settings.but(link_opens_minutes=14 * 24 * 60)
    database = Database.from_settings(settings)
    database.upgrade()
    with database.session() as session:
        logins = demo.seed(session)
    database.dispose()
    address = settings.public_url or f"http://{'localhost' if args.host in ('127.0.0.1', '0.0.0.0') else args.host}:{args.port}"
    if not settings.public_url:  # the demo's own address; the page may be opened as 127.0.0.1 too
        settings = settings.but(public_url=address,
                           allowed_origins=(*settings.allowed_origins, f"http://127.0.0.1:{args.port}"))
    print(f"\nVisitt demo at {address}/staff  (data in {settings.data_dir.resolve()})")
    print(f"Password for every demo account: {demo.PASSWORD}")
    for email, role, name in logins:
        print(f"  {role:<10} {email:<28} {name}")
    if settings.portal_path:
        print(f"Visitors without an appointment start at {address}{settings.portal_path}")
    print(f"Booked SMS appear on {address}/staff/outbox and in this terminal.\n", flush=True)
    _serve(settings, args.host, args.port, "text")  # a person reads the demo's log in the terminal


def cmd_db_upgrade(args: argparse.Namespace) -> None:
    database = Database.from_settings(_settings(args))
    database.upgrade()
    database.dispose()
    print("database is up to date")


def cmd_users_add(args: argparse.Namespace) -> None:
    database = Database.from_settings(_settings(args))
    database.upgrade()
    password = os.environ.get("VISITT_NEW_PASSWORD") or getpass.getpass("Password (10 characters or more): ")
    with database.session() as session:
        department = None
        if args.department and human.refused(args.department):  # shown to patients on the portal
            raise ValidationFailed(human.NAME_REFUSED, fields={"department": human.NAME_REFUSED})
        if args.department:
            department = session.scalar(select(Department).where(Department.name == args.department))
            if department is None:
                department = Department(name=args.department)
                session.add(department)
        staff = accounts.create_staff(session, email=args.email, full_name=args.name, role=Role(args.role),
                                      password=password, department=department, portal=args.portal)
        print(f"created {staff.role.value} {staff.email}{' (on the portal)' if staff.portal else ''}")
    database.dispose()


def cmd_users_portal(args: argparse.Namespace) -> None:
    database = Database.from_settings(_settings(args))
    database.upgrade()
    with database.session() as session:
        staff = accounts.set_portal(session, args.email, args.listed == "on")
        print(f"{staff.email} is {'on' if staff.portal else 'off'} the portal")
    database.dispose()


def cmd_users_trained(args: argparse.Namespace) -> None:
    database = Database.from_settings(_settings(args))
    database.upgrade()
    with database.session() as session:
        staff = session.scalar(select(Staff).where(Staff.email == args.email.strip().lower()))
        if staff is None:
            raise ValidationFailed("No staff account has that e-mail address.", fields={"email": "Unknown."})
        already = training.is_trained(staff)
        training.record_training(session, staff, by=None)
        print(f"{staff.email} was already trained ({staff.training_source})" if already
              else f"{staff.email} is recorded as trained")
    database.dispose()


def cmd_retention_run(args: argparse.Namespace) -> None:
    settings = _settings(args)
    database = Database.from_settings(settings)
    database.upgrade()
    done = retention.run_once(database, settings)
    database.dispose()
    print(f"personal data removed from {done} consultation(s) older than {settings.retention_days} days")
def _account(args: argparse.Namespace, change: str) -> None:
    """``visitt users deactivate|reactivate|reset-second-factor EMAIL``: run as the server's operator."""
    database = Database.from_settings(_settings(args))
    database.upgrade()
    with database.session() as session:
        staff = accounts.staff_by_email(session, args.email)
        if change == "deactivate":
            accounts.deactivate(session, None, staff)
            done = "deactivated: sessions and API tokens ended, live sockets close within a second"
        elif change == "reactivate":
            accounts.reactivate(session, None, staff)
            done = "reactivated"
        else:
            second_factor.remove(session, staff, "system")
            done = "has no second factor now; it is set up again at the next sign-in (required for administrators)"
        print(f"{staff.email} {done}")
    database.dispose()


def cmd_users_reset_link(args: argparse.Namespace) -> None:
    settings = _settings(args)
    problem = _public_url_problem(settings.public_url)
    if problem:
        print(f"visitt: {problem}", file=sys.stderr)
        sys.exit(2)
    database = Database.from_settings(settings)
    database.upgrade()
    with database.session() as session:
        url = password_reset.create_link(session, None, accounts.staff_by_email(session, args.email),
                                         base_url=settings.public_url, hours=settings.reset_link_hours)
    database.dispose()
    print(url)  # alone on stdout, for scripts; what it is, on stderr
    print(f"works once, for {settings.reset_link_hours} hours: give it to the person yourself", file=sys.stderr)


def cmd_tokens_create(args: argparse.Namespace) -> None:
    database = Database.from_settings(_settings(args))
    database.upgrade()
    with database.session() as session:
        token = accounts.create_api_token(session, args.email, days=args.days, name=args.name)
    database.dispose()
    print(token)  # alone on stdout, for scripts; what it is, on stderr
    print(f"valid for {args.days} days; only its hash is stored, so copy it now", file=sys.stderr)


def cmd_tokens_list(args: argparse.Namespace) -> None:
    database = Database.from_settings(_settings(args))
    database.upgrade()
    with database.session() as session:
        rows = accounts.api_tokens(session, args.email)
        print(f"{'id':>5}  {'state':<8} {'created (UTC)':<17} {'expires (UTC)':<17} staff")
        for row in rows:
            print(f"{row.id:>5}  {accounts.token_state(row):<8} {row.created_at:%Y-%m-%d %H:%M} "
                  f"{row.expires_at:%Y-%m-%d %H:%M} {row.staff.email}")
    database.dispose()


def cmd_tokens_revoke(args: argparse.Namespace) -> None:
    if (args.id is None) == (args.email is None):
        print("visitt: name one token by its id, or --email for all of one staff member's", file=sys.stderr)
        sys.exit(2)
    database = Database.from_settings(_settings(args))
    database.upgrade()
    with database.session() as session:
        revoked = accounts.revoke_api_tokens(session, token_id=args.id, email=args.email)
        ids = ", ".join(str(row.id) for row in revoked)
    database.dispose()
    print(f"revoked {len(revoked)} token{'' if len(revoked) == 1 else 's'}{': ' + ids if ids else ''}")


def cmd_turn_config(args: argparse.Namespace) -> None:
    settings = _settings(args)
    try:
        print(turn.coturn_config(settings, listening_port=args.port, tls_port=args.tls_port,
                                 allow_loopback=args.allow_loopback, realm=args.realm, cert=args.cert,
                                 pkey=args.pkey, allowed_peers=tuple(args.allow_peer)), end="")
    except ValueError as error:
        print(f"visitt: {error}", file=sys.stderr)
        sys.exit(2)


def cmd_sso_jwks(args: argparse.Namespace) -> None:
    """The public half of the private_key_jwt key, as the JWKS to register at the identity provider."""
    path = args.key or _settings(args).oidc_private_key_file
    if not path:
        print("visitt: name the key: --key FILE or VISITT_OIDC_PRIVATE_KEY_FILE", file=sys.stderr)
        sys.exit(2)
    print(json.dumps(sso.public_jwks(path), indent=2))


def cmd_sso_link(args: argparse.Namespace) -> None:
    database = Database.from_settings(_settings(args))
    database.upgrade()
    with database.session() as session:
        staff = sso.link(session, args.email, args.sso_id)
        print(f"{staff.email} signs in by single sign-on as {staff.sso_id}" if staff.sso_id
              else f"{staff.email} has no single sign-on id")
    database.dispose()


def cmd_sso_auto_create(args: argparse.Namespace) -> None:
    database = Database.from_settings(_settings(args))
    database.upgrade()
    with database.session() as session:
        department = sso.allow_accounts(session, args.department, args.allowed == "on")
        print(f"single sign-on {'makes' if department.sso_auto_create else 'does not make'} accounts in "
              f"{department.name}")
    database.dispose()


def cmd_janus_config(args: argparse.Namespace) -> None:
    settings = _settings(args)
    directory = Path(args.directory)
    try:
        janus_config.write_config(settings, directory, port=args.port, address=args.address,
                                  rtp_ports=args.rtp_ports, turn_days=args.turn_days)
    except ValueError as error:
        print(f"visitt: {error}", file=sys.stderr)
        sys.exit(2)
    print(f"wrote the Janus configuration to {directory}; run it with:\n"
          f"  janus -F {directory} -C {directory / 'janus.jcfg'}\n"
          f"and set VISITT_JANUS_URL=http://{args.address}:{args.port}/janus")


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="visitt", description="Self-hosted video consultations.")
    sub = root.add_subparsers(dest="command", required=True)

    def with_data_dir(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("--data-dir", help="where the SQLite database lives (VISITT_DATA_DIR)")
        return p

    for name, func, text in (("serve", cmd_serve, "run the service"),
                             ("demo", cmd_demo, "run the service with demo data and print the logins")):
        p = with_data_dir(sub.add_parser(name, help=text))
        p.add_argument("--host", default="127.0.0.1")
        p.add_argument("--port", type=int, default=8000)
        p.set_defaults(func=func)

    users = sub.add_parser("users", help="staff accounts").add_subparsers(dest="users_command", required=True)
    add = with_data_dir(users.add_parser("add", help="create a staff account (password asked, or VISITT_NEW_PASSWORD)"))
    add.add_argument("email")
    add.add_argument("--name", required=True, help="full name")
    add.add_argument("--role", choices=[r.value for r in Role], default="clinician")
    add.add_argument("--department", help="department name (created if missing)")
    add.add_argument("--portal", action="store_true",
                     help="list this clinician on the portal: takes unscheduled video visitors (needs --department)")
    add.set_defaults(func=cmd_users_add)
    listing = with_data_dir(users.add_parser("portal", help="list a clinician on the portal, or take them off it"))
    listing.add_argument("email")
    listing.add_argument("listed", choices=["on", "off"])
    listing.set_defaults(func=cmd_users_portal)
    trained = with_data_dir(users.add_parser("trained", help="record training done elsewhere (the training gate)"))
    trained.add_argument("email")
    trained.set_defaults(func=cmd_users_trained)
    for name, text in (("deactivate", "deactivate an account: ends its sessions, API tokens and live sockets"),
                       ("reactivate", "let a deactivated account sign in again"),
                       ("reset-second-factor", "take an account's second factor away (lost phone and codes)")):
        change = with_data_dir(users.add_parser(name, help=text))
        change.add_argument("email")
        change.set_defaults(func=lambda args, name=name: _account(args, name))
    reset = with_data_dir(users.add_parser("reset-link", help="print a one-time link to set a new password"))
    reset.add_argument("email")
    reset.set_defaults(func=cmd_users_reset_link)
    admin_cli.add_commands(sub, users, with_data_dir, lambda func: lambda args: func(_settings(args), args))

    tokens = sub.add_parser("tokens", help="API tokens").add_subparsers(dest="tokens_command", required=True)
    create = with_data_dir(tokens.add_parser("create", help="print a new API token for a staff user"))
    create.add_argument("email")
    create.add_argument("--days", type=int, default=accounts.TOKEN_DAYS,
                        help=f"how long it lasts, 1-{accounts.MAX_TOKEN_DAYS} days (default {accounts.TOKEN_DAYS})")
    create.add_argument("--name", default="", help="what uses it, e.g. \"Booking system\"")
    create.set_defaults(func=cmd_tokens_create)
    token_list = with_data_dir(tokens.add_parser("list", help="list API tokens: id, state, dates, staff"))
    token_list.add_argument("email", nargs="?", help="only this staff member's")
    token_list.set_defaults(func=cmd_tokens_list)
    revoke = with_data_dir(tokens.add_parser("revoke", help="revoke an API token by id, or all of one staff member's"))
    revoke.add_argument("id", type=int, nargs="?", help="the token's id, from `visitt tokens list`")
    revoke.add_argument("--email", help="revoke every token of this staff member")
    revoke.set_defaults(func=cmd_tokens_revoke)

    turn_config = sub.add_parser("turn-config", help="print a coturn configuration matching VISITT_TURN_SECRET")
    turn_config.add_argument("--port", type=int, default=3478, help="TURN over UDP/TCP")
    turn_config.add_argument("--tls-port", type=int, default=443, help="TURN over TLS, for strict firewalls")
    turn_config.add_argument("--realm", default="visitt")
    turn_config.add_argument("--allow-loopback", action="store_true",
                             help="relay to 127.0.0.1 too (tests on one machine only)")
    turn_config.add_argument("--cert", default="", help="PEM certificate (chain) for the TLS listener")
    turn_config.add_argument("--pkey", default="", help="PEM private key for the TLS listener")
    turn_config.add_argument("--allow-peer", action="append", default=[], metavar="RANGE",
                             help="relay to this private range too, e.g. 10.201.0.0-10.201.255.255 (test networks only)")
    turn_config.set_defaults(func=cmd_turn_config)

    kept = sub.add_parser("retention", help="personal data of old consultations").add_subparsers(
        dest="retention_command", required=True)
    with_data_dir(kept.add_parser("run", help="remove it now (the server does it daily)")).set_defaults(
        func=cmd_retention_run)
    single = sub.add_parser("sso", help="single sign-on (OpenID Connect)").add_subparsers(dest="sso_command",
                                                                                            required=True)
    jwks = single.add_parser("jwks", help="print the public JWKS of the private_key_jwt key, to register at the provider")
    jwks.add_argument("--key", help="PEM file of the private key (default: VISITT_OIDC_PRIVATE_KEY_FILE)")
    jwks.set_defaults(func=cmd_sso_jwks)
    linked = with_data_dir(single.add_parser("link", help="record the VISITT_OIDC_CLAIM value that names a staff "
                                                          "member at the provider (empty: none)"))
    linked.add_argument("email")
    linked.add_argument("sso_id", help="e.g. the HPR number")
    linked.set_defaults(func=cmd_sso_link)
    auto = with_data_dir(single.add_parser("auto-create", help="let single sign-on make accounts in a department"))
    auto.add_argument("department")
    auto.add_argument("allowed", choices=["on", "off"])
    auto.set_defaults(func=cmd_sso_auto_create)
    janus = sub.add_parser("janus-config", help="write a Janus configuration directory matching VISITT_JANUS_API_SECRET")
    janus.add_argument("directory", help="where to write janus.jcfg and the transport's and VideoRoom's files")
    janus.add_argument("--port", type=int, default=8088, help="the Janus API's HTTP port")
    janus.add_argument("--address", default="127.0.0.1", help="the one address the Janus API listens on")
    janus.add_argument("--rtp-ports", default="20000-40000", help="UDP ports for media, e.g. 20000-40000")
    janus.add_argument("--turn-days", type=int, default=365,
                       help="how long Janus's own TURN credential lasts; write the configuration again before")
    janus.set_defaults(func=cmd_janus_config)

    db = sub.add_parser("db", help="database").add_subparsers(dest="db_command", required=True)
    with_data_dir(db.add_parser("upgrade", help="apply migrations")).set_defaults(func=cmd_db_upgrade)
    return root


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    try:
        args.func(args)
    except SettingsInvalid as error:
        print(f"visitt: {error}".replace("\n", "\nvisitt: "), file=sys.stderr)
        sys.exit(2)
    except VisittError as error:
        detail = "; ".join(f"{k}: {v}" for k, v in error.fields.items())
        print(f"visitt: {error.message}{' (' + detail + ')' if detail else ''}", file=sys.stderr)
        sys.exit(2)
