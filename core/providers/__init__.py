"""Model providers: one interface, a registry, and the adapters."""
