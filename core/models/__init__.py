"""SQLModel tables and their Create/Update/Public shapes, one family per entity. Every datetime is UTC."""

from core.models.accounts import (
    DISPLAY_NAME_MAX,
    EMAIL_MAX,
    USERNAME_MAX,
    AuditEvent,
    AuditEventPublic,
    PreferencesPublic,
    PromptPreset,
    PromptPresetPublic,
    User,
    UserCreate,
    UserPreference,
    UserPublic,
    UserUpdate,
)
from core.models.api import TOKEN_PREFIX, ApiToken, ApiTokenPublic
from core.models.base import (
    CheckStatus,
    MessageRole,
    MessageStatus,
    Role,
    Theme,
    UsageKind,
    UsageSource,
    UsageStatus,
    UserStatus,
    as_utc,
    metadata,
    utcnow,
)
from core.models.catalog import CatalogModel, DiscoveryRun
from core.models.changes import CACHE_VERSION_ID, CacheVersion
from core.models.history import (
    Attachment,
    AttachmentBlob,
    Conversation,
    ConversationCreate,
    ConversationPublic,
    ConversationUpdate,
    Feedback,
    Message,
    MessageCreate,
    MessagePublic,
)
from core.models.keys import CredentialPublic, OrgSetting, ProviderCredential
from core.models.knowledge import (
    Chunk,
    DocumentStatus,
    EmbeddingCache,
    KbDocument,
    KbDocumentPublic,
    KnowledgeBase,
    KnowledgeBasePublic,
    MessageSource,
    Sharing,
)
from core.models.teams import Team, TeamCreate, TeamMember, TeamPublic, TeamUpdate
from core.models.usage import (
    TTFT_EDGES_MS,
    BudgetCounter,
    BudgetHold,
    LimitPolicy,
    LimitPolicyUpdate,
    PriceOverride,
    UsageDaily,
    UsageDailyError,
    UsageEvent,
)

__all__ = [
    "Attachment", "AttachmentBlob",
    "DISPLAY_NAME_MAX", "EMAIL_MAX", "TOKEN_PREFIX", "TTFT_EDGES_MS", "USERNAME_MAX", "ApiToken", "ApiTokenPublic",
    "AuditEvent", "AuditEventPublic", "BudgetCounter", "BudgetHold", "CACHE_VERSION_ID", "CacheVersion", "CatalogModel",
    "DiscoveryRun",
    "CheckStatus", "Chunk", "Conversation", "Feedback", "ConversationCreate", "ConversationPublic",
    "ConversationUpdate", "CredentialPublic", "DocumentStatus", "EmbeddingCache", "KbDocument", "KbDocumentPublic",
    "KnowledgeBase", "KnowledgeBasePublic", "LimitPolicy", "LimitPolicyUpdate", "Message", "MessageCreate",
    "MessagePublic", "MessageRole", "MessageSource", "MessageStatus", "OrgSetting", "PreferencesPublic",
    "PriceOverride", "PromptPreset",
    "PromptPresetPublic", "ProviderCredential", "Role", "Sharing", "Team", "TeamCreate", "TeamMember", "TeamPublic",
    "TeamUpdate", "Theme", "UsageDaily", "UsageDailyError", "UsageEvent",
    "UsageKind", "UsageSource", "UsageStatus", "User", "UserCreate", "UserPreference", "UserPublic", "UserStatus",
    "UserUpdate",
    "as_utc", "metadata", "utcnow",
]
