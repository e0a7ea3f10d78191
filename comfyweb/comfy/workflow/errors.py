"""What a conversion can fail with."""

from __future__ import annotations


class WorkflowConversionError(ValueError):
    """The workflow cannot be turned into a prompt; the message names the node and the reason."""
