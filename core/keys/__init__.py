"""Provider keys: the vault (MultiFernet), stored keys and the organisation's switches, resolution at chat time,
key checks and the rotation command line."""

from core.keys.check import check_stored_key
from core.keys.policy import POLICY_BYOK, POLICY_DEFAULTS, POLICY_ORG_FOR_ALL, policy, set_policy
from core.keys.resolve import KEYED_PROVIDERS, Resolution, org_resolution, resolve, resolve_keys
from core.keys.store import (
    RotationReport,
    clean_base_url,
    clean_key,
    decrypt_for_check,
    delete_key,
    delete_org_key,
    delete_user_key,
    list_keys,
    list_org_keys,
    list_user_keys,
    record_check,
    rotate_all,
    save_key,
    save_org_key,
    save_user_key,
)
from core.keys.vault import KeyVault, KeyVaultError, generate_key

__all__ = [
    "KEYED_PROVIDERS", "POLICY_BYOK", "POLICY_DEFAULTS", "POLICY_ORG_FOR_ALL", "KeyVault", "KeyVaultError",
    "Resolution", "RotationReport", "check_stored_key", "clean_base_url", "clean_key", "decrypt_for_check",
    "delete_key", "delete_org_key", "delete_user_key", "generate_key", "list_keys", "list_org_keys", "list_user_keys",
    "org_resolution",
    "policy", "record_check", "resolve", "resolve_keys", "rotate_all", "save_key", "save_org_key", "save_user_key",
    "set_policy",
]
