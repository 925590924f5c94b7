"""EmulatorSettings: which keys and service accounts the emulator trusts, and its limits."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class ServiceAccount:
    """A service account whose JWT assertions the OAuth token endpoint accepts."""

    client_email: str
    public_key_pem: bytes
    private_key_id: str = ""


@dataclass(frozen=True, slots=True)
class EmulatorSettings:
    """Everything that varies between emulator instances; fixed at start-up."""

    # None: any non-empty key is accepted. Otherwise only these keys are valid.
    api_keys: frozenset[str] | None = None
    service_accounts: tuple[ServiceAccount, ...] = ()
    # Reject bodies that do not parse against Google's protobuf schema (needs the schema extra).
    strict_schema: bool = True
    access_token_seconds: int = 3600
    # Caches smaller than this are rejected, as Google rejects them (min_total_token_count).
    min_cache_tokens: int = 1024
    default_cache_ttl_seconds: int = 3600
    file_ttl_seconds: int = 48 * 3600
    # Text streamed per chunk by :streamGenerateContent.
    stream_chunk_chars: int = 24
    # Secret mixed into thought signatures so that forged or foreign ones are rejected.
    signature_secret: bytes = b"gemgate-emulator"
    # Longest hang a fault may ask for, so that a forgotten client never pins the server.
    max_hang_seconds: float = 300.0
    extra_models: tuple[str, ...] = field(default=())
