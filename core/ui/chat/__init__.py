"""Chat widgets: the sidebar (conversations, model picker), the message bubbles, the composer and streaming."""
