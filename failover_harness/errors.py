"""Errors the CLI maps to exit statuses (0 met, 1 expectation failed, 2 bad input, 3 infrastructure,
4 inconclusive: no expectation failed, but the data could not decide one)."""

from __future__ import annotations

from collections.abc import Iterator

EXIT_OK = 0
EXIT_EXPECTATION_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_INFRASTRUCTURE = 3
EXIT_INCONCLUSIVE = 4


class HarnessError(Exception):
    """Base of every error the harness raises on purpose; carries its exit status."""

    exit_code = EXIT_INFRASTRUCTURE


class InputError(HarnessError):
    """A file the user gave is wrong. The message names file, line and field."""

    exit_code = EXIT_BAD_INPUT

    def __init__(self, message: str, *, file: str | None = None, line: int | None = None,
                 field: str | None = None) -> None:
        self.file, self.line, self.field = file, line, field
        where = ":".join(str(p) for p in (file, line) if p is not None)
        parts = [p for p in (where, f"field '{field}'" if field else None) if p]
        super().__init__(f"{': '.join(parts)}: {message}" if parts else message)


class InfrastructureError(HarnessError):
    """A device, the Azure API or the lab could not do what was asked."""

    exit_code = EXIT_INFRASTRUCTURE


class LabError(InfrastructureError):
    """The lab cannot come up or go down; the message says what to do."""


class DeviceError(InfrastructureError):
    """A device refused a login or a command."""


class SafetyGateError(HarnessError):
    """The pre-fault gate failed: no fault was injected."""

    exit_code = EXIT_INFRASTRUCTURE


def exception_chain(exc: BaseException) -> Iterator[BaseException]:
    """exc and its causes/contexts, outermost first (libraries wrap the error that matters)."""
    seen: list[BaseException] = []
    cur: BaseException | None = exc
    while cur is not None and cur not in seen:
        seen.append(cur)
        yield cur
        cur = cur.__cause__ or cur.__context__
