"""The only part of core that imports Streamlit: guards, shared widgets, resource wiring."""
