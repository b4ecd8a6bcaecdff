"""`POST /composite` of the sandbox: subrequests in one call, all-or-none rollback, references, limits."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from system_apis.crm.sandbox import SalesforceSandboxSettings, create_app
from tests.support import running_server
from tests.system_apis.crm.support import SandboxAdmin, token_for

V = "/services/data/v62.0"
ACCOUNT = "0018d00000DEMOAAAA"
DEMO1 = "0068d00000DEMO1AAA"


def _composite(sandbox: str, bearer: dict[str, str], subrequests: list[dict[str, Any]], **top: Any) -> httpx.Response:
    return httpx.post(f"{sandbox}{V}/composite", headers=bearer, json={"compositeRequest": subrequests, **top})


def _patch(reference: str, body: dict[str, Any], record: str = ACCOUNT) -> dict[str, Any]:
    return {"method": "PATCH", "url": f"{V}/sobjects/Account/{record}", "referenceId": reference, "body": body}


def _get(reference: str, url: str = f"{V}/sobjects/Account/{ACCOUNT}?fields=Name,Industry,SystemModstamp") -> Any:
    return {"method": "GET", "url": url, "referenceId": reference}


def _account(sandbox: str, bearer: dict[str, str]) -> dict[str, Any]:
    record: dict[str, Any] = httpx.get(f"{sandbox}{V}/sobjects/Account/{ACCOUNT}", headers=bearer).json()
    return record


def test_update_and_read_back_in_one_call_of_the_allocation(
    sandbox: str, bearer: dict[str, str], admin: SandboxAdmin
) -> None:
    before = _account(sandbox, bearer)
    admin.usage(used=0)
    response = _composite(sandbox, bearer, [_patch("update", {"Industry": "Finance"}), _get("read")], allOrNone=True)
    assert response.status_code == 200, response.text
    assert admin.usage() == "api-usage=1/15000"
    update, read = response.json()["compositeResponse"]
    assert (update["referenceId"], update["httpStatusCode"], update["body"]) == ("update", 204, None)
    assert (read["referenceId"], read["httpStatusCode"]) == ("read", 200)
    assert read["body"]["Industry"] == "Finance"
    assert read["body"]["SystemModstamp"] > before["SystemModstamp"]
    assert set(read["body"]) == {"attributes", "Name", "Industry", "SystemModstamp"}
    assert _account(sandbox, bearer)["Industry"] == "Finance"


def test_all_or_none_rolls_back_every_update_when_one_fails(sandbox: str, bearer: dict[str, str]) -> None:
    before = _account(sandbox, bearer)
    subrequests = [_patch("good", {"Industry": "Finance"}), _patch("bad", {"Region__c": "MARS"}), _get("read")]
    response = _composite(sandbox, bearer, subrequests, allOrNone=True)
    assert response.status_code == 200
    good, bad, read = response.json()["compositeResponse"]
    assert bad["httpStatusCode"] == 400
    assert bad["body"][0]["errorCode"] == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
    assert bad["body"][0]["fields"] == ["Region__c"]
    for halted in (good, read):
        assert halted["httpStatusCode"] == 400
        assert halted["body"][0]["errorCode"] == "PROCESSING_HALTED"
    assert _account(sandbox, bearer) == before  # modstamps included: as if nothing happened


def test_without_all_or_none_the_others_still_run(sandbox: str, bearer: dict[str, str]) -> None:
    subrequests = [_patch("good", {"Industry": "Finance"}), _patch("bad", {"Region__c": "MARS"}), _get("read")]
    good, bad, read = _composite(sandbox, bearer, subrequests).json()["compositeResponse"]
    assert [good["httpStatusCode"], bad["httpStatusCode"], read["httpStatusCode"]] == [204, 400, 200]
    assert read["body"]["Industry"] == "Finance"
    assert _account(sandbox, bearer)["Industry"] == "Finance"


def test_later_subrequests_reference_earlier_answers(sandbox: str, bearer: dict[str, str]) -> None:
    subrequests = [
        _get("opp", f"{V}/sobjects/Opportunity/{DEMO1}?fields=AccountId"),
        _get("account", f"{V}/sobjects/Account/@{{opp.AccountId}}?fields=Name"),
        _get("missing", f"{V}/sobjects/Account/@{{opp.NoSuchField}}"),
    ]
    _, account, missing = _composite(sandbox, bearer, subrequests).json()["compositeResponse"]
    assert account["body"]["Name"] == "Rheinwerk Analytics GmbH"
    assert (missing["httpStatusCode"], missing["body"][0]["errorCode"]) == (400, "PROCESSING_HALTED")


def test_subrequest_errors_are_answered_in_their_slot(sandbox: str, bearer: dict[str, str]) -> None:
    subrequests = [
        _get("unknown", f"{V}/sobjects/Account/0018d00000NOSUCHAA"),
        _get("field", f"{V}/sobjects/Account/{ACCOUNT}?fields=Nope"),
        _get("resource", f"{V}/limits"),
        {"method": "DELETE", "url": f"{V}/sobjects/Account/{ACCOUNT}", "referenceId": "delete"},
    ]
    answers = _composite(sandbox, bearer, subrequests).json()["compositeResponse"]
    assert [(a["httpStatusCode"], a["body"][0]["errorCode"]) for a in answers] == [
        (404, "NOT_FOUND"), (400, "INVALID_FIELD"), (404, "NOT_FOUND"), (405, "METHOD_NOT_ALLOWED"),
    ]  # fmt: skip


def test_the_call_itself_is_refused_as_salesforce_does(sandbox: str, bearer: dict[str, str]) -> None:
    too_many = [_get(f"r{n}") for n in range(26)]
    assert _composite(sandbox, bearer, too_many).status_code == 400
    duplicate = _composite(sandbox, bearer, [_get("same"), _get("same")])
    assert duplicate.status_code == 400
    assert duplicate.json()[0]["errorCode"] == "INVALID_INPUT"
    unauthenticated = _composite(sandbox, {"Authorization": "Bearer nope"}, [_get("read")])
    assert unauthenticated.status_code == 401
    assert unauthenticated.json()[0]["errorCode"] == "INVALID_SESSION_ID"


def test_a_rollback_survives_a_restart(tmp_path: Path) -> None:
    settings = SalesforceSandboxSettings(data_dir=str(tmp_path))
    with running_server(create_app(settings)) as base:
        bearer = {"Authorization": f"Bearer {token_for(base)}"}
        before = _account(base, bearer)
        subrequests = [_patch("good", {"Industry": "Finance"}), _patch("bad", {"Region__c": "MARS"})]
        _composite(base, bearer, subrequests, allOrNone=True)
    with running_server(create_app(settings)) as base:
        assert _account(base, {"Authorization": f"Bearer {token_for(base)}"}) == before
