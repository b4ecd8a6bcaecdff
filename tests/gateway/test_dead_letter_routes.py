"""The gateway's route table, built from the committed documents, knows the dead-letter operations."""

from __future__ import annotations

from gateway.catalogue import RouteTable, load_documents, openapi_dir
from gateway.config import load_config


def test_the_route_table_routes_the_dead_letter_operations_with_their_scopes() -> None:
    config = load_config()
    documents = {u.name: load_documents(u.documents, openapi_dir()) for u in config.upstreams}
    table = RouteTable(config, documents)

    route, listing, _ = table.resolve("GET", "/v1/dead-letters")
    assert (route.key, listing is not None and listing.operation_id) == ("process:v1", "listDeadLetters")
    assert listing is not None
    assert listing.scope_ok(frozenset({"exceptions:read"}))
    assert not listing.scope_ok(frozenset({"q2c:read"}))

    _, replay, params = table.resolve("POST", "/v1/dead-letters/erp/1764547200000-0/replay")
    assert replay is not None
    assert (replay.operation_id, params) == ("replayDeadLetter", {"stream": "erp", "entry_id": "1764547200000-0"})
    assert replay.scope_ok(frozenset({"exceptions:write"}))
    assert not replay.scope_ok(frozenset({"exceptions:read"}))
    assert replay.material  # replaying an event can start a workflow: the gateway requires an Idempotency-Key

    _, one, _ = table.resolve("GET", "/v1/dead-letters/crm/1-0")
    assert one is not None
    assert one.operation_id == "getDeadLetter"
