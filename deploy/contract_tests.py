"""Contract tests: schemathesis against a committed OpenAPI document and a running service or gateway.

`run_contract_suite` is what `fig contracts test` and `tests/contracts/` both run: it refuses to
start unless a preflight call with the token is accepted (a wrong token would otherwise make every
case a green 401), writes a schemathesis config with `warnings.fail-on` for missing/unused auth and
the recorded false positives (`contracts/openapi/contract-test-exceptions.toml`, one operation and
one check each, with a reason), runs `schemathesis run` with a JUnit XML report, and reads the
report back per operation.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import tomllib
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Annotated, Any

import httpx
import msgspec

__all__ = [
    "CHECKS",
    "EXCEPTIONS_FILE",
    "POSITIVE_STATUSES",
    "CaseResult",
    "ContractTestError",
    "KnownFalsePositive",
    "KnownFinding",
    "SuiteResult",
    "client_credentials_token",
    "load_exceptions",
    "load_findings",
    "preflight",
    "run_contract_suite",
]

ROOT = Path(__file__).resolve().parent.parent
EXCEPTIONS_FILE = ROOT / "contracts" / "openapi" / "contract-test-exceptions.toml"
#: The checks every run applies: every check schemathesis has (`--checks all`), named, plus ours.
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "response_headers_conformance",
    "negative_data_rejection",  # a schema-violating request must be refused (4xx)
    "positive_data_acceptance",  # a schema-valid request must not be refused with 400/422
    "missing_required_header",
    "ignored_auth",
    "unsupported_method",
    "allow_header_conformance",
    "use_after_free",
    "ensure_resource_availability",
    "object_level_authorization",
    "token_accepted",  # ours (deploy.schemathesis_hooks): a positive case with our token is never a 401
)
#: What a schema-valid request may be answered with (schemathesis' default plus 422, see `_config`).
POSITIVE_STATUSES = ("2xx", "3xx", "401", "403", "404", "409", "422", "429", "5xx")
_HOOKS = "deploy.schemathesis_hooks"


class ContractTestError(RuntimeError):
    """The suite could not run (document, token or preflight refused); the message says why."""


class KnownFalsePositive(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """One recorded false positive: this check does not apply to this operation, and why."""

    api: str
    version: str
    operation_id: str
    check: str
    reason: Annotated[str, msgspec.Meta(min_length=10)]


class KnownFinding(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """A real defect the suite found and its owner has not fixed yet: the operation's CI test is an
    expected failure (XPASS once it stops showing; then check the fix and remove the entry)."""

    api: str
    version: str
    operation: str  # `METHOD /path` as in the JUnit report
    owner: str
    reason: Annotated[str, msgspec.Meta(min_length=10)]


class _ExceptionsFile(msgspec.Struct, forbid_unknown_fields=True):
    exception: list[KnownFalsePositive] = msgspec.field(default_factory=list)
    finding: list[KnownFinding] = msgspec.field(default_factory=list)


class CaseResult(msgspec.Struct, kw_only=True, frozen=True):
    """One JUnit test case (one operation): its name, whether it passed, and the failure text."""

    name: str
    passed: bool
    skipped: bool = False
    message: str = ""


class SuiteResult(msgspec.Struct, kw_only=True, frozen=True):
    exit_code: int
    junit: Path
    cases: list[CaseResult]
    output: str

    @property
    def failed(self) -> list[CaseResult]:
        return [c for c in self.cases if not c.passed and not c.skipped]

    @property
    def summary(self) -> str:
        """E.g. `8 operations, 245 generated, 245 passed, 4 skipped` (schemathesis' own count line)."""
        found = re.search(r"Test cases:\s*\n\s*(.+)", self.output)
        return f"{len(self.cases)} operations, " + (found.group(1).strip() if found else "no case count reported")

    @property
    def warnings(self) -> str:
        """schemathesis' WARNINGS section (why a run with no failed case still failed, e.g. auth)."""
        found = re.search(r"=+ WARNINGS =+\n(.*?)\n=+ SUMMARY", self.output, re.S)
        return found.group(1).strip() if found else ""


def _load(path: Path) -> _ExceptionsFile:
    if not path.exists():
        return _ExceptionsFile()
    try:
        return msgspec.convert(tomllib.loads(path.read_text()), _ExceptionsFile)
    except (tomllib.TOMLDecodeError, msgspec.ValidationError) as exc:
        raise ContractTestError(f"{path}: {exc}") from None


def load_exceptions(path: Path = EXCEPTIONS_FILE) -> list[KnownFalsePositive]:
    """The recorded false positives: one check switched off for one operation, each with a reason."""
    return _load(path).exception


def load_findings(path: Path = EXCEPTIONS_FILE) -> list[KnownFinding]:
    """The recorded, not yet fixed real defects (expected failures of the CI suite)."""
    return _load(path).finding


def client_credentials_token(token_url: str, client_id: str, client_secret: str, scope: str | None = None) -> str:
    """An access token by the client-credentials grant (HTTP Basic client auth)."""
    form = {"grant_type": "client_credentials", **({"scope": scope} if scope else {})}
    try:
        response = httpx.post(token_url, data=form, auth=(client_id, client_secret), timeout=10.0)
    except httpx.HTTPError as exc:
        raise ContractTestError(f"token endpoint {token_url} unreachable: {exc}") from None
    if response.status_code != 200:
        raise ContractTestError(f"token endpoint refused {client_id}: {response.status_code} {response.text[:200]}")
    token = response.json().get("access_token")
    if not isinstance(token, str):
        raise ContractTestError("token endpoint answered without access_token")
    return token


def preflight(document: dict[str, Any], base_url: str, token: str) -> str:
    """Call the document's first GET with the token; ContractTestError when it is refused (401/403).

    Path parameters get a value that names no resource, so a 404 is the expected, accepted answer.
    """
    for path, item in sorted(document.get("paths", {}).items()):
        get = item.get("get")
        if not isinstance(get, dict):
            continue
        if any(p.get("required") and p.get("in") == "query" for p in get.get("parameters", [])):
            continue
        url = base_url.rstrip("/") + re.sub(r"\{[^}]+\}", "contract-preflight", path)
        try:
            response = httpx.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=15.0)
        except httpx.HTTPError as exc:
            raise ContractTestError(f"preflight GET {url} failed: {exc}") from None
        if response.status_code in (401, 403):
            raise ContractTestError(
                f"preflight GET {url} refused the token ({response.status_code}): {response.text[:300]}"
            )
        return f"GET {url} -> {response.status_code}"
    raise ContractTestError("the document has no GET operation usable as preflight")


