"""The labeler's signing key: created on first use, kept where only the labeler reads it.

atproto labels are signed with P-256 (`ES256`) or secp256k1 (`ES256K`); this key is
P-256: OpenSSL (through `cryptography`) signs P-256 several times faster than secp256k1
(measured here: 0.27 ms against 2.0 ms per signature on a loaded machine), and one
signature per label is the labels worker's main cost. Signatures are the 64-byte compact
form (r || s) in the low-S variant: atproto verifiers reject the high-S twin of a valid
signature.

Where the private key lives is a port with two adapters:
- locally a PEM file in the home folder, created with mode 0600 (O_EXCL, so two processes
  starting at once cannot each create a different key);
- on AWS a Secrets Manager secret (Terraform creates it empty; the first labeler to need a
  key writes one). Not a KMS asymmetric key: KMS signs one label per API call, a few ms
  each, against an account-wide quota of a few hundred asymmetric requests per second,
  while the targets ask for 500 labels/s with a p99 under a second. The secret is
  encrypted with the project's KMS key and readable only by the labeler's task role.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Protocol

from atproto_crypto.consts import P256_CURVE_ORDER, P256_JWT_ALG
from atproto_crypto.did import format_did_key, format_multikey
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

CURVE = ec.SECP256R1
_HALF_ORDER = P256_CURVE_ORDER // 2


class SigningKeyError(RuntimeError):
    """The signing key cannot be read or created."""


class SigningKey:
    """A P-256 private key that signs the way atproto verifies."""

    def __init__(self, private_key: ec.EllipticCurvePrivateKey) -> None:
        if not isinstance(private_key.curve, CURVE):
            raise SigningKeyError(f"the labeler key must be P-256, got {private_key.curve.name}")
        self._key = private_key
        self._public = private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.CompressedPoint
        )

    @classmethod
    def generate(cls) -> SigningKey:
        return cls(ec.generate_private_key(CURVE()))

    @classmethod
    def from_pem(cls, pem: bytes) -> SigningKey:
        try:
            key = serialization.load_pem_private_key(pem, password=None)
        except (ValueError, TypeError) as exc:
            raise SigningKeyError(f"the labeler key is not a PEM private key: {exc}") from exc
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise SigningKeyError("the labeler key is not an elliptic-curve key")
        return cls(key)

    def to_pem(self) -> bytes:
        return self._key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )

    def sign(self, data: bytes) -> bytes:
        r, s = decode_dss_signature(self._key.sign(data, ec.ECDSA(hashes.SHA256())))
        if s > _HALF_ORDER:
            s = P256_CURVE_ORDER - s
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")

    @property
    def multikey(self) -> str:
        """The public key as a Multikey (`publicKeyMultibase` in a DID document)."""
        return format_multikey(P256_JWT_ALG, self._public)

    @property
    def did_key(self) -> str:
        return format_did_key(P256_JWT_ALG, self._public)


class KeyStore(Protocol):
    def load_or_create(self) -> SigningKey: ...


class FileKeyStore:
    """The key as a PEM file (mode 0600) in the home folder."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def load_or_create(self) -> SigningKey:
        try:
            return SigningKey.from_pem(self.path.read_bytes())
        except FileNotFoundError:
            pass
        self.path.parent.mkdir(parents=True, exist_ok=True)
        key = SigningKey.generate()
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process created it first: use theirs
            return SigningKey.from_pem(self.path.read_bytes())
        with os.fdopen(fd, "wb") as handle:
            handle.write(key.to_pem())
        return key


class SecretsManagerKeyStore:
    """The key as the SecretString (PEM) of a Secrets Manager secret."""

    def __init__(self, client: Any, secret_id: str) -> None:
        self.client = client
        self.secret_id = secret_id

    def load_or_create(self) -> SigningKey:
        errors = self.client.exceptions
        try:
            value = self.client.get_secret_value(SecretId=self.secret_id)
            return SigningKey.from_pem(value["SecretString"].encode())
        except errors.ResourceNotFoundException:
            # Terraform created the secret without a value (or no secret yet, locally on moto).
            pass
        key = SigningKey.generate()
        try:
            self.client.put_secret_value(SecretId=self.secret_id, SecretString=key.to_pem().decode())
        except errors.ResourceNotFoundException:
            self.client.create_secret(Name=self.secret_id, SecretString=key.to_pem().decode())
        return key


def open_key_store(settings: Any) -> KeyStore:
    """The key store of the configured backend."""
    if settings.backend == "aws":
        from fraud_pipeline.aws import aws_client

        return SecretsManagerKeyStore(
            aws_client("secretsmanager", settings.aws_region, settings.endpoint_url),
            settings.labeler_key_secret,
        )
    return FileKeyStore(settings.labeler_key_path)
