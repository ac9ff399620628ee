"""Rate limits: the token-bucket algorithm, counter backends (memory, Redis), the ratelimit stage."""
