"""Service-account key files: minting new ones and reading the ones the token endpoint trusts."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from gemgate.emulator.settings import ServiceAccount

# The fixed URLs Google writes into every key file it hands out.
AUTH_URI = "https://accounts.google.com/o/oauth2/auth"
AUTH_PROVIDER_CERTS_URL = "https://www.googleapis.com/oauth2/v1/certs"
CLIENT_CERTS_URL_PREFIX = "https://www.googleapis.com/robot/v1/metadata/x509/"
UNIVERSE_DOMAIN = "googleapis.com"
KEY_BITS = 2048


def new_service_account(
    *, client_email: str, token_uri: str, project_id: str
) -> tuple[dict[str, str], ServiceAccount]:
    """Mint a fresh RSA key; return its key file (Google's JSON layout) and the trusted account.

    Point ``token_uri`` at the emulator so that google-auth asks it, not Google, for tokens.
    """
    private_key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)
    # Google's key ids are 40 hex digits and client ids 21 decimal digits.
    private_key_id = secrets.token_hex(20)
    client_id = str(secrets.randbelow(9 * 10**20) + 10**20)
    private_pem = private_key.private_bytes(
        encoding=serialization.Encoding.PEM,
        format=serialization.PrivateFormat.PKCS8,
        encryption_algorithm=serialization.NoEncryption(),
    )
    key_file = {
        "type": "service_account",
        "project_id": project_id,
        "private_key_id": private_key_id,
        "private_key": private_pem.decode("ascii"),
        "client_email": client_email,
        "client_id": client_id,
        "auth_uri": AUTH_URI,
        "token_uri": token_uri,
        "auth_provider_x509_cert_url": AUTH_PROVIDER_CERTS_URL,
        "client_x509_cert_url": CLIENT_CERTS_URL_PREFIX + quote(client_email, safe=""),
        "universe_domain": UNIVERSE_DOMAIN,
    }
    account = ServiceAccount(
        client_email=client_email,
        public_key_pem=_public_pem(private_key.public_key()),
        private_key_id=private_key_id,
    )
    return key_file, account


def service_account_from_key_file(info: Mapping[str, Any]) -> ServiceAccount:
    """The account a key file describes; its public key comes from ``public_key`` or ``private_key``.

    Raises:
        ValueError: the key file lacks ``client_email`` or holds no usable RSA key.
    """
    client_email = info.get("client_email")
    if not isinstance(client_email, str) or not client_email:
        raise ValueError("service account key file has no client_email")
    private_key_id = info.get("private_key_id") or ""
    if not isinstance(private_key_id, str):
        raise ValueError("service account key file has a non-string private_key_id")
    return ServiceAccount(
        client_email=client_email,
        public_key_pem=_public_key_of(info),
        private_key_id=private_key_id,
    )


def _public_key_of(info: Mapping[str, Any]) -> bytes:
    public_pem = info.get("public_key")
    if isinstance(public_pem, str) and public_pem:
        try:
            public_key = serialization.load_pem_public_key(public_pem.encode("utf-8"))
        except (ValueError, UnsupportedAlgorithm) as error:
            raise ValueError("service account public_key is not a PEM public key") from error
        if not isinstance(public_key, rsa.RSAPublicKey):
            raise ValueError("service account public_key is not an RSA key")
        return _public_pem(public_key)
    private_pem = info.get("private_key")
    if not isinstance(private_pem, str) or not private_pem:
        raise ValueError("service account key file has neither public_key nor private_key")
    try:
        private_key = serialization.load_pem_private_key(private_pem.encode("utf-8"), None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as error:
        raise ValueError("service account private_key is not an unencrypted PEM key") from error
    if not isinstance(private_key, rsa.RSAPrivateKey):
        raise ValueError("service account private_key is not an RSA key")
    return _public_pem(private_key.public_key())


def _public_pem(public_key: rsa.RSAPublicKey) -> bytes:
    return public_key.public_bytes(
        encoding=serialization.Encoding.PEM,
        format=serialization.PublicFormat.SubjectPublicKeyInfo,
    )
