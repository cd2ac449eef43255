"""Backups of everything Parley keeps: `python -m core.backup create|verify|restore|prune` (make backup)."""

from core.backup.archive import BackupError, Manifest
from core.backup.retention import prune_backups
from core.backup.service import RestoreResult, create_backup, restore_backup, verify_backup

__all__ = ["BackupError", "Manifest", "RestoreResult", "create_backup", "prune_backups", "restore_backup",
           "verify_backup"]
