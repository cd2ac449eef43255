"""`python -m core.backup create | verify ARCHIVE | restore ARCHIVE [--force] | prune` (also `make backup`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from core.backup.archive import BackupError
from core.backup.retention import prune_backups
from core.backup.service import create_backup, restore_backup, verify_backup
from core.config import Settings, load_settings
from core.logging import configure_logging

SECRETS_WARNING = ("note: the archive holds data/secrets.env; whoever holds the archive can decrypt every stored "
                   "provider key. Keep it as private as the keys.")


def _out_dir(settings: Settings, given: str | None) -> Path:
    if given:
        return Path(given)
    return Path(settings.backup.dir) if settings.backup.dir else settings.data_dir / "backups"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m core.backup", description="Back up and restore Parley.")
    sub = parser.add_subparsers(dest="command", required=True)
    create = sub.add_parser("create", help="archive the database, secrets.env and the vector store")
    create.add_argument("--dir", help="where to write the archive (default: backup.dir or data/backups)")
    verify = sub.add_parser("verify", help="check an archive's files and tables against its manifest")
    verify.add_argument("archive")
    restore = sub.add_parser("restore", help="restore an archive into the configured database and data/")
    restore.add_argument("archive")
    restore.add_argument("--force", action="store_true", help="replace a database that already holds data")
    prune = sub.add_parser("prune", help="keep the newest archive per day and per week, delete the rest")
    prune.add_argument("--dir")
    prune.add_argument("--keep-daily", type=int)
    prune.add_argument("--keep-weekly", type=int)
    return parser


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    # Never generate data/secrets.env here: on a new machine the restore brings the archive's back, and a fresh one
    # written first would stand in its way.
    settings = load_settings(write_secrets=False)
    configure_logging(settings.log_level, stream=sys.stderr)  # stdout carries the archive's path
    try:
        if args.command == "create":
            path = create_backup(settings, _out_dir(settings, args.dir))
            print(path)
            if (settings.data_dir / "secrets.env").exists():
                print(SECRETS_WARNING, file=sys.stderr)
        elif args.command == "verify":
            manifest = verify_backup(Path(args.archive))
            rows = sum(t["rows"] for t in manifest.tables.values())
            vectors = "" if manifest.vectors is None else f", {len(manifest.vectors)} vector store files"
            print(f"ok: {manifest.backend}, schema {manifest.schema_revision}, Parley {manifest.app_version}, "
                  f"{len(manifest.tables)} tables, {rows} rows{vectors}, taken {manifest.created_at}")
        elif args.command == "restore":
            result = restore_backup(settings, Path(args.archive), force=args.force)
            print(f"restored: schema {result.manifest.schema_revision} -> {result.migrated_to}; tables verified"
                  + ("; secrets.env restored" if result.secrets_restored else ""))
            if result.secrets_kept:
                print(f"note: the previous data/secrets.env differed from the archive's; it is kept as "
                      f"{result.secrets_kept} (0600). Delete it once nothing needs its keys.", file=sys.stderr)
        else:
            keep_daily = settings.backup.keep_daily if args.keep_daily is None else args.keep_daily
            keep_weekly = settings.backup.keep_weekly if args.keep_weekly is None else args.keep_weekly
            removed = prune_backups(_out_dir(settings, args.dir), keep_daily=keep_daily, keep_weekly=keep_weekly)
            print(f"removed {len(removed)} archive(s)")
    except BackupError as exc:
        print(f"error: {exc.user_message}", file=sys.stderr)
        return 1
    return 0
