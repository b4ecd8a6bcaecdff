"""The `fig` command line: run the stack, the demo, one service, tokens, contracts and checks."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.console import Console

from deploy.audit_cmd import audit
from deploy.contracts_cli import contracts

if TYPE_CHECKING:
    from deploy.stack import Stack

__all__ = ["main"]

ROOT = Path(__file__).resolve().parent.parent
console = Console(highlight=False)

_DATA_DIR = click.option(
    "--data-dir",
    type=click.Path(path_type=Path),
    default=ROOT / "var",
    show_default=True,
    help="The local stack's data directory (its generated dev credentials are in credentials/).",
)


def _local_secret(data_dir: Path, client_id: str) -> str:
    """A client's generated dev secret from a local stack's data directory, or exit with why not."""
    import msgspec

    from gateway.idp.devcredentials import DevCredentials

    path = data_dir / "credentials" / "credentials.json"
    try:
        creds = msgspec.json.decode(path.read_bytes(), type=DevCredentials)
        return creds.client_secret(client_id)
    except (OSError, msgspec.DecodeError, KeyError) as exc:
        console.print(f"[red]no dev secret for {client_id!r} in {path} ({exc}); run `fig up` first or pass --secret[/]")
        sys.exit(1)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Finance Integration Gateway: governed integration of CRM, ERP and planning platforms."""


@main.command()
@click.option("--demo", is_flag=True, help="Run the quote-to-cash demo once the stack is ready.")
@click.option("--redis-url", envvar="FIG_REDIS_URL", help="Use this Redis instead of an embedded one.")
@click.option(
    "--data-dir",
    type=click.Path(path_type=Path),
    default=ROOT / "var",
    show_default=True,
    help="Where Redis data, sandbox state and logs live.",
)
@click.option("--vendor-pace", is_flag=True, help="Keep vendor polling intervals (slow) instead of demo pace.")
@click.option(
    "--https/--http",
    default=True,
    show_default=True,
    help="Sandboxes serve HTTPS with a certificate of the local CA (<data-dir>/tls/ca.pem, created on first use).",
)
def up(demo: bool, redis_url: str | None, data_dir: Path, vendor_pace: bool, https: bool) -> None:
    """Start Redis (embedded unless --redis-url), the sandboxes, system APIs, process API, IdP, gateway and console.

    Waits until every process is ready, prints the URLs, restarts a process (or the embedded Redis)
    that crashes, with back-off, and stops everything on Ctrl-C or SIGTERM.
    """
    from deploy.demo import DemoError, DemoUrls, run_demo
    from deploy.stack import Stack, StackError
    from deploy.supervisor import Supervisor

    stack = Stack(data_dir, redis_url=redis_url, fast=not vendor_pace, https=https)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    console.print(f"starting the stack (data and logs in {data_dir})")
    try:
        stack.start(on_ready=lambda p: console.print(f"  [green]ready[/] {p.spec.name:<20} {p.url}"))
    except StackError as exc:
        console.print(f"[red]the stack did not start:[/] {exc}")
        sys.exit(1)
    console.print(f"  redis                {stack.redis_url}")
    _print_logins(stack)
    if stack.ca_bundle:
        console.print(f"  sandbox CA bundle    {stack.ca_bundle}   (trust it for the sandboxes' HTTPS)")
    console.print(f"[bold]gateway: {stack.url('gateway')}[/]   (Ctrl-C stops everything)")
    if "console" in stack.ports:
        demo_user = "ana.de"
        console.print(
            f"[bold]console: {stack.url('console')}[/]   demo login: {demo_user} / "
            f"{stack.credentials.passwords.get(demo_user, '<see var/credentials>')}"
        )
    code = 0
    try:
        if demo:
            urls = DemoUrls(
                gateway=stack.url("gateway"),
                idp=stack.url("idp"),
                salesforce=stack.url("salesforce-sandbox"),
                netsuite=stack.url("netsuite-sandbox"),
                anaplan=stack.url("anaplan-sandbox"),
                ca_bundle=stack.ca_bundle,
            )
            try:
                run_demo(urls, console, client_secret=stack.credentials.client_secret("demo"))
            except DemoError as exc:
                console.print(f"[red]demo failed:[/] {exc}")
                code = 1
            console.print("the stack keeps running; Ctrl-C stops it")
        supervisor = Supervisor(stack, report=lambda message: console.print(f"[yellow]{message}[/]"))
        supervisor.watch(stop)
    finally:
        console.print("stopping the stack ...")
        stack.stop()
        console.print("stopped")
    sys.exit(code)


