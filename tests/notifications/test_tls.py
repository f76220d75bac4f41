"""TLS and credentials against a real aiosmtpd server with a self-signed certificate:
STARTTLS required, implicit TLS, login with the SecretStr password, certificates checked."""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from homeward.base.errors import DeliveryFailed
from homeward.base.settings import get_settings
from notifications.sender import send_test
from notifications.sink import LocalSmtpServer, RecordingHandler
from tests.notifications.conftest import point_mail_at

USER, PASSWORD = "homeward", "s3cret-Passw0rd"


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (cert.pem, key.pem)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        # Valid at any hour the suite runs (HOMEWARD_TEST_WALL_CLOCK moves Python's clock, not
        # OpenSSL's): the window is not what these tests are about.
        .not_valid_before(dt.datetime(2000, 1, 1, tzinfo=dt.UTC))
        .not_valid_after(dt.datetime(2099, 12, 31, tzinfo=dt.UTC))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return folder / "cert.pem", folder / "key.pem"


def server_context(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*map(str, certificate))
    return context


def check_login(_server, _session, _envelope, _mechanism, data) -> AuthResult:
    ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
        USER.encode(),
        PASSWORD.encode(),
    )
    return AuthResult(success=ok, handled=False)  # a refusal answers 535


@pytest.fixture
def starttls_server(certificate, monkeypatch) -> Iterator[RecordingHandler]:
    handler = RecordingHandler()
    with LocalSmtpServer(
        handler,
        tls_context=server_context(certificate),
        require_starttls=True,
        auth_required=True,
        authenticator=check_login,
    ) as server:
        point_mail_at(
            monkeypatch,
            server.port,
            HOMEWARD_SMTP_TLS="starttls",
            HOMEWARD_SMTP_CA_FILE=str(certificate[0]),
            HOMEWARD_SMTP_USERNAME=USER,
            HOMEWARD_SMTP_PASSWORD=PASSWORD,
        )
        yield handler
    get_settings.cache_clear()


def test_starttls_and_login_deliver(starttls_server):
    attempt = asyncio.run(send_test(to="ops@iom.example.org"))
    assert attempt.accepted == ("ops@iom.example.org",) and len(starttls_server.received) == 1
    assert PASSWORD not in repr(get_settings())  # a SecretStr never prints


def test_a_wrong_password_is_one_clear_error(starttls_server, monkeypatch):
    monkeypatch.setenv("HOMEWARD_SMTP_PASSWORD", "wrong")
    get_settings.cache_clear()
    with pytest.raises(DeliveryFailed, match="535") as failed:
        asyncio.run(send_test(to="ops@iom.example.org"))
    assert "wrong" not in str(failed.value) and starttls_server.received == []


def test_an_untrusted_certificate_is_refused(starttls_server, monkeypatch):
    monkeypatch.delenv("HOMEWARD_SMTP_CA_FILE")
    get_settings.cache_clear()
    with pytest.raises(DeliveryFailed, match="cannot connect"):
        asyncio.run(send_test(to="ops@iom.example.org"))
    assert starttls_server.received == []


def test_implicit_tls_delivers(certificate, monkeypatch):
    handler = RecordingHandler()
    with LocalSmtpServer(handler, ssl_context=server_context(certificate)) as server:
        point_mail_at(
            monkeypatch,
            server.port,
            HOMEWARD_SMTP_TLS="implicit",
            HOMEWARD_SMTP_CA_FILE=str(certificate[0]),
        )
        asyncio.run(send_test(to="ops@iom.example.org", language="ro"))
    get_settings.cache_clear()
    assert len(handler.received) == 1
