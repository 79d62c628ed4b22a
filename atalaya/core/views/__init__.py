"""Core views, one module per area: auth (sign-in), account (profile, TOTP, tokens), clients."""
