"""The one exception type for user mistakes: the CLI prints it as one line and exits 2."""


class UserError(Exception):
    """A mistake the user can fix (bad file, bad config, unknown model); never a bug."""

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\n  hint: {self.hint}"
