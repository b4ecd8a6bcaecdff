"""The `fig` command line: run the stack, the demo, one service, tokens, contracts and checks."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import click
from rich.console import Console

from deploy.audit_cmd import audit
from deploy.contracts_cli import contracts

__all__ = ["main"]

ROOT = Path(__file__).resolve().parent.parent
console = Console(highlight=False)


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
def up(demo: bool, redis_url: str | None, data_dir: Path, vendor_pace: bool) -> None:
    """Start Redis (embedded unless --redis-url), the sandboxes, system APIs, process API, IdP and gateway.

    Waits until every process is ready, prints the URLs, and stops everything on Ctrl-C or SIGTERM.
    """
    from deploy.demo import DemoError, DemoUrls, run_demo
    from deploy.stack import Stack, StackError

    stack = Stack(data_dir, redis_url=redis_url, fast=not vendor_pace)
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
    console.print(f"[bold]gateway: {stack.url('gateway')}[/]   (Ctrl-C stops everything)")
    code = 0
    try:
        if demo:
            urls = DemoUrls(
                gateway=stack.url("gateway"),
                idp=stack.url("idp"),
                salesforce=stack.url("salesforce-sandbox"),
                netsuite=stack.url("netsuite-sandbox"),
                anaplan=stack.url("anaplan-sandbox"),
            )
            try:
                run_demo(urls, console)
            except DemoError as exc:
                console.print(f"[red]demo failed:[/] {exc}")
                code = 1
            console.print("the stack keeps running; Ctrl-C stops it")
        while not stop.wait(1.0):
            dead = stack.dead()
            if dead:
                for proc in dead:
                    console.print(f"[red]{proc.spec.name} exited ({proc.popen.returncode}):[/]\n{proc.log_tail()}")
                code = 1
                break
    finally:
        console.print("stopping the stack ...")
        stack.stop()
        console.print("stopped")
    sys.exit(code)


@main.command()
@click.option("--gateway-url", default="http://127.0.0.1:8000", show_default=True)
@click.option("--idp-url", default="http://127.0.0.1:8400", show_default=True)
def demo(gateway_url: str, idp_url: str) -> None:
    """Drive the demo opportunity from approval to forecast through a running stack (`fig up`)."""
    from deploy.demo import DemoError, DemoUrls, run_demo

    try:
        run_demo(DemoUrls(gateway=gateway_url, idp=idp_url), console)
    except DemoError as exc:
        console.print(f"[red]demo failed:[/] {exc}")
        sys.exit(1)


@main.command()
@click.option("--client", "client_id", default="demo", show_default=True, help="Client id in the IdP registry.")
@click.option("--secret", default=None, help="Client secret (default: the dev secret `<client>-secret`).")
@click.option("--scope", default=None, help="Space-separated scopes (default: all the client may have).")
@click.option("--idp-url", default="http://127.0.0.1:8400", show_default=True)
def token(client_id: str, secret: str | None, scope: str | None, idp_url: str) -> None:
    """Print an access token from the identity provider (client-credentials grant)."""
    from deploy.demo import DemoError, fetch_token

    try:
        click.echo(fetch_token(idp_url, client_id, secret or f"{client_id}-secret", scope))
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
    """Kubernetes manifests in deploy/k8s/, rendered from the service registry."""


@manifests.command("render")
def manifests_render() -> None:
    """Rewrite deploy/k8s/*.yaml from deploy/services.py."""
    from deploy.manifests import K8S_DIR, render_manifests

    for name, text in render_manifests().items():
        (K8S_DIR / name).write_text(text)
        console.print(f"wrote deploy/k8s/{name}")


CHECKS: tuple[tuple[str, list[str]], ...] = (
    ("lint", ["ruff", "check", "."]),
    ("format", ["ruff", "format", "--check", "."]),
    (
        "types",
        ["mypy", "contracts", "servicekit", "system_apis", "process_apis", "gateway", "deploy", "tests", "bench"],
    ),
    ("layers", ["lint-imports"]),
    ("contracts", ["fig", "contracts", "check"]),
    ("tests", ["pytest"]),
)


@main.command()
@click.option("--skip", multiple=True, type=click.Choice([n for n, _ in CHECKS]), help="Skip a step.")
@click.argument("pytest_args", nargs=-1)
def check(skip: tuple[str, ...], pytest_args: tuple[str, ...]) -> None:
    """Lint, format, types, import layering, contract drift and the whole test suite (what CI runs)."""
    bindir = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}"}
    failed = []
    for name, argv in CHECKS:
        if name in skip:
            continue
        command = [str(bindir / argv[0]), *argv[1:]] + (list(pytest_args) if name == "tests" else [])
        console.rule(f"[bold]{name}[/]: {' '.join(argv + (list(pytest_args) if name == 'tests' else []))}")
        if subprocess.run(command, cwd=ROOT, env=env, check=False).returncode != 0:  # noqa: S603
            failed.append(name)
    console.rule()
    if failed:
        console.print(f"[red]failed:[/] {', '.join(failed)}")
        sys.exit(1)
    console.print("[green]all checks passed[/]")
