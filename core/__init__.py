"""Parley core: all logic lives here; only core.ui imports streamlit."""
