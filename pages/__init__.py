"""Pages: one file per page; each guards itself, reads widgets, calls core, renders (run by st.navigation)."""
