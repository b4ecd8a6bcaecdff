"""Writes everything one benchmark run needs into a directory (argument 1).

- an ES256 key: `jwks.json` (served by the upstream HAProxy for the gateway), `public.pem` (for
  HAProxy's `jwt_verify`) and `token` (a bearer token for client `demo`, scope q2c:read, 1 h);
- `gateway.toml`: the real route table shape with one client and a limit high enough never to
  refuse during the run (the limiter still runs its Redis script on every request);
- `upstream.cfg` (a fast HAProxy upstream answering a fixed JSON body) and `haproxy.cfg`
  (HAProxy 2.6 doing the same JWT checks as the gateway: alg, signature, iss, aud, exp, scope).
Ports: argument 2 upstream, 3 HAProxy gateway.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

from servicekit.jose import normalize_token

ISSUER = "http://bench.issuer"
KID = "bench-es256"
BODY = '{"id":"q2c-0068d00000DEMO1AAA","state":"running"}'


def main() -> None:
    out, upstream_port, haproxy_port = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    out.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    public = json.loads(ECAlgorithm.to_jwk(key.public_key()))
    public.update({"kid": KID, "alg": "ES256", "use": "sig"})
    (out / "jwks.json").write_text(json.dumps({"keys": [public]}))
    pem = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    (out / "public.pem").write_bytes(pem)
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "aud": "fig",
        "sub": "demo",
        "client_id": "demo",
        "iat": now,
        "nbf": now,
        "exp": now + 3600,
        "scope": "q2c:read q2c:write",
        "legal_entities": ["US01", "DE01", "GB01"],
    }
    token = jwt.encode(claims, key, algorithm="ES256", headers={"kid": KID, "typ": "at+jwt"})
    (out / "token").write_text(normalize_token(token, "ES256"))
    (out / "gateway.toml").write_text(
        f"""
[[upstreams]]
name = "process"
url = "http://127.0.0.1:{upstream_port}"
documents = ["process/v1.json"]
timeout = 5.0

[[routes]]
api = "quote-to-cash"
major = 1
prefix = "/quote-to-cash"
upstream = "process"

[[apis]]
name = "quote-to-cash"
[[apis.versions]]
major = 1

[[tiers]]
name = "standard"
limits.default = {{ requests = 1000000, period = 60.0 }}

[[clients]]
client_id = "demo"
legal_entities = ["US01", "DE01", "GB01"]
apis = {{ "quote-to-cash" = [1] }}
"""
    )
    (out / "upstream.cfg").write_text(
        f"""
global
  nbthread 1
defaults
  mode http
  timeout connect 2s
  timeout client 30s
  timeout server 30s
frontend upstream
  bind 127.0.0.1:{upstream_port}
  http-request return status 200 content-type application/json file {out}/jwks.json if {{ path /.well-known/jwks.json }}
  http-request return status 200 content-type application/json string '{BODY}'
"""
    )
    (out / "haproxy.cfg").write_text(
        f"""
global
  nbthread 1
defaults
  mode http
  timeout connect 2s
  timeout client 30s
  timeout server 30s
frontend gateway
  bind 127.0.0.1:{haproxy_port}
  http-request set-var(txn.bearer) http_auth_bearer
  http-request set-var(txn.alg) var(txn.bearer),jwt_header_query('$.alg')
  http-request deny deny_status 401 unless {{ var(txn.alg) -m str ES256 }}
  http-request deny deny_status 401 unless {{ var(txn.bearer),jwt_verify(txn.alg,"{out}/public.pem") -m int 1 }}
  http-request deny deny_status 401 unless {{ var(txn.bearer),jwt_payload_query('$.iss') -m str {ISSUER} }}
  http-request deny deny_status 401 unless {{ var(txn.bearer),jwt_payload_query('$.aud') -m str fig }}
  http-request set-var(txn.exp) var(txn.bearer),jwt_payload_query('$.exp','int')
  http-request set-var(txn.now) date
  http-request deny deny_status 401 if {{ var(txn.exp),sub(txn.now) -m int lt 0 }}
  http-request deny deny_status 403 unless {{ var(txn.bearer),jwt_payload_query('$.scope') -m sub q2c:read }}
  default_backend process
backend process
  http-reuse always
  server up 127.0.0.1:{upstream_port}
"""
    )


if __name__ == "__main__":
    main()
