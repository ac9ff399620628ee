"""Re-export of the one shared credential scrubber (providers/sanitize.py)."""

from bastion.providers.sanitize import REDACTED, sanitize

__all__ = ["REDACTED", "sanitize"]
