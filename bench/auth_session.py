"""Per-run cost of the login gate: validate_session (one indexed lookup) vs a bare SELECT 1.

Every Streamlit run re-checks the session against the database (revocation, role changes),
so this is overhead on every click. Prints medians over several runs and the ratio to the
baseline measured in the same run. Usage: python bench/auth_session.py
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from datetime import datetime  # noqa: E402

from sqlalchemy import text  # noqa: E402
from sqlmodel import Session  # noqa: E402

from bench._util import bench_databases, summary, timed_ms  # noqa: E402
from core import db  # noqa: E402
from core.accounts import bootstrap_admin, validate_session  # noqa: E402
from core.config import get_settings  # noqa: E402
from core.models import User, utcnow  # noqa: E402

RUNS = 2000
USERS = 5000


def main() -> None:
    os.environ.setdefault("PARLEY_ADMIN_PASSWORD", "Bench-pass-123")
    print(f"{'backend':<11} {'SELECT 1 ms':>12} {'validate_session ms':>20} {'overhead ms':>12} {'ratio':>6}")
    with bench_databases() as dbs:
        for backend, url in dbs:
            os.environ["PARLEY_DATABASE_URL"] = url
            get_settings.cache_clear()
            db.reset_caches()
            engine = db.ensure_migrated()
            with Session(engine) as session:
                bootstrap_admin(session=session)
                session.add_all(User(username=f"u{i}", email=f"u{i}@e.x", display_name=f"U{i}",
                                     password_hash="x") for i in range(USERS))
                session.commit()
            issued = utcnow()
            with Session(engine) as session:
                base = timed_ms(lambda s=session: s.exec(text("SELECT 1")).one(), RUNS)  # type: ignore[call-overload]
                def gate_check(s: Session = session, t: datetime = issued) -> object:
                    return validate_session(session=s, username="u4321", issued_at=t)

                gate = timed_ms(gate_check, RUNS)
            (b, _), (g, _) = summary(base), summary(gate)
            print(f"{backend:<11} {b:>12.3f} {g:>20.3f} {g - b:>12.3f} {g / b:>6.1f}")
            db.reset_caches()


if __name__ == "__main__":
    main()
