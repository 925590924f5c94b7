"""Service-account key files minted for, and read by, the emulator's token endpoint."""

from __future__ import annotations

import re

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from google.oauth2 import service_account

from gemgate.emulator.service_accounts import new_service_account, service_account_from_key_file
from gemgate.emulator.settings import ServiceAccount

EMAIL = "robot@p.iam.gserviceaccount.com"
TOKEN_URI = "http://127.0.0.1:9/token"


@pytest.fixture(scope="module")
def minted() -> tuple[dict[str, str], ServiceAccount]:
    return new_service_account(client_email=EMAIL, token_uri=TOKEN_URI, project_id="p")


def test_key_file_has_exactly_googles_fields(minted: tuple[dict[str, str], ServiceAccount]) -> None:
    key_file, _ = minted
    assert set(key_file) == {
        "type", "project_id", "private_key_id", "private_key", "client_email", "client_id",
        "auth_uri", "token_uri", "auth_provider_x509_cert_url", "client_x509_cert_url",
        "universe_domain",
    }  # fmt: skip
    assert key_file["type"] == "service_account"
    assert key_file["project_id"] == "p"
    assert key_file["client_email"] == EMAIL
    assert key_file["token_uri"] == TOKEN_URI
    assert key_file["universe_domain"] == "googleapis.com"
    assert key_file["client_x509_cert_url"].endswith("/x509/robot%40p.iam.gserviceaccount.com")


def test_key_file_ids_look_like_googles(minted: tuple[dict[str, str], ServiceAccount]) -> None:
    key_file, account = minted
    assert re.fullmatch(r"[0-9a-f]{40}", key_file["private_key_id"])
    assert re.fullmatch(r"[1-9][0-9]{20}", key_file["client_id"])
    assert account.private_key_id == key_file["private_key_id"]


def test_private_key_is_unencrypted_pkcs8_rsa_2048(
    minted: tuple[dict[str, str], ServiceAccount],
) -> None:
    key_file, _ = minted
    pem = key_file["private_key"]
    assert pem.startswith("-----BEGIN PRIVATE KEY-----\n")
    private_key = serialization.load_pem_private_key(pem.encode(), password=None)
    assert isinstance(private_key, rsa.RSAPrivateKey)
    assert private_key.key_size == 2048


def test_trusted_account_verifies_what_the_key_file_signs(
    minted: tuple[dict[str, str], ServiceAccount],
) -> None:
    key_file, account = minted
    private_key = serialization.load_pem_private_key(key_file["private_key"].encode(), None)
    assert isinstance(private_key, rsa.RSAPrivateKey)
    signature = private_key.sign(b"payload", padding.PKCS1v15(), hashes.SHA256())
    public_key = serialization.load_pem_public_key(account.public_key_pem)
    assert isinstance(public_key, rsa.RSAPublicKey)
    public_key.verify(signature, b"payload", padding.PKCS1v15(), hashes.SHA256())


def test_google_auth_loads_the_key_file(minted: tuple[dict[str, str], ServiceAccount]) -> None:
    key_file, _ = minted
    load = service_account.Credentials.from_service_account_info
    credentials = load(key_file)  # type: ignore[no-untyped-call]
    assert credentials.service_account_email == EMAIL
    assert credentials.project_id == "p"
    assert credentials._token_uri == TOKEN_URI


def test_account_read_from_key_file_equals_the_minted_one(
    minted: tuple[dict[str, str], ServiceAccount],
) -> None:
    key_file, account = minted
    assert service_account_from_key_file(key_file) == account


def test_public_key_in_key_file_is_used_without_a_private_key(
    minted: tuple[dict[str, str], ServiceAccount],
) -> None:
    _, account = minted
    info = {"client_email": EMAIL, "public_key": account.public_key_pem.decode()}
    assert service_account_from_key_file(info) == ServiceAccount(EMAIL, account.public_key_pem)


def test_key_file_without_client_email_is_refused(
    minted: tuple[dict[str, str], ServiceAccount],
) -> None:
    key_file, _ = minted
    info = {name: value for name, value in key_file.items() if name != "client_email"}
    with pytest.raises(ValueError, match="client_email"):
        service_account_from_key_file(info)


def test_key_file_without_any_key_is_refused() -> None:
    with pytest.raises(ValueError, match="neither public_key nor private_key"):
        service_account_from_key_file({"client_email": EMAIL})


@pytest.mark.parametrize("field", ["private_key", "public_key"])
def test_key_file_with_an_unreadable_key_is_refused(field: str) -> None:
    with pytest.raises(ValueError, match=field):
        service_account_from_key_file({"client_email": EMAIL, field: "-----BEGIN nonsense"})


def test_key_file_with_a_non_rsa_key_is_refused() -> None:
    ec_key = ec.generate_private_key(ec.SECP256R1())
    pem = ec_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    with pytest.raises(ValueError, match="not an RSA key"):
        service_account_from_key_file({"client_email": EMAIL, "private_key": pem.decode()})
