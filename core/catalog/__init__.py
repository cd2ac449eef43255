"""The model catalog admins manage (Admin → Models): settings per model over config.yaml's, prices, discovery of
what providers offer (on demand and on a schedule). What is in force is read through core.model_catalog."""

from core.catalog.admin import CatalogRow, ModelSettings, catalog_table, reset_model, set_enabled, update_model
from core.catalog.discovery import Outcome, claim, last_runs, run_discovery, running, start_discovery
from core.catalog.schedule import run_due, watch

__all__ = [
    "CatalogRow", "ModelSettings", "Outcome", "catalog_table", "claim", "last_runs", "reset_model", "run_discovery",
    "run_due", "running", "set_enabled", "start_discovery", "update_model", "watch",
]