def _print_logins(stack: Stack) -> None:
    """The generated demo logins (people) and where the secrets are: local, never committed."""
    from gateway.idp.users import load_users

    creds = stack.credentials
    users = load_users(creds.users_path)
    console.print(f"  dev credentials      {Path(creds.users_path).parent} (generated, never committed)")
    if "console" in stack.ports:
        console.print(f"  sign-in (people)     {stack.url('console')} (the operations console)")
    else:
        console.print(f"  sign-in (people)     {stack.url('idp')}/oauth2/authorize (client fig-console, PKCE S256)")
    for username, password in creds.passwords.items():
        user = users.get(username)
        detail = f"{', '.join(user.roles)} for {', '.join(user.legal_entities)}" if user else ""
        console.print(f"    {username:<18} {password:<18} {detail}")


@main.command()
@click.option("--gateway-url", default="http://127.0.0.1:8000", show_default=True)
@click.option("--idp-url", default="http://127.0.0.1:8400", show_default=True)
@_DATA_DIR
@click.option(
    "--https/--http",
    default=True,
    show_default=True,
    help="The stack's sandboxes serve HTTPS (as `fig up` does unless --http); trust --ca-bundle.",
)
@click.option(
    "--ca-bundle",
    type=click.Path(path_type=Path),
    default=ROOT / "var" / "tls" / "ca.pem",
    show_default=True,
    help="The local CA `fig up` created for the sandboxes.",
)
def demo(gateway_url: str, idp_url: str, data_dir: Path, https: bool, ca_bundle: Path) -> None:
    """Drive the demo opportunity from approval to forecast through a running stack (`fig up`)."""
    from deploy.demo import DemoError, DemoUrls, run_demo
    from deploy.services import BY_NAME, service_url

    sandboxes = {
        field: service_url(name, BY_NAME[name].port, https=https)
        for field, name in (("salesforce", "salesforce-sandbox"), ("netsuite", "netsuite-sandbox"),
                            ("anaplan", "anaplan-sandbox"))
    }  # fmt: skip
    urls = DemoUrls(gateway=gateway_url, idp=idp_url, ca_bundle=str(ca_bundle) if https else None, **sandboxes)
    try:
        run_demo(urls, console, client_secret=_local_secret(data_dir, "demo"))
    except DemoError as exc:
        console.print(f"[red]demo failed:[/] {exc}")
        sys.exit(1)


@main.command()
@click.option("--client", "client_id", default="demo", show_default=True, help="Client id in the IdP registry.")
@click.option("--secret", default=None, help="Client secret (default: the local stack's generated dev secret).")
@click.option("--scope", default=None, help="Space-separated scopes (default: all the client may have).")
@click.option("--idp-url", default="http://127.0.0.1:8400", show_default=True)
@_DATA_DIR
def token(client_id: str, secret: str | None, scope: str | None, idp_url: str, data_dir: Path) -> None:
    """Print an access token from the identity provider (client-credentials grant)."""
    from deploy.demo import DemoError, fetch_token

    try:
        click.echo(fetch_token(idp_url, client_id, secret or _local_secret(data_dir, client_id), scope))
    except DemoError as exc:
        console.print(f"[red]{exc}[/]")
        sys.exit(1)


