"""Login gate: guards for pages, the re-login cookie, the login and sign-up forms."""
