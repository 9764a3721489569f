"""Fakes at the Google network boundary for credentials: RSA keys, signed ID tokens, certs.

`FakeGoogle` is a `google.auth.transport.Request`: the one object through which google-auth
talks to Google, so the real library code runs up to the HTTP call. It answers as
- the OAuth token endpoint (user refresh, and the service-account key ID token grant),
  https://developers.google.com/identity/protocols/oauth2;
- the IAM Credentials API `generateIdToken` and `generateAccessToken`,
  https://cloud.google.com/iam/docs/reference/credentials/rest/v1/projects.serviceAccounts
  (403 PERMISSION_DENIED without Token Creator on the account);
- the metadata server (ping, service account info, identity),
  https://cloud.google.com/compute/docs/instances/verifying-instance-identity#request_signature;
- Google's OAuth2 certs URL (`kid` -> PEM certificate), which google.oauth2.id_token verifies
  tokens against.
"""

from __future__ import annotations

import datetime
import json
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlparse

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from google.auth import crypt, jwt
from google.auth.transport import Response
from google.oauth2.credentials import Credentials as UserCredentials

USER_ACCESS_TOKEN = "user-access-token"
KEY_ID = "fake-key-1"


@dataclass
class SigningKey:
    """An RSA key and a self-signed certificate, as Google publishes its token certificates."""

    pem: str
    cert_pem: str
    kid: str = KEY_ID

    @classmethod
    def generate(cls, kid: str = KEY_ID) -> SigningKey:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fake-google")])
        now = datetime.datetime.now(datetime.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(1)
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .sign(key, hashes.SHA256())
        )
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        return cls(pem, cert.public_bytes(serialization.Encoding.PEM).decode(), kid)

    def sign(self, **claims: Any) -> str:
        """A Google-style ID token: iss accounts.google.com, an hour of life, these claims."""
        now = int(time.time())
        payload = {"iss": "https://accounts.google.com", "iat": now, "exp": now + 3600, **claims}
        signer = crypt.RSASigner.from_string(self.pem, self.kid)
        return jwt.encode(signer, payload).decode()


@dataclass
class FakeResponse(Response):
    status_code: int
    body: bytes
    content_type: str = "application/json"
    from_metadata_server: bool = True

    @property
    def status(self) -> int:
        return self.status_code

    @property
    def headers(self) -> dict[str, str]:
        headers = {"content-type": self.content_type}
        if self.from_metadata_server:
            headers["metadata-flavor"] = "Google"
        return headers

    @property
    def data(self) -> bytes:
        return self.body


def _json(status: int, body: object) -> FakeResponse:
    return FakeResponse(status, json.dumps(body).encode())


@dataclass
class FakeGoogle:
    """Google's token endpoints, IAM Credentials, metadata server and certs, as one transport."""

    key: SigningKey = field(default_factory=SigningKey.generate)
    # Accounts the caller may impersonate (Token Creator granted); others get 403.
    token_creator_on: set[str] = field(default_factory=set)
    # The metadata server's account; None: no metadata server (a laptop).
    metadata_account: str | None = None
    calls: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)

    def __call__(
        self,
        url: str,
        method: str = "GET",
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        timeout: float | None = None,
        **kwargs: Any,
    ) -> FakeResponse:
        parsed = urlparse(url)
        text = body.decode() if isinstance(body, bytes) else (body or "")
        self.calls.append((method, url, dict(headers or {})))
        if parsed.hostname in ("169.254.169.254", "metadata.google.internal"):
            return self._metadata(parsed.path, parse_qs(parsed.query))
        if parsed.hostname == "oauth2.googleapis.com" and parsed.path == "/token":
            form = {k: v[0] for k, v in parse_qs(text).items()}
            if form.get("grant_type") == "refresh_token":
                return _json(200, {"access_token": USER_ACCESS_TOKEN, "expires_in": 3600,
                                   "token_type": "Bearer"})  # fmt: skip
            assertion = jwt.decode(form["assertion"], verify=False)
            return _json(200, {"id_token": self.key.sign(
                aud=assertion["target_audience"], email=assertion["iss"], sub="1")})  # fmt: skip
        if parsed.hostname == "iamcredentials.googleapis.com":
            account = parsed.path.rsplit("/", 1)[-1].split(":")[0]
            lower = {k.lower(): v for k, v in (headers or {}).items()}
            if lower.get("authorization") != f"Bearer {USER_ACCESS_TOKEN}":
                return _json(401, {"error": {"code": 401, "message": "Request had invalid "
                                             "authentication credentials.",
                                             "status": "UNAUTHENTICATED"}})  # fmt: skip
            if account not in self.token_creator_on:
                return _json(403, {"error": {"code": 403, "message": "Permission "
                    "'iam.serviceAccounts.getOpenIdToken' denied on resource (or it may not "
                    "exist).", "status": "PERMISSION_DENIED"}})  # fmt: skip
            request = json.loads(text)
            if parsed.path.endswith(":generateAccessToken"):
                expire = datetime.datetime.now(datetime.UTC) + datetime.timedelta(hours=1)
                return _json(200, {"accessToken": f"access-token-of-{account}",
                                   "expireTime": expire.strftime("%Y-%m-%dT%H:%M:%SZ")})  # fmt: skip
            claims = {"aud": request["audience"], "sub": "2"}
            if request.get("includeEmail"):
                claims |= {"email": account, "email_verified": True}
            return _json(200, {"token": self.key.sign(**claims)})
        if url.startswith("https://www.googleapis.com/oauth2/v1/certs"):
            return _json(200, {self.key.kid: self.key.cert_pem})
        return _json(404, {"error": {"code": 404, "message": f"fake has no {url}"}})

    def _metadata(self, path: str, query: dict[str, list[str]]) -> FakeResponse:
        if self.metadata_account is None:
            # Not on GCP: whatever answers there is no metadata server (no Metadata-Flavor).
            return FakeResponse(404, b"not found", "text/html", from_metadata_server=False)
        if path in ("", "/"):
            return FakeResponse(200, b"", "text/plain")
        if path.endswith("/service-accounts/default/"):
            return _json(200, {"email": self.metadata_account, "aliases": ["default"],
                               "scopes": ["https://www.googleapis.com/auth/cloud-platform"]})  # fmt: skip
        if path.endswith("/service-accounts/default/identity"):
            token = self.key.sign(aud=query["audience"][0], email=self.metadata_account, sub="3")
            return FakeResponse(200, token.encode(), "text/plain")
        return _json(404, {})

    def certs_requests(self) -> int:
        return sum(1 for _, url, _ in self.calls if "/oauth2/v1/certs" in url)


def user_credentials() -> UserCredentials:
    """What `gcloud auth application-default login` leaves: a person's refresh token."""
    return UserCredentials(  # type: ignore[no-untyped-call]
        token=None,
        refresh_token="user-refresh-token",
        client_id="cid",
        client_secret="secret",
        token_uri="https://oauth2.googleapis.com/token",
    )
