"""The small base that every wing of seqbench shares: the registry class behind
``architectures`` and ``tasks``, and the one error type for user mistakes.

It imports nothing of seqbench's, so ``architectures`` and ``tasks`` can both use it
without importing each other (docs/design.md, "Layers").
"""

from seqbench.errors import UserError
from seqbench.registry import Registry

__all__ = ["Registry", "UserError"]
