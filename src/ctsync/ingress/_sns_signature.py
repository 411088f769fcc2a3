"""SNS message signatures, checked with ``cryptography``.

SNS signs "Key\\nValue\\n" over a fixed list of the message's keys with the
RSA key of the certificate at SigningCertURL: SignatureVersion 1 is
SHA1withRSA, 2 is SHA256withRSA (docs.aws.amazon.com/sns/latest/dg/
sns-verify-signature-of-message.html). Hand-rolled because the SNS validators
on PyPI are unmaintained; the certificate must come over https from a host
matching CTSYNC_SNS_CERT_HOST, and CTSYNC_SNS_TOPIC_ARN (required: Settings
refuses SNS verification without it) limits which topics may post, since any
AWS account can sign messages of its own topics.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ctsync.config import Settings
from ctsync.errors import InputError, Unauthorized
from ctsync.ingress._fetch import DocumentCache, FetchError
from ctsync.ingress._sns import SNS_TYPES, check_sns_url
from ctsync.ingress._unwrapped import one_of

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes

__all__ = ["SnsSignatureVerifier", "string_to_sign", "verify_signature"]

_NOTIFICATION_KEYS = ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type")
_CONFIRMATION_KEYS = (
    "Message",
    "MessageId",
    "SubscribeURL",
    "Timestamp",
    "Token",
    "TopicArn",
    "Type",
)
_OPTIONAL_KEYS = frozenset({"Subject"})


class SnsSignatureVerifier:
    """Checks that a request body is an SNS message signed by AWS for an allowed topic."""

    def __init__(self, settings: Settings, cache: DocumentCache) -> None:
        self._host_pattern = settings.sns_cert_host
        self._topics = settings.sns_topics  # never empty (Settings); empty would refuse all
        self._cache = cache

    async def verify(self, message: Any) -> None:
        """Return when ``message`` is validly signed; else Unauthorized with the reason."""
        if not isinstance(message, dict) or not one_of(message.get("Type"), SNS_TYPES):
            msg = "not a signed SNS message"
            raise Unauthorized(msg)
        if not one_of(message.get("TopicArn"), self._topics):
            msg = "the SNS topic is not one of CTSYNC_SNS_TOPIC_ARN"
            raise Unauthorized(msg)
        try:
            url = check_sns_url(
                message.get("SigningCertURL"), self._host_pattern, what="SigningCertURL", pem=True
            )
        except InputError as exc:
            raise Unauthorized(str(exc)) from exc
        try:
            pem = await self._cache.get(url)
        except FetchError as exc:
            msg = f"SNS signing certificate unavailable: {exc}"
            raise Unauthorized(msg) from exc
        verify_signature(message, pem)


def string_to_sign(message: Mapping[str, Any]) -> bytes:
    """The bytes SNS signs: "Key\\nValue\\n" for each of the type's keys present."""
    keys = _NOTIFICATION_KEYS if message.get("Type") == "Notification" else _CONFIRMATION_KEYS
    parts: list[str] = []
    for key in keys:
        value = message.get(key)
        if value is None and key in _OPTIONAL_KEYS:
            continue
        if not isinstance(value, str):
            msg = f"SNS message field {key} is missing or not a string"
            raise Unauthorized(msg)
        parts.append(f"{key}\n{value}\n")
    return "".join(parts).encode("utf-8", "surrogatepass")


def verify_signature(message: Mapping[str, Any], certificate_pem: bytes) -> None:
    """Check ``Signature`` over the string to sign with the certificate's RSA key."""
    from cryptography.exceptions import InvalidSignature  # noqa: PLC0415
    from cryptography.hazmat.primitives import hashes  # noqa: PLC0415
    from cryptography.hazmat.primitives.asymmetric import padding, rsa  # noqa: PLC0415

    version = message.get("SignatureVersion")
    algorithm: hashes.HashAlgorithm
    if version == "1":
        algorithm = hashes.SHA1()  # noqa: S303 - SNS SignatureVersion 1 is SHA1withRSA
    elif version == "2":
        algorithm = hashes.SHA256()
    else:
        msg = "SNS SignatureVersion must be 1 or 2"
        raise Unauthorized(msg)
    signature = _signature_bytes(message.get("Signature"))
    key = _certificate_key(certificate_pem)
    if not isinstance(key, rsa.RSAPublicKey):
        msg = "the SNS signing certificate does not hold an RSA key"
        raise Unauthorized(msg)
    try:
        key.verify(signature, string_to_sign(message), padding.PKCS1v15(), algorithm)
    except InvalidSignature as exc:
        msg = "the SNS signature does not match the message"
        raise Unauthorized(msg) from exc


def _signature_bytes(value: Any) -> bytes:
    try:
        if not isinstance(value, str) or not value:
            raise ValueError
        return base64.b64decode(value, validate=True)
    except (ValueError, binascii.Error) as exc:
        msg = "the SNS Signature is missing or not base64"
        raise Unauthorized(msg) from exc


def _certificate_key(certificate_pem: bytes) -> CertificatePublicKeyTypes:
    """The public key of a currently valid PEM certificate."""
    from cryptography import x509  # noqa: PLC0415

    try:
        cert = x509.load_pem_x509_certificate(certificate_pem)
    except ValueError as exc:
        msg = "the SNS signing certificate is not a PEM certificate"
        raise Unauthorized(msg) from exc
    now = dt.datetime.now(dt.UTC)
    if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
        msg = "the SNS signing certificate is expired or not yet valid"
        raise Unauthorized(msg)
    return cert.public_key()
