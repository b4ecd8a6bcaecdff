"""`fig contracts ...`: export, check (drift, breaking-change gate, consumers), diff, baseline, test."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from rich.console import Console

__all__ = ["contracts"]

console = Console(highlight=False, soft_wrap=True)
ROOT = Path(__file__).resolve().parent.parent


@click.group()
def contracts() -> None:
    """Published OpenAPI documents (contracts/openapi/<api>/<version>.json) and their governance."""


@contracts.command("export")
def contracts_export() -> None:
    """Regenerate the committed OpenAPI documents from code."""
    from deploy.contracts_cmd import export_documents

    for path in export_documents():
        console.print(f"wrote {path.relative_to(ROOT)}")


@contracts.command("check")
def contracts_check() -> None:
    """Fail on drift, on a breaking change against the baseline, or on a broken consumer expectation."""
    from deploy.contracts_cmd import check_consumers, check_documents, gate_documents

    failed = False
    for problem in check_documents():
        console.print(f"[red]drift[/] {problem}")
        failed = True
    gated = gate_documents()
    for (api, version), (source, changes) in sorted(gated.items()):
        refused = [c for c in changes if not c.accepted]
        for change in refused:
            console.print(
                f"[red]breaking[/] {api} {version} vs {source}: {change.rule} at {change.location}: {change.message}"
            )
        failed = failed or bool(refused)
        accepted = len(changes) - len(refused)
        console.print(
            f"gate {api} {version} vs {source}: {len(refused)} breaking, {accepted} accepted by the allow-list"
        )
    consumers = check_consumers()
    for problem in consumers:
        console.print(f"[red]consumer[/] {problem}")
    failed = failed or bool(consumers)
    if failed:
        sys.exit(1)
    console.print("contracts: committed documents match the code, no unaccepted breaking change, consumers met")


@contracts.command("diff")
@click.argument("old", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("new", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--allowlist", type=click.Path(dir_okay=False, path_type=Path), default=None, help="Accepted breaks (TOML)."
)
@click.option("--api", default=None, help="API name for allow-list entries scoped to one API.")
@click.option("--version", "api_version", default=None, help="Version for allow-list entries scoped to one version.")
@click.option("--json", "as_json", is_flag=True, help="Print the changes as JSON.")
def contracts_diff(  # noqa: PLR0917 - click passes one argument per option
    old: Path, new: Path, allowlist: Path | None, api: str | None, api_version: str | None, as_json: bool
) -> None:
    """Classify every change from OLD to NEW as breaking or not; exit 1 on an unaccepted breaking change."""
    import msgspec

    from contracts.compat import apply_allowlist, diff_documents, load_allowlist
    from deploy.contracts_cmd import ALLOWLIST

    accepted = load_allowlist(allowlist or ALLOWLIST)
    # contracts/openapi/<api>/<version>.json names its API and version; elsewhere give --api/--version.
    api = api or new.parent.name
    api_version = api_version or new.name.split(".", 1)[0]
    changes = apply_allowlist(
        diff_documents(json.loads(old.read_text()), json.loads(new.read_text())), accepted, api=api, version=api_version
    )
    if as_json:
        click.echo(msgspec.json.encode(changes).decode())
    else:
        for change in changes:
            if change.breaking and not change.accepted:
                label = "[red]BREAKING[/]"
            elif change.breaking:
                label = "[yellow]accepted[/]"
            else:
                label = "[green]ok[/]      "
            reason = f" (accepted: {change.accepted})" if change.accepted else ""
            console.print(f"{label} {change.rule:<38} {change.location}: {change.message}{reason}")
    refused = [c for c in changes if c.breaking and not c.accepted]
    console.print(f"{len(changes)} changes, {sum(c.breaking for c in changes)} breaking, {len(refused)} not accepted")
    sys.exit(1 if refused else 0)


@contracts.command("baseline")
def contracts_baseline() -> None:
    """Snapshot every committed document as <version>.baseline.json (at a release; the gate compares with it)."""
    from deploy.contracts_cmd import write_baselines

    for path in write_baselines():
        console.print(f"wrote {path.relative_to(ROOT)}")


@contracts.command("test")
@click.option("--base-url", required=True, help="Root URL of the deployed gateway or service.")
@click.option("--api", required=True, help="API name (a directory of contracts/openapi), e.g. gateway.")
@click.option("--version", "api_version", required=True, help="Major version, e.g. v1.")
@click.option("--document", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None)
@click.option("--token", envvar="FIG_CONTRACT_TOKEN", default=None, help="Bearer token (or use client credentials).")
@click.option("--client-id", default=None)
@click.option("--client-secret", envvar="FIG_CONTRACT_CLIENT_SECRET", default=None)
@click.option("--token-url", default=None, help="OAuth2 token endpoint, e.g. http://127.0.0.1:8400/oauth2/token")
@click.option("--scope", default=None)
@click.option(
    "--junit", type=click.Path(dir_okay=False, path_type=Path), default=Path("contract-tests.xml"), show_default=True
)
@click.option("--max-examples", default=10, show_default=True, type=click.IntRange(1, 1000))
@click.option("--no-stateful", is_flag=True, help="Skip the stateful (create-then-read) phase.")
def contracts_test(  # noqa: PLR0917 - click passes one argument per option
    base_url: str,
    api: str,
    api_version: str,
    document: Path | None,
    token: str | None,
    client_id: str | None,
    client_secret: str | None,
    token_url: str | None,
    scope: str | None,
    junit: Path,
    max_examples: int,
    no_stateful: bool,
) -> None:
    """Run the contract suite (schemathesis) against a deployed gateway or service; JUnit XML, exit 1 on failure."""
    from deploy.contract_tests import ContractTestError, client_credentials_token, run_contract_suite
    from deploy.contracts_cmd import OPENAPI_DIR

    path = document or OPENAPI_DIR / api / f"{api_version}.json"
    if not path.exists():
        console.print(f"[red]no document {path}[/]")
        sys.exit(2)
    try:
        if token is None:
            if not (client_id and client_secret and token_url):
                raise ContractTestError("give --token, or --client-id, --client-secret and --token-url")
            token = client_credentials_token(token_url, client_id, client_secret, scope)
        result = run_contract_suite(
            path,
            base_url,
            token,
            api=api,
            version=api_version,
            junit=junit,
            max_examples=max_examples,
            stateful=not no_stateful,
        )
    except ContractTestError as exc:
        console.print(f"[red]contract tests could not run:[/] {exc}")
        sys.exit(2)
    for case in result.cases:
        state = "[yellow]skipped[/]" if case.skipped else ("[green]passed[/]" if case.passed else "[red]failed[/]")
        console.print(f"{state} {case.name}")
        if not case.passed and not case.skipped:
            console.print(case.message, markup=False)
    if result.exit_code != 0 and not result.failed:
        console.print(result.warnings or result.output[-3000:], markup=False)
    console.print(f"{result.summary}; JUnit report: {junit}")
    sys.exit(0 if result.exit_code == 0 else 1)
