"""hanoi for Python apps, on top of redis-py and the hanoi Redis module.

Each check is one round trip (HANOI.ENABLED); a page's flags are one round trip
too (HANOI.MENABLED). The decorators are hanoi 0.0.4's `@check`:

    flags = Hanoi(redis.Redis())

    @flags.check("cdc_on", 1)          # argument 1 (1-based) is the user
    def execute_cdc_logic(user): ...

    @flags.check("cdc_on")             # the current user, from a context variable
    def execute_again(): ...

    with flags.user("443301"):
        execute_again()

A call whose feature is off raises FeatureNotEnabled instead of running.
"""
import contextlib
import contextvars
import functools

current_user = contextvars.ContextVar("hanoi_current_user", default=None)


class FeatureNotEnabled(Exception):
    """The feature is off for this user (or switched off, or not defined)."""

    def __init__(self, flag, user):
        self.flag, self.user = flag, user
        who = f" for user {user!r}" if user is not None else ""
        super().__init__(f"feature {flag!r} is not enabled{who}")


def _text(v):
    return v.decode() if isinstance(v, bytes) else v


class Hanoi:
    def __init__(self, redis_client):
        self.redis = redis_client

    def is_enabled(self, flag, user=None):
        """Is `flag` on for `user`? Without a user, the flag's switch alone."""
        args = (flag,) if user is None else (flag, str(user))
        return self.redis.execute_command("HANOI.ENABLED", *args) == 1

    def variant(self, flag, user):
        """The experiment variant for `user`, or None."""
        return _text(self.redis.execute_command("HANOI.VARIANT", flag, str(user)))

    def enabled_many(self, user, *flags):
        """{flag: bool} for many flags in one round trip."""
        answers = self.redis.execute_command("HANOI.MENABLED", str(user), *flags)
        return {f: a == 1 for f, a in zip(flags, answers)}

    @contextlib.contextmanager
    def user(self, user):
        """Sets the current user for `@check(flag)` within the block."""
        token = current_user.set(user)
        try:
            yield
        finally:
            current_user.reset(token)

    def check(self, flag, index=None):
        """Runs the function only when `flag` is on for the user: argument
        `index` (1-based, as in hanoi), or the current user when None."""

        def decorator(fn):
            @functools.wraps(fn)
            def wrapper(*args, **kwargs):
                if index is not None:
                    user = args[index - 1]
                else:
                    user = current_user.get()
                    if user is None:
                        raise FeatureNotEnabled(flag, None) from LookupError(
                            "no current user: use `with flags.user(...)` or pass an index")
                if not self.is_enabled(flag, user):
                    raise FeatureNotEnabled(flag, user)
                return fn(*args, **kwargs)

            return wrapper

        return decorator
