"""Client secrets and passwords at rest: scrypt hashes, compared in constant time.

Format: `scrypt$<n>$<r>$<p>$<salt>$<hash>` with salt and hash in unpadded base64url. Run
`python -m gateway.idp.hashing <secret>` to print the hash of a new client's secret.

scrypt (standard library, memory-hard) rather than argon2id: equally accepted by OWASP for
password storage and no extra native dependency. Client secrets are 256 random bits, so their
cost is kept low; people's passwords use OWASP's scrypt profile (N=2^15, r=8, p=3: 32 MiB).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import sys

__all__ = ["PASSWORD_COST", "check_hash_format", "hash_password", "hash_secret", "verify_secret"]

_N, _R, _P, _LEN = 2**14, 8, 1, 32
#: (n, r, p) for people's passwords: OWASP's scrypt minimum of 2^17 x 8 bytes in a third of the memory.
PASSWORD_COST = (2**15, 8, 3)
_MAXMEM = 2**27
# A fixed, valid hash to compare against when the client is unknown, so an unknown client id
# costs the same time as a wrong secret and does not reveal which ids exist.
_DUMMY = "scrypt$16384$8$1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
_DUMMY_PASSWORD = "scrypt$32768$8$3$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def hash_secret(secret: str, *, salt: bytes | None = None, cost: tuple[int, int, int] = (_N, _R, _P)) -> str:
    """The storable scrypt hash of `secret` (a fresh random salt unless one is given)."""
    salt = salt or os.urandom(16)
    n, r, p = cost
    digest = hashlib.scrypt(secret.encode(), salt=salt, n=n, r=r, p=p, dklen=_LEN, maxmem=_MAXMEM)
    return f"scrypt${n}${r}${p}${_b64(salt)}${_b64(digest)}"


def hash_password(password: str) -> str:
    """The storable hash of a person's password (`PASSWORD_COST`)."""
    return hash_secret(password, cost=PASSWORD_COST)


def check_hash_format(stored: str) -> None:
    """Raise ValueError unless `stored` is a hash this module can verify."""
    parts = stored.split("$")
    if len(parts) != 6 or parts[0] != "scrypt":
        raise ValueError("expected scrypt$<n>$<r>$<p>$<salt>$<hash>")
    n, r, p = (int(x) for x in parts[1:4])
    if n < 2**10 or n & (n - 1) or r < 1 or p < 1 or 128 * n * r > _MAXMEM // 2 or p > 16:
        raise ValueError("scrypt parameters out of range")
    _unb64(parts[4])
    if len(_unb64(parts[5])) < 16:
        raise ValueError("scrypt hash too short")


def verify_secret(secret: str, stored: str | None, *, password: bool = False) -> bool:
    """True when `secret` matches `stored`; with `stored=None` spends the same time and says False.

    `password=True` makes the `None` case cost as much as a person's password (`PASSWORD_COST`).
    """
    _, n, r, p, salt, expected = (stored or (_DUMMY_PASSWORD if password else _DUMMY)).split("$")
    want = _unb64(expected)
    digest = hashlib.scrypt(
        secret.encode(), salt=_unb64(salt), n=int(n), r=int(r), p=int(p), dklen=len(want), maxmem=_MAXMEM
    )
    return hmac.compare_digest(digest, want) and stored is not None


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m gateway.idp.hashing <secret>")
    print(hash_secret(sys.argv[1]))
