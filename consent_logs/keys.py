"""Ed25519 keys for sealing. A key is named by its key id, the first 16 hex digits of the
SHA-256 of its raw public key, so an auditor can match a seal to a published key."""
from __future__ import annotations

import base64
import hashlib
import os
import tempfile
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
        try:
            pem = path.read_bytes()
        except FileNotFoundError:
            pem = create_secret_file(path, cls.generate().to_pem())
        return cls.from_pem(pem)


def create_secret_file(path: Path, content: bytes) -> bytes:
    """Create ``path`` with ``content``, readable by its owner only and durable, unless it
    exists; what the file holds then (``content``, or another process's).

    Safe when processes race to create it, as a server's workers do on a first start: the
    content is written and flushed under a temporary name, then linked to ``path``, which
    fails if it exists. So the file appears whole or not at all, and a process that loses
    the race reads the winner's secret, never an empty or half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")  # mode 0600
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(temporary, path)
        except FileExistsError:
            return path.read_bytes()
    finally:
        os.unlink(temporary)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)  # the new name, too, survives a power cut
    finally:
        os.close(directory)
    return content
