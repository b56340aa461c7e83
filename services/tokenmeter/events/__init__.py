"""The v1 usage-event contract: models, decoding, and the token classes."""
