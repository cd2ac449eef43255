"""Model providers, the bottom layer: one interface, a registry of adapter classes, and the adapters.

Imports only the kernel and the SDKs; the caller hands an adapter its key.
"""
