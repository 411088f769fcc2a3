"""Sender checks without the network: SNS signatures, allowed URLs, the shared secret."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from ctsync.config import Settings
from ctsync.errors import InputError, Unauthorized
from ctsync.ingress import UNVERIFIED_HINT, SenderGuard
from ctsync.ingress._sns import check_sns_url
from ctsync.ingress._sns_signature import string_to_sign, verify_signature
from ctsync.ingress._verify import presented_secrets, secret_matches
from tests import envelopes, payloads
from tests.certs import self_signed

AWS_HOSTS = Settings().sns_cert_host


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def cert(key: rsa.RSAPrivateKey) -> bytes:
    return self_signed(key, "sns.test")


def sign(message: dict[str, Any], key: rsa.RSAPrivateKey, version: str = "2") -> dict[str, Any]:
    signed = {
        **message,
        "SignatureVersion": version,
        "SigningCertURL": "https://sns.eu-central-1.amazonaws.com/x.pem",
    }
    algorithm = hashes.SHA1() if version == "1" else hashes.SHA256()
    raw = key.sign(string_to_sign(signed), padding.PKCS1v15(), algorithm)
    return {**signed, "Signature": base64.b64encode(raw).decode()}


def test_string_to_sign_follows_the_documented_order_and_skips_a_missing_subject() -> None:
    message = {
        "Type": "Notification",
        "MessageId": "m",
        "TopicArn": "t",
        "Message": "hi",
        "Timestamp": "ts",
        "Extra": "ignored",
    }
    assert string_to_sign(message) == (
        b"Message\nhi\nMessageId\nm\nTimestamp\nts\nTopicArn\nt\nType\nNotification\n"
    )
    with_subject = string_to_sign({**message, "Subject": "s"})
    assert b"MessageId\nm\nSubject\ns\nTimestamp" in with_subject
    confirmation = envelopes.sns_confirmation("https://sns.x.amazonaws.com/c")
    signed = string_to_sign(confirmation).decode()
    assert signed.index("SubscribeURL\n") < signed.index("Timestamp\n") < signed.index("Token\n")


@pytest.mark.parametrize("version", ["1", "2"])
def test_a_valid_signature_passes_in_both_versions(
    version: str, key: rsa.RSAPrivateKey, cert: bytes
) -> None:
    verify_signature(sign(envelopes.sns(payloads.created()), key, version), cert)
    confirmation = envelopes.sns_confirmation("https://sns.x.amazonaws.com/c")
    verify_signature(sign(confirmation, key, version), cert)


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"Message": '{"tampered": true}'}, "does not match"),
        ({"TopicArn": "arn:aws:sns:eu-central-1:999999999999:other"}, "does not match"),
        ({"SignatureVersion": "3"}, "SignatureVersion"),
        ({"SignatureVersion": "1"}, "does not match"),  # signed as v2, claimed v1
        ({"Signature": "%%%"}, "base64"),
        ({"Signature": None}, "base64"),
        ({"MessageId": None}, "MessageId"),
        ({"Timestamp": 5}, "Timestamp"),
    ],
)
def test_anything_else_is_unauthorized(
    change: dict[str, Any], needle: str, key: rsa.RSAPrivateKey, cert: bytes
) -> None:
    message = {**sign(envelopes.sns(payloads.created()), key), **change}
    with pytest.raises(Unauthorized, match=needle):
        verify_signature(message, cert)


def test_the_certificate_must_be_a_valid_rsa_pem(key: rsa.RSAPrivateKey) -> None:
    message = sign(envelopes.sns({}), key)
    with pytest.raises(Unauthorized, match="PEM"):
        verify_signature(message, b"not a certificate")
    with pytest.raises(Unauthorized, match="expired"):
        verify_signature(message, self_signed(key, "old", days=-2))
    ec_key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    name = x509.Name([])
    ec_cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(ec_key.public_key())
        .serial_number(1)
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(ec_key, hashes.SHA256())
    )
    from cryptography.hazmat.primitives import serialization

    with pytest.raises(Unauthorized, match="RSA"):
        verify_signature(message, ec_cert.public_bytes(serialization.Encoding.PEM))


@pytest.mark.parametrize(
    "url",
    [
        "https://sns.eu-central-1.amazonaws.com/SimpleNotificationService-abc.pem",
        "https://sns.cn-north-1.amazonaws.com.cn/SimpleNotificationService-abc.pem",
    ],
)
def test_aws_certificate_urls_are_allowed(url: str) -> None:
    assert check_sns_url(url, AWS_HOSTS, what="SigningCertURL", pem=True) == url


@pytest.mark.parametrize(
    ("url", "needle"),
    [
        ("http://sns.eu-central-1.amazonaws.com/x.pem", "https"),
        ("https://sns.eu-central-1.amazonaws.com.evil.example/x.pem", "not an SNS host"),
        ("https://evil.example/sns.eu-central-1.amazonaws.com/x.pem", "not an SNS host"),
        ("https://sns.eu-central-1.amazonaws.com/x.txt", ".pem"),
        ("https://user:pw@sns.eu-central-1.amazonaws.com/x.pem", "credentials"),
        ("https://sns.eu-central-1.amazonaws.com:99999/x.pem", "valid URL"),
        ("https://[::1/x.pem", "valid URL"),
        (None, "missing"),
        ("https://sns.eu-central-1.amazonaws.com/" + "a" * 3000 + ".pem", "missing"),
    ],
)
def test_other_certificate_urls_are_refused(url: Any, needle: str) -> None:
    with pytest.raises(InputError, match=needle):
        check_sns_url(url, AWS_HOSTS, what="SigningCertURL", pem=True)


def test_presented_secrets_reads_bearer_basic_and_token_without_crashing() -> None:
    basic = base64.b64encode(b"ctsync:hush").decode()
    assert presented_secrets({"authorization": "Bearer hush"}, {}) == ["hush"]
    assert presented_secrets({"authorization": f"Basic {basic}"}, {}) == ["hush", "ctsync"]
    assert presented_secrets({}, {"token": "hush"}) == ["hush"]
    assert presented_secrets({"authorization": "Basic ÿÿÿ"}, {}) == []
    assert presented_secrets({"authorization": "Basic %%%"}, {}) == []
    assert (
        presented_secrets({"authorization": "Basic " + base64.b64encode(b"\xff").decode()}, {})
        == []
    )
    assert secret_matches("hush", ["nope", "hush"])
    assert not secret_matches("hush", ["hus", "hushh", ""])


def check(
    guard: SenderGuard, headers: dict[str, str], query: dict[str, str] | None = None
) -> str | None:
    try:
        asyncio.run(guard.check_headers(headers, query or {}))
    except Unauthorized as exc:
        return str(exc)
    return None


def test_without_checks_only_the_operators_opt_in_lets_deliveries_in() -> None:
    assert check(SenderGuard(Settings()), {}) == UNVERIFIED_HINT
    allowed = Settings(CTSYNC_ALLOW_UNVERIFIED="true")
    assert check(SenderGuard(allowed), {}) is None


def test_the_shared_secret_proves_the_sender_and_the_reason_never_shows_it() -> None:
    guard = SenderGuard(Settings(CTSYNC_WEBHOOK_SECRET="hush-hush"))
    assert check(guard, {"authorization": "Bearer hush-hush"}) is None
    assert check(guard, {}, {"token": "hush-hush"}) is None
    reason = check(guard, {"authorization": "Bearer n0t-th3-s3cret"})
    assert reason is not None
    assert "hush" not in reason
    assert "s3cret" not in reason
    assert not guard.checks_body


def test_sns_verification_is_the_one_check_that_reads_the_body() -> None:
    settings = Settings(CTSYNC_SNS_VERIFY="true", CTSYNC_SNS_TOPIC_ARN=envelopes.TOPIC_ARN)
    guard = SenderGuard(settings)
    assert guard.checks_body
    assert check(guard, {}) is not None
    with pytest.raises(Unauthorized, match="not a signed SNS message"):
        asyncio.run(guard.check_body(payloads.created()))


def test_a_topic_outside_the_allowed_list_is_refused_before_any_fetch() -> None:
    settings = Settings(
        CTSYNC_SNS_VERIFY="true",
        CTSYNC_SNS_TOPIC_ARN="arn:aws:sns:eu-central-1:1:a, arn:aws:sns:x:2:b",
    )
    guard = SenderGuard(settings)
    with pytest.raises(Unauthorized, match="CTSYNC_SNS_TOPIC_ARN"):
        asyncio.run(guard.check_body(envelopes.sns({})))


@pytest.mark.parametrize(
    ("env", "missing"),
    [
        ({"CTSYNC_SNS_VERIFY": "true"}, "CTSYNC_SNS_TOPIC_ARN"),
        ({"CTSYNC_SNS_VERIFY": "true", "CTSYNC_SNS_TOPIC_ARN": " , "}, "CTSYNC_SNS_TOPIC_ARN"),
        ({"CTSYNC_PUBSUB_AUDIENCE": "https://x/"}, "CTSYNC_PUBSUB_SERVICE_ACCOUNT"),
        (
            {"CTSYNC_PUBSUB_AUDIENCE": "https://x/", "CTSYNC_PUBSUB_SERVICE_ACCOUNT": " "},
            "CTSYNC_PUBSUB_SERVICE_ACCOUNT",
        ),
    ],
)
def test_a_check_that_would_let_outsiders_in_is_a_configuration_error(
    env: dict[str, str], missing: str
) -> None:
    with pytest.raises(ValueError, match=missing):
        Settings(**env)


def test_an_invalid_cert_host_pattern_is_a_configuration_error() -> None:
    with pytest.raises(ValueError, match="CTSYNC_SNS_CERT_HOST"):
        Settings(CTSYNC_SNS_CERT_HOST="(unclosed")


@pytest.mark.parametrize("field", ["Type", "TopicArn"])
@pytest.mark.parametrize("junk", [{}, [], None, 7])
def test_sns_fields_of_any_json_type_are_unauthorized_not_a_crash(field: str, junk: Any) -> None:
    settings = Settings(CTSYNC_SNS_VERIFY="true", CTSYNC_SNS_TOPIC_ARN=envelopes.TOPIC_ARN)
    guard = SenderGuard(settings)
    with pytest.raises(Unauthorized):
        asyncio.run(guard.check_body({**envelopes.sns({}), field: junk}))