def _config(api: str, version: str, exceptions: list[KnownFalsePositive], max_examples: int) -> str:
    lines = [
        "[warnings]",
        'fail-on = ["missing_auth", "unused_openapi_auth"]',
        "[generation]",
        f"max-examples = {max_examples}",
        # A schema-valid request may still be refused on what it means (422: an unknown legal
        # entity, a vendor refusing a value, a reused Idempotency-Key): no schema can say which
        # entities exist. A 400 stays a failure: it says the document allows what the code refuses.
        "[checks.positive_data_acceptance]",
        f"expected-statuses = {json.dumps(list(POSITIVE_STATUSES))}",
        "[auth.openapi.bearer]",
        'bearer = "${FIG_CONTRACT_TOKEN}"',
    ]
    for known in exceptions:
        if (known.api, known.version) != (api, version):
            continue
        lines += [
            "[[operations]]",
            f"include-operation-id = {json.dumps(known.operation_id)}",
            f"checks.{known.check}.enabled = false",
        ]
    return "\n".join(lines) + "\n"


def _read_junit(path: Path) -> list[CaseResult]:
    if not path.exists():
        return []
    cases = []
    for case in ET.parse(path).getroot().iter("testcase"):  # noqa: S314 - our own subprocess wrote it
        failures = [*case.findall("failure"), *case.findall("error")]
        text = "\n".join((f.get("message") or "") + "\n" + (f.text or "") for f in failures).strip()
        cases.append(
            CaseResult(
                name=case.get("name", "?"),
                passed=not failures,
                skipped=case.find("skipped") is not None,
                message=text[:4000],
            )
        )
    return cases


def run_contract_suite(
    document_path: Path,
    base_url: str,
    token: str,
    *,
    api: str,
    version: str,
    junit: Path,
    max_examples: int = 10,
    seed: int | None = 1,
    stateful: bool = True,
    exceptions: list[KnownFalsePositive] | None = None,
    max_time: float | None = None,
) -> SuiteResult:
    """Run schemathesis against `base_url` with the checks in CHECKS; JUnit XML at `junit`."""
    document = json.loads(document_path.read_text())
    preflight(document, base_url, token)
    junit.parent.mkdir(parents=True, exist_ok=True)
    phases = "examples,coverage,fuzzing" + (",stateful" if stateful else "")
    with tempfile.TemporaryDirectory(prefix="fig-contracts-") as tmp:
        config = Path(tmp) / "schemathesis.toml"
        config.write_text(
            _config(api, version, exceptions if exceptions is not None else load_exceptions(), max_examples)
        )
        argv = [
            str(Path(sys.executable).parent / "schemathesis"),
            "--no-color",
            "--config-file",
            str(config),
            "run",
            str(document_path),
            "--url",
            base_url,
            "--checks",
            ",".join(CHECKS),
            "--phases",
            phases,
            "--workers",
            "1",
            "--report",
            "junit",
            "--report-junit-path",
            str(junit),
            "--request-timeout",
            "30",
        ]
        if seed is not None:
            argv += ["--seed", str(seed)]
        if max_time is not None:
            argv += ["--max-time", str(max_time)]
        env = {**os.environ, "FIG_CONTRACT_TOKEN": token, "PYTHONPATH": str(ROOT), "SCHEMATHESIS_HOOKS": _HOOKS}
        done = subprocess.run(argv, cwd=tmp, env=env, capture_output=True, text=True, check=False)  # noqa: S603
    return SuiteResult(
        exit_code=done.returncode, junit=junit, cases=_read_junit(junit), output=done.stdout + done.stderr
    )
