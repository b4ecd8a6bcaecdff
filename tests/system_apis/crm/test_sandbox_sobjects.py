"""sObject resources of the sandbox: describe, read, update, create, upsert, errors, limits, faults."""

from __future__ import annotations

from pathlib import Path

import httpx

from system_apis.crm.sandbox import SalesforceSandboxSettings, create_app
from tests.support import running_server
from tests.system_apis.crm.support import SandboxAdmin, token_for

V = "/services/data/v62.0"
DEMO1 = "0068d00000DEMO1AAA"


def test_versions_list_needs_no_session_and_any_version_prefix_works(sandbox: str, bearer: dict[str, str]) -> None:
    versions = httpx.get(sandbox + "/services/data/").json()
    assert {"label", "url", "version"} <= set(versions[0])
    for version in ("v58.0", "v67.0"):
        url = f"{sandbox}/services/data/{version}/sobjects/Account/0018d00000DEMOAAAA"
        assert httpx.get(url, headers=bearer).status_code == 200
    assert httpx.get(sandbox + "/services/data/62.0/sobjects/Account/describe", headers=bearer).status_code == 404


def test_describe_lists_fields_with_picklists(sandbox: str, bearer: dict[str, str]) -> None:
    body = httpx.get(sandbox + V + "/sobjects/Opportunity/describe", headers=bearer).json()
    fields = {f["name"]: f for f in body["fields"]}
    assert body["name"] == "Opportunity"
    assert "Closed Won" in [p["value"] for p in fields["StageName"]["picklistValues"]]
    assert [p["value"] for p in fields["Approval_Status__c"]["picklistValues"]] == [
        "Not Submitted", "Pending", "Approved", "Rejected",
    ]  # fmt: skip
    assert fields["IsWon"]["updateable"] is False
    assert fields["AccountId"]["referenceTo"] == ["Account"]
    missing = httpx.get(sandbox + V + "/sobjects/Lead/describe", headers=bearer)
    assert missing.status_code == 404
    assert missing.json()[0]["errorCode"] == "NOT_FOUND"


def test_account_describe_declares_the_erp_mirror_fields(sandbox: str, bearer: dict[str, str]) -> None:
    fields = {
        f["name"]: f for f in httpx.get(sandbox + V + "/sobjects/Account/describe", headers=bearer).json()["fields"]
    }
    mirrors = ("ERP_Customer_Id__c", "ERP_Subsidiary_Id__c", "ERP_Currency__c", "Payment_Terms__c", "Credit_Limit__c",
               "Tax_Jurisdiction__c")  # fmt: skip
    for name in mirrors:
        assert "read-only for users" in fields[name]["inlineHelpText"], name
    assert fields["Credit_Limit__c"]["type"] == "currency"
    assert fields["ERP_Customer_Id__c"]["externalId"] is True
    assert [p["value"] for p in fields["ERP_Currency__c"]["picklistValues"]] == ["USD", "EUR", "GBP"]
    assert fields["Billing_Email__c"]["type"] == "email"
    refused = httpx.patch(f"{sandbox}{V}/sobjects/Account/0018d00000DEMOAAAA", headers=bearer,
                          json={"Billing_Email__c": "nobody"})  # fmt: skip
    assert refused.status_code == 400
    assert refused.json() == [
        {"message": "Billing Email: invalid email address: nobody", "errorCode": "INVALID_EMAIL_ADDRESS",
         "fields": ["Billing_Email__c"]},
    ]  # fmt: skip


def test_bulk_close_won_is_all_or_nothing(sandbox: str, bearer: dict[str, str]) -> None:
    ids = [DEMO1, "0068d00000DEMO2AAA"]
    unknown = httpx.post(f"{sandbox}/__admin/opportunities/close-won", json={"ids": [*ids, "0068d00000NOPEAAAA"]})
    assert unknown.status_code == 404
    assert httpx.get(f"{sandbox}{V}/sobjects/Opportunity/{DEMO1}", headers=bearer).json()["IsWon"] is False
    done = httpx.post(f"{sandbox}/__admin/opportunities/close-won", json={"ids": ids})
    assert done.json() == {"updated": 2}
    for record_id in ids:
        record = httpx.get(f"{sandbox}{V}/sobjects/Opportunity/{record_id}", headers=bearer).json()
        assert (record["IsWon"], record["Approval_Status__c"]) == (True, "Approved")


