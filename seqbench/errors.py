"""``UserError``: the base of every error that reports a user's mistake.

Each wing derives its own (``architectures.ConfigError``, ``tasks.TaskConfigError``,
``bench.sweep.SweepConfigError``, ``bench.store.StoreError`` …) so that messages can say
where the mistake is; the CLI catches this one base and prints the message as one line
with exit status 2, never a traceback. Anything else that escapes is a bug.
"""


class UserError(ValueError):
    """A mistake the user can fix: the message is one line naming the value and the rule."""
