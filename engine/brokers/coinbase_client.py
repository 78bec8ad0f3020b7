"""Build a coinbase-advanced-py RESTClient for a host, with plain http on loopback only.

The SDK always requests `https://{base_url}{path}`. A local test server or sandbox proxy on
127.0.0.1 speaks plain http, so for loopback hosts we mount a requests adapter on the
client's session that rewrites `https://host:port/` to `http://host:port/`. Any other host
keeps https; asking for plain http there is refused.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from requests.adapters import HTTPAdapter

if TYPE_CHECKING:
    from coinbase.rest import RESTClient

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


class InsecureEndpoint(ValueError):
    """Plain http was asked for a host that is not loopback."""


def split_endpoint(base_url: str) -> tuple[str, str, str]:
    """'api.coinbase.com' | 'https://h' | 'http://127.0.0.1:8080' -> (scheme, host, netloc).

    A bare loopback host means http (local servers); a bare other host means https.
    """
    raw = base_url.strip().rstrip("/")
    if not raw:
        raise ValueError("coinbase base_url is empty")
    explicit = "://" in raw
    parts = urlsplit(raw if explicit else f"//{raw}")
    host = (parts.hostname or "").lower()
    if not host:
        raise ValueError(f"coinbase base_url {base_url!r} has no host")
    if parts.path not in ("", "/"):
        raise ValueError(f"coinbase base_url {base_url!r} must be a host[:port] without a path")
    scheme = parts.scheme.lower() if explicit else ("http" if is_loopback(host) else "https")
    if scheme not in ("http", "https"):
        raise ValueError(f"coinbase base_url {base_url!r}: scheme must be http or https")
    if scheme == "http" and not is_loopback(host):
        raise InsecureEndpoint(
            f"coinbase base_url {base_url!r}: plain http is allowed only for loopback hosts")
    return scheme, host, parts.netloc


def is_loopback(host: str) -> bool:
    return host.strip("[]").lower() in LOOPBACK_HOSTS


class _HttpsToHttpAdapter(HTTPAdapter):
    """Sends the SDK's forced-https requests to a plain-http loopback server."""

    def send(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        if request.url and request.url.startswith("https://"):
            request.url = "http://" + request.url[len("https://"):]
        return super().send(request, *args, **kwargs)


def make_rest_client(base_url: str, api_key: str | None = None,
                     api_secret: str | None = None, timeout: float = 10) -> RESTClient:
    """A RESTClient for `base_url` (host[:port], optionally with a scheme).

    Without keys the client can call public endpoints only (e.g. get_public_candles).
    Raises ValueError (InsecureEndpoint for http to a non-loopback host) on a bad url.
    """
    from coinbase.rest import RESTClient

    scheme, _host, netloc = split_endpoint(base_url)
    # The SDK logs every HTTP error body to stderr itself; callers map errors to one line.
    logging.getLogger("coinbase.RESTClient").setLevel(logging.CRITICAL)
    client = RESTClient(api_key=api_key or None, api_secret=api_secret or None,
                        base_url=netloc, timeout=timeout)
    if scheme == "http":
        client.session.mount(f"https://{netloc}/", _HttpsToHttpAdapter())
    return client


_FIX_PEM = ("put the PEM in the key file as a TOML multi-line string "
            "(coinbase_api_secret = \"\"\"-----BEGIN EC PRIVATE KEY-----<newline>...\"\"\") "
            "or in double quotes, where \\n means a newline")


def key_problem(api_key: str, api_secret: str) -> str | None:
    """One line saying what is wrong with a Coinbase CDP key pair, or None if it loads.

    The secret is an EC P-256 PEM (ES256) or a base64 Ed25519 key (EdDSA). The SDK would
    silently unescape a literal `\\n`; we refuse it, because the same key pasted elsewhere
    (env files, other tools) breaks, and say how to fix it.
    """
    import base64
    import binascii

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    if not api_key or not api_secret:
        missing = "coinbase_api_key" if not api_key else "coinbase_api_secret"
        return (f"missing key: {missing} is empty (set it in the key file or "
                f"COINBASE_API_KEY / COINBASE_API_SECRET)")
    secret = api_secret.strip()
    if secret.startswith("-----BEGIN"):
        if "\\n" in secret and "\n" not in secret:
            return f"malformed key: the PEM secret contains literal \\n sequences; {_FIX_PEM}"
        try:
            key = serialization.load_pem_private_key(secret.encode(), password=None)
        except (ValueError, TypeError) as e:
            first = str(e).splitlines()[0] if str(e) else type(e).__name__
            return f"malformed key: the PEM secret does not load ({first})"
        if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
            return "malformed key: the PEM secret must be an EC P-256 (prime256v1) private key"
        if not api_key.startswith("organizations/") or "/apiKeys/" not in api_key:
            return ("malformed key: coinbase_api_key should be the key name "
                    "organizations/{org_id}/apiKeys/{key_id}")
        return None
    try:
        raw = base64.b64decode("".join(secret.split()), validate=True)
    except (binascii.Error, ValueError):
        return ("malformed key: the secret is neither a PEM private key nor base64 "
                "(Ed25519)")
    if len(raw) not in (32, 64):
        return f"malformed key: an Ed25519 secret must decode to 32 or 64 bytes, not {len(raw)}"
    return None


def accepted_at(client: RESTClient, api_key: str, api_secret: str, at: float,
                timeout: float, path: str = "/api/v3/brokerage/key_permissions") -> bool:
    """Whether Coinbase accepts a read-only GET signed as the SDK signs it, but as if the
    clock read `at` (tells a clock the JWT's nbf/exp trip on from a refused key)."""
    import secrets

    import jwt
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    secret = api_secret.strip()
    key: Any
    if secret.startswith("-----BEGIN"):
        key = serialization.load_pem_private_key(secret.encode(), password=None)
    else:
        import base64
        raw = base64.b64decode("".join(secret.split()), validate=True)
        key = ed25519.Ed25519PrivateKey.from_private_bytes(raw[:32])
    alg = "EdDSA" if isinstance(key, ed25519.Ed25519PrivateKey) else "ES256"
    host = client.base_url
    token = jwt.encode({"sub": api_key, "iss": "cdp", "nbf": int(at), "exp": int(at) + 120,
                        "uri": f"GET {host}{path}"}, key, algorithm=alg,
                       headers={"kid": api_key, "nonce": secrets.token_hex()})
    r = client.session.get(f"https://{host}{path}", timeout=timeout,
                           headers={"Authorization": f"Bearer {token}",
                                    "Content-Type": "application/json"})
    if r.status_code in (401, 403):
        return False
    r.raise_for_status()  # anything else: no verdict
    return True
