"""KeyVault: provider keys encrypted with MultiFernet under master keys that never touch the database.

Master keys come from PARLEY_FERNET_KEYS (comma-separated, newest first) or the generated secret file.
A primitive: it knows nothing of the database (rotation of the stored keys is core.keys.store.rotate_all).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from core.config import Settings, get_settings
from core.errors import AppError
from core.i18n import Msg


class KeyVaultError(AppError):
    """Seen by the key's owner and admins: a stored key cannot be read (tampered, or its master key removed)."""

    user_message = Msg("keys.undecryptable")


def key_version(master_key: str) -> str:
    """A short, non-secret fingerprint of a master key (which key encrypted a credential)."""
    return hashlib.sha256(master_key.encode()).hexdigest()[:12]


@dataclass(frozen=True)
class Sealed:
    ciphertext: str
    key_version: str


class KeyVault:
    def __init__(self, master_keys: list[str]) -> None:
        if not master_keys:
            raise AppError(Msg("keys.no_master_key"))
        self._keys = master_keys
        self._fernet = MultiFernet([Fernet(k.encode()) for k in master_keys])
        self.current_version = key_version(master_keys[0])

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> KeyVault:
        settings = settings or get_settings()
        return cls([k.get_secret_value() for k in settings.fernet_keys])

    def encrypt(self, plaintext: str) -> Sealed:
        return Sealed(self._fernet.encrypt(plaintext.encode()).decode(), self.current_version)

    def decrypt(self, ciphertext: str) -> str:
        try:
            return self._fernet.decrypt(ciphertext.encode()).decode()
        except (InvalidToken, ValueError, TypeError):
            raise KeyVaultError() from None

    def rotate(self, ciphertext: str) -> Sealed:
        """The same secret under the newest master key (keeps the original timestamp)."""
        try:
            return Sealed(self._fernet.rotate(ciphertext.encode()).decode(), self.current_version)
        except (InvalidToken, ValueError, TypeError):
            raise KeyVaultError() from None


def generate_key() -> str:
    return Fernet.generate_key().decode()