def test_get_record_with_selected_fields_and_attributes(sandbox: str, bearer: dict[str, str]) -> None:
    response = httpx.get(f"{sandbox}{V}/sobjects/Opportunity/{DEMO1}?fields=Name,Amount,StageName", headers=bearer)
    assert response.status_code == 200
    assert response.text.count("14400.00") == 1  # a JSON number with its cents, not a string
    assert response.json() == {
        "attributes": {"type": "Opportunity", "url": f"{V}/sobjects/Opportunity/{DEMO1}"},
        "Name": "Rheinwerk - Platform Expansion",
        "Amount": 14400.0,
        "StageName": "Negotiation/Review",
    }
    unknown = httpx.get(f"{sandbox}{V}/sobjects/Opportunity/0068d00000NOPEAAAA", headers=bearer)
    assert unknown.status_code == 404
    assert unknown.json() == [{"message": "The requested resource does not exist", "errorCode": "NOT_FOUND"}]
    bad_field = httpx.get(f"{sandbox}{V}/sobjects/Opportunity/{DEMO1}?fields=Nope", headers=bearer)
    assert bad_field.status_code == 400
    assert bad_field.json()[0]["errorCode"] == "INVALID_FIELD"


def test_patch_updates_stage_flags_and_modstamp(sandbox: str, bearer: dict[str, str]) -> None:
    url = f"{sandbox}{V}/sobjects/Opportunity/{DEMO1}"
    before = httpx.get(url, headers=bearer).json()
    response = httpx.patch(url, headers=bearer, json={"StageName": "Closed Won"})
    assert response.status_code == 204
    assert response.content == b""
    after = httpx.get(url, headers=bearer).json()
    assert (after["IsClosed"], after["IsWon"], after["ForecastCategoryName"]) == (True, True, "Closed")
    assert after["SystemModstamp"] > before["SystemModstamp"]
    assert after["LastModifiedDate"] == after["SystemModstamp"]
    httpx.patch(url, headers=bearer, json={"StageName": "Closed Lost"})
    lost = httpx.get(url, headers=bearer).json()
    assert (lost["IsClosed"], lost["IsWon"]) == (True, False)


def test_patch_validation_errors_use_the_error_array(sandbox: str, bearer: dict[str, str]) -> None:
    url = f"{sandbox}{V}/sobjects/Opportunity/{DEMO1}"
    cases: dict[str, dict[str, object]] = {
        "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST": {"StageName": "Almost Won"},
        "INVALID_FIELD_FOR_INSERT_UPDATE": {"IsWon": True},
        "INVALID_FIELD": {"Colour__c": "blue"},
        "JSON_PARSER_ERROR": {"Amount": "lots"},
    }
    for code, body in cases.items():
        response = httpx.patch(url, headers=bearer, json=body)
        assert response.status_code == 400, code
        [error] = response.json()
        assert error["errorCode"] == code
        assert error["fields"] == list(body)
    garbage = httpx.patch(url, headers={**bearer, "Content-Type": "application/json"}, content=b"{nope")
    assert garbage.json()[0]["errorCode"] == "JSON_PARSER_ERROR"


def test_create_account_returns_201_with_an_18_char_id(sandbox: str, bearer: dict[str, str]) -> None:
    response = httpx.post(f"{sandbox}{V}/sobjects/Account", headers=bearer, json={"Name": "Fjord Ltd"})
    assert response.status_code == 201
    body = response.json()
    assert body["success"] is True
    assert body["errors"] == []
    assert len(body["id"]) == 18
    assert body["id"].startswith("001")
    missing = httpx.post(f"{sandbox}{V}/sobjects/Account", headers=bearer, json={"BillingCountry": "Norway"})
    assert missing.status_code == 400
    assert missing.json()[0] == {
        "message": "Required fields are missing: [Name]",
        "errorCode": "REQUIRED_FIELD_MISSING",
        "fields": ["Name"],
    }


