"""Error types. Each carries the exit code the CLI ends with; only the CLI entry point catches them.

Messages are one line: what is wrong (naming the bad value) and what to do about it.
"""

from __future__ import annotations


class CvCudaSetupError(Exception):
    """Base class: ``str(err)`` is the one-line message, ``return_code`` the process exit code."""

    return_code: int = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message} ({self.hint})"


class UsageError(CvCudaSetupError):
    """Bad input on the command line: a malformed value, an unknown name, a conflicting flag."""

    return_code = 2


class RecipeError(UsageError):
    """A recipe file is malformed, unknown, has an unknown key or a value of the wrong type."""


class ArchError(UsageError):
    """A CUDA architecture value is malformed, unsupported by nvcc, or cannot be detected."""


class SourceError(UsageError):
    """A source cannot be fetched, fails its checksum, or is an unsafe archive."""


class ToolchainError(CvCudaSetupError):
    """A required tool (nvcc, cmake, ninja, a compiler) is missing or unusable."""

    return_code = 2


class BuildError(CvCudaSetupError):
    """Configure, build or install of OpenCV (or the plugin) failed."""

    return_code = 1


class InstallError(CvCudaSetupError):
    """The prefix cannot be installed into (not empty and not ours, locked, ...)."""

    return_code = 2


class NoGpuError(CvCudaSetupError):
    """A command needs a CUDA device and none is visible."""

    return_code = 2
