"""Ed25519 keys for sealing. A key is named by its key id, the first 16 hex digits of the
SHA-256 of its raw public key, so an auditor can match a seal to a published key."""
from __future__ import annotations

import base64
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

ALGORITHM = "Ed25519"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def key_id_for(public_raw: bytes) -> str:
    return hashlib.sha256(public_raw).hexdigest()[:16]


@dataclass(frozen=True)
class PublicKey:
    key_id: str
    public_key: str  # base64url of the 32 raw bytes

    def verify(self, signature: str, message: bytes) -> bool:
        try:
            Ed25519PublicKey.from_public_bytes(unb64url(self.public_key)).verify(
                unb64url(signature), message
            )
            return True
        except (InvalidSignature, ValueError):
            return False

    def as_json(self) -> dict:
        return {"kid": self.key_id, "alg": ALGORITHM, "public_key": self.public_key}


class SigningKey:
    def __init__(self, private: Ed25519PrivateKey):
        self._private = private
        raw = private.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        self.public = PublicKey(key_id_for(raw), b64url(raw))

    @property
    def key_id(self) -> str:
        return self.public.key_id

    def sign(self, message: bytes) -> str:
        return b64url(self._private.sign(message))

    @classmethod
    def generate(cls) -> "SigningKey":
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def from_pem(cls, pem: bytes) -> "SigningKey":
        private = serialization.load_pem_private_key(pem, password=None)
        if not isinstance(private, Ed25519PrivateKey):
            raise ValueError("the sealing key must be an Ed25519 private key")
        return cls(private)

    def to_pem(self) -> bytes:
        return self._private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    @classmethod
    def load_or_create(cls, path: str | Path) -> "SigningKey":
        """The key in ``path`` (PEM), created with mode 0600 on first use."""
        path = Path(path)
        if path.exists():
            return cls.from_pem(path.read_bytes())
        key = cls.generate()
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another worker won the race: use its key
            return cls.from_pem(path.read_bytes())
        with os.fdopen(fd, "wb") as handle:
            handle.write(key.to_pem())
        return key