def test_upsert_by_external_id_creates_updates_and_reports_duplicates(sandbox: str, bearer: dict[str, str]) -> None:
    url = f"{sandbox}{V}/sobjects/Account/ERP_Customer_Id__c/NS-42"
    created = httpx.patch(url, headers=bearer, json={"Name": "Fjord Ltd"})
    assert created.status_code == 201
    assert created.json()["created"] is True
    updated = httpx.patch(url, headers=bearer, json={"BillingCountry": "Norway"})
    assert updated.status_code == 200
    assert updated.json() == {"id": created.json()["id"], "success": True, "errors": [], "created": False}
    record = httpx.get(f"{sandbox}{V}/sobjects/Account/{created.json()['id']}", headers=bearer).json()
    assert (record["Name"], record["BillingCountry"], record["ERP_Customer_Id__c"]) == ("Fjord Ltd", "Norway", "NS-42")
    httpx.post(f"{sandbox}{V}/sobjects/Account", headers=bearer, json={"Name": "Twin", "ERP_Customer_Id__c": "NS-42"})
    several = httpx.patch(url, headers=bearer, json={"Name": "Which one?"})
    assert several.status_code == 300
    assert len(several.json()) == 2
    not_ext = httpx.patch(f"{sandbox}{V}/sobjects/Account/Name/Fjord", headers=bearer, json={})
    assert not_ext.status_code == 404


def test_every_rest_response_reports_api_usage_and_exhaustion_is_403(sandbox: str, admin: SandboxAdmin) -> None:
    headers = {"Authorization": f"Bearer {token_for(sandbox)}"}
    url = f"{sandbox}{V}/sobjects/Account/0018d00000DEMOAAAA"
    first = httpx.get(url, headers=headers).headers["Sforce-Limit-Info"]
    second = httpx.get(url, headers=headers).headers["Sforce-Limit-Info"]
    assert first == "api-usage=1/15000"
    assert second == "api-usage=2/15000"
    assert httpx.get(url).headers["Sforce-Limit-Info"] == "api-usage=2/15000"  # the 401 has it too
    admin.usage(used=15000)
    refused = httpx.get(url, headers=headers)
    assert refused.status_code == 403
    assert refused.json() == [{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}]
    assert refused.headers["Sforce-Limit-Info"] == "api-usage=15000/15000"


def test_injected_faults_fire_for_the_next_n_matching_calls(sandbox: str, admin: SandboxAdmin) -> None:
    headers = {"Authorization": f"Bearer {token_for(sandbox)}"}
    url = f"{sandbox}{V}/sobjects/Account/0018d00000DEMOAAAA"
    admin.fault("status", path="/services/data/*/sobjects/Account/*", status=503, count=2)
    admin.fault("malformed", path="/services/data/*/query*")
    assert [httpx.get(url, headers=headers).status_code for _ in range(3)] == [503, 503, 200]
    broken = httpx.get(f"{sandbox}{V}/query", params={"q": "SELECT Id FROM Account"}, headers=headers)
    assert broken.status_code == 200
    assert broken.text.startswith("{")
    assert not broken.text.endswith("}")
    admin.fault("latency", latency_ms=50)
    assert httpx.get(url, headers=headers).elapsed.total_seconds() >= 0.05
    assert admin.faults() == []


def test_close_won_admin_sets_stage_approval_and_modstamp(sandbox: str, admin: SandboxAdmin) -> None:
    result = admin.close_won(DEMO1)
    assert result["StageName"] == "Closed Won"
    assert result["IsWon"] is True
    assert result["Approval_Status__c"] == "Approved"
    assert result["SystemModstamp"] > "2026-11-01"
    assert httpx.post(sandbox + "/__admin/opportunities/0068d00000NOPEAAAA/close-won").status_code == 404


