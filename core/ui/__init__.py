"""The only code that imports Streamlit: guards, widgets that return values, and the one database helper."""
