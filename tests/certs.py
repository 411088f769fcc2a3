"""Test PKI: our own CA, an https server on loopback, SNS signatures and Google-style tokens.

Everything a sender check fetches (SNS signing certificates, SubscribeURLs,
Google's token keys) is served by ``HttpsServer`` from a certificate of our
own CA, trusted through SSL_CERT_FILE as in production.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvicorn
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID
from google.auth import crypt
from google.auth import jwt as google_jwt
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.helpers import free_port, wait_for

ONE_DAY = dt.timedelta(days=1)
LOOPBACK = r"^127\.0\.0\.1$"  # CTSYNC_SNS_CERT_HOST that lets HttpsServer serve certificates


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _key_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def self_signed(key: rsa.RSAPrivateKey, common_name: str, *, days: int = 30) -> bytes:
    """A self-signed certificate for ``key`` (how SNS and Google publish their keys)."""
    now = dt.datetime.now(dt.UTC)
    start = now - ONE_DAY - dt.timedelta(days=max(0, -days))  # days < 0: expired
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(_name(common_name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(now + dt.timedelta(days=days))
        .sign(key, hashes.SHA256())
    )
    return _pem(cert)


@dataclass
class LocalCA:
    """A certificate authority and a loopback server certificate it issued."""

    directory: Path
    key: rsa.RSAPrivateKey = field(default_factory=_key)

    def __post_init__(self) -> None:
        now = dt.datetime.now(dt.UTC)
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(_name("ctsync test CA"))
            .issuer_name(_name("ctsync test CA"))
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - ONE_DAY)
            .not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self.key, hashes.SHA256())
        )
        self.ca_file = self.directory / "ca.pem"
        self.ca_file.write_bytes(_pem(self.cert))
        self.server_cert, self.server_key = self._issue_server_cert()

    def _issue_server_cert(self) -> tuple[Path, Path]:
        key = _key()
        now = dt.datetime.now(dt.UTC)
        import ipaddress

        names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name("localhost"))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - ONE_DAY)
            .not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .sign(self.key, hashes.SHA256())
        )
        cert_path, key_path = self.directory / "server.pem", self.directory / "server.key"
        cert_path.write_bytes(_pem(cert))
        key_path.write_bytes(_key_pem(key))
        return cert_path, key_path


@dataclass
class Served:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


class HttpsServer:
    """uvicorn over TLS on 127.0.0.1 serving canned documents; records each hit's path."""

    def __init__(self, ca: LocalCA) -> None:
        self.port = free_port()
        self.url = f"https://127.0.0.1:{self.port}"
        self.documents: dict[str, Served] = {}
        self.hits: list[str] = []
        app = Starlette(routes=[Route("/{path:path}", self._serve, methods=["GET"])])
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            lifespan="off",
            ssl_certfile=str(ca.server_cert),
            ssl_keyfile=str(ca.server_key),
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=lambda: asyncio.run(self._server.serve()))

    async def _serve(self, request: Request) -> Response:
        path = request.url.path
        self.hits.append(path + (f"?{request.url.query}" if request.url.query else ""))
        doc = self.documents.get(path, Served(404, b"not here"))
        return Response(doc.body, status_code=doc.status, headers=doc.headers)

    def serve(self, path: str, body: bytes, status: int = 200, **headers: str) -> str:
        self.documents[path] = Served(status, body, headers)
        return self.url + path

    def count(self, path: str) -> int:
        return sum(1 for hit in self.hits if hit.split("?", 1)[0] == path)

    def __enter__(self) -> HttpsServer:
        self._thread.start()
        wait_for(lambda: self._server.started or not self._thread.is_alive(), 20, "https")
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=20)


# What SNS signs, from AWS's documentation (not from ctsync's code, which it checks):
# "Key\nValue\n" for each key present, in this order (docs.aws.amazon.com/sns/latest/dg/
# sns-verify-signature-of-message.html; FACTS.md section 4).
_SIGNED_NOTIFICATION = ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type")
_SIGNED_CONFIRMATION = (
    "Message",
    "MessageId",
    "SubscribeURL",
    "Timestamp",
    "Token",
    "TopicArn",
    "Type",
)


def aws_string_to_sign(message: dict[str, Any]) -> bytes:
    """The bytes SNS signs for ``message``, written from AWS's documentation."""
    keys = _SIGNED_NOTIFICATION if message["Type"] == "Notification" else _SIGNED_CONFIRMATION
    return "".join(f"{k}\n{message[k]}\n" for k in keys if k in message).encode()


class SnsSigner:
    """Signs SNS messages the way SNS does, with a certificate served by ``HttpsServer``."""

    def __init__(self, server: HttpsServer, path: str = "/SimpleNotificationService-1.pem"):
        self.key = _key()
        self.cert_url = server.serve(path, self_signed(self.key, "sns.test"))

    def sign(self, message: dict[str, Any], version: str = "2") -> dict[str, Any]:
        signed = {**message, "SignatureVersion": version, "SigningCertURL": self.cert_url}
        algorithm = hashes.SHA1() if version == "1" else hashes.SHA256()
        raw = self.key.sign(aws_string_to_sign(signed), padding.PKCS1v15(), algorithm)
        return {**signed, "Signature": base64.b64encode(raw).decode()}


class GoogleKeys:
    """A Google-style token issuer: keys published as ``{kid: certificate}`` and as a JWKS."""

    def __init__(self) -> None:
        self.key = _key()
        self.kid = uuid.uuid4().hex
        self._signer = crypt.RSASigner.from_string(_key_pem(self.key), key_id=self.kid)

    def certs_json(self) -> bytes:
        return json.dumps({self.kid: self_signed(self.key, "google.test").decode()}).encode()

    def token(self, audience: str, **claims: Any) -> str:
        now = int(time.time())
        body = {
            "iss": "https://accounts.google.com",
            "aud": audience,
            "iat": now,
            "exp": now + 3600,
            "sub": "1234567890",
            "email": "push@ctsync-test.iam.gserviceaccount.com",
            "email_verified": True,
            **claims,
        }
        body = {k: v for k, v in body.items() if v is not None}
        return google_jwt.encode(self._signer, body).decode()

    def jwks_json(self) -> bytes:
        """The same key as a JWK Set (the other format google-auth reads)."""
        from jwt.algorithms import RSAAlgorithm

        jwk = json.loads(RSAAlgorithm.to_jwk(self.key.public_key()))
        jwk |= {"kid": self.kid, "alg": "RS256", "use": "sig"}
        return json.dumps({"keys": [jwk]}).encode()