def test_state_persists_across_restarts(tmp_path: Path) -> None:
    settings = SalesforceSandboxSettings(data_dir=str(tmp_path))
    with running_server(create_app(settings)) as base:
        headers = {"Authorization": f"Bearer {token_for(base)}"}
        httpx.patch(f"{base}{V}/sobjects/Opportunity/{DEMO1}", headers=headers, json={"Name": "Renamed"})
        created = httpx.post(f"{base}{V}/sobjects/Account", headers=headers, json={"Name": "Kept"}).json()["id"]
    assert [p.name for p in tmp_path.iterdir()] == ["salesforce.json"]  # no temp file left behind
    with running_server(create_app(settings)) as base:
        headers = {"Authorization": f"Bearer {token_for(base)}"}
        opportunity = httpx.get(f"{base}{V}/sobjects/Opportunity/{DEMO1}", headers=headers).json()
        assert opportunity["Name"] == "Renamed"
        assert opportunity["Amount"] == 14400.0
        assert httpx.get(f"{base}{V}/sobjects/Account/{created}", headers=headers).status_code == 200


def test_a_wrong_method_names_the_methods_the_path_allows(sandbox: str, bearer: dict[str, str]) -> None:
    cases = {
        f"{V}/sobjects/Account": ("PUT", "POST"),  # create only
        f"{V}/query": ("POST", "GET"),
        f"{V}/sobjects/Account/0018d00000DEMOAAAA": ("DELETE", "GET,PATCH"),
    }
    for path, (method, allowed) in cases.items():
        refused = httpx.request(method, sandbox + path, headers=bearer)
        assert refused.status_code == 405, path
        [error] = refused.json()
        assert error["errorCode"] == "METHOD_NOT_ALLOWED"
        assert error["message"].endswith(f"Allowed are {allowed}"), (path, error["message"])
        assert refused.headers["sforce-limit-info"].startswith("api-usage=")


def test_every_services_answer_carries_the_limit_info(sandbox: str, bearer: dict[str, str]) -> None:
    answers = [
        httpx.get(sandbox + V + "/nothing/here", headers=bearer),  # refused by the router
        httpx.get(sandbox + V + "/sobjects/Lead/describe", headers=bearer),  # refused by a handler
        httpx.get(sandbox + V + "/limits", headers=bearer),
        httpx.post(sandbox + "/services/oauth2/token", data={}),
    ]
    for answer in answers:
        assert answer.headers.get("sforce-limit-info", "").startswith("api-usage="), answer.request.url
    assert [a.status_code for a in answers] == [404, 404, 200, 400]
    assert len(answers[1].headers.get_list("sforce-limit-info")) == 1


def test_count_queries_answer_the_number_of_rows_only(sandbox: str, bearer: dict[str, str]) -> None:
    query = sandbox + V + "/query"
    counted = httpx.get(query, params={"q": "SELECT COUNT() FROM Account WHERE Region__c = 'DACH'"}, headers=bearer)
    listed = httpx.get(query, params={"q": "SELECT Id FROM Account WHERE Region__c = 'DACH'"}, headers=bearer)
    assert counted.json() == {"totalSize": listed.json()["totalSize"], "done": True, "records": []}
    assert listed.json()["totalSize"] > 0
    bad = httpx.get(query, params={"q": "SELECT COUNT(Id) FROM Account"}, headers=bearer)
    assert (bad.status_code, bad.json()[0]["errorCode"]) == (400, "MALFORMED_QUERY")


def test_get_by_external_id_refuses_a_field_that_is_not_one(sandbox: str, bearer: dict[str, str]) -> None:
    not_external = httpx.get(sandbox + V + "/sobjects/Account/Name/Acme", headers=bearer)
    assert not_external.status_code == 404
    assert "external ID field" in not_external.json()[0]["message"]
