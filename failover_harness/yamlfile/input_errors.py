"""Several input errors found at once, reported together (one message lists them all)."""

from __future__ import annotations

from collections.abc import Sequence

from failover_harness.errors import InputError


class InputErrors(InputError):
    """Several input errors found at once; `errors` holds each, the message lists them all."""

    def __init__(self, errors: Sequence[InputError]) -> None:
        if not errors:
            raise ValueError("InputErrors needs at least one error")
        self.errors = list(errors)
        first = self.errors[0]
        head = f"{len(self.errors)} errors:\n" if len(self.errors) > 1 else ""
        super().__init__(head + "\n".join(str(e) for e in self.errors))
        self.file, self.line, self.field = first.file, first.line, first.field


def raise_all(errors: Sequence[InputError]) -> None:
    """Raise one error as itself, several as InputErrors; nothing if there are none."""
    if len(errors) == 1:
        raise errors[0]
    if errors:
        raise InputErrors(errors)