@main.command()
@click.argument(
    "service",
    type=click.Choice(
        [
            "gateway",
            "idp",
            "process",
            "crm",
            "erp",
            "planning",
            "salesforce-sandbox",
            "netsuite-sandbox",
            "anaplan-sandbox",
            "console",
        ]
    ),
)
def serve(service: str) -> None:
    """Run one service in the foreground, configured by FIG_* environment variables."""
    from deploy.serve import serve_service

    serve_service(service)


main.add_command(contracts)
main.add_command(audit)


@main.group()
def manifests() -> None:
    """Kubernetes manifests (deploy/k8s/) and the compose file (deploy/compose.yaml), rendered from the registry."""


@manifests.command("render")
def manifests_render() -> None:
    """Rewrite deploy/k8s/ and deploy/compose.yaml from deploy/services.py, removing files no longer rendered."""
    from deploy.manifests import DEPLOY_DIR, K8S_DIR, render_all

    files = render_all()
    for path in sorted(K8S_DIR.rglob("*.yaml")):
        if str(path.relative_to(DEPLOY_DIR)) not in files:
            path.unlink()
            console.print(f"removed deploy/{path.relative_to(DEPLOY_DIR)}")
    for name, text in files.items():
        target = DEPLOY_DIR / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
        console.print(f"wrote deploy/{name}")


CHECKS: tuple[tuple[str, list[str]], ...] = (
    ("lint", ["ruff", "check", "."]),
    ("format", ["ruff", "format", "--check", "."]),
    (
        "types",
        [
            "mypy",
            "contracts",
            "servicekit",
            "system_apis",
            "process_apis",
            "gateway",
            "deploy",
            "experience",
            "tests",
            "bench",
        ],
    ),
    ("layers", ["lint-imports"]),
    ("contracts", ["fig", "contracts", "check"]),
    ("tests", ["pytest"]),
    # Every test that uses the session's Redis again, on a real Redis Cluster (tests/conftest.py):
    # a cross-slot command anywhere fails here.
    ("cluster", ["pytest", "-m", "redis"]),
)
#: Environment of a step beyond the caller's.
CHECK_ENV: dict[str, dict[str, str]] = {"cluster": {"FIG_TEST_REDIS": "cluster"}}
#: The steps that run pytest, and so take `fig check`'s pytest arguments.
PYTEST_STEPS = frozenset({"tests", "cluster"})


@main.command()
@click.option("--skip", multiple=True, type=click.Choice([n for n, _ in CHECKS]), help="Skip a step.")
@click.argument("pytest_args", nargs=-1)
def check(skip: tuple[str, ...], pytest_args: tuple[str, ...]) -> None:
    """Lint, format, types, import layering, contract drift, the whole test suite and its Redis-backed
    tests again on a Redis Cluster (what CI runs)."""
    bindir = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}"}
    failed = []
    for name, argv in CHECKS:
        if name in skip:
            continue
        if name == "tests":
            from deploy.browser import BrowserMissing, ensure_chromium

            try:  # the console's browser tests drive Debian's chromium: install it once if missing
                ensure_chromium()
            except BrowserMissing as exc:
                console.print(f"[red]browser:[/] {exc}")
                failed.append("browser")
                continue
        args = [*argv[1:], *(pytest_args if name in PYTEST_STEPS else ())]
        extra = CHECK_ENV.get(name, {})
        shown = " ".join([*(f"{k}={v}" for k, v in extra.items()), argv[0], *args])
        console.rule(f"[bold]{name}[/]: {shown}")
        if subprocess.run([str(bindir / argv[0]), *args], cwd=ROOT, env=env | extra, check=False).returncode != 0:  # noqa: S603
            failed.append(name)
    console.rule()
    if failed:
        console.print(f"[red]failed:[/] {', '.join(failed)}")
        sys.exit(1)
    console.print("[green]all checks passed[/]")
