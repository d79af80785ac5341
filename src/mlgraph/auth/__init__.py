"""Identity and access. For now a placeholder principal; OIDC and API keys come later."""
