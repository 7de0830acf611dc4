from django.db import models


class AuthFailureWindow(models.Model):
    """Failed authentications of one client address in one fixed window
    (config.throttling), when no REDIS_URL is set.

    One `INSERT ... ON CONFLICT DO UPDATE ... RETURNING` counts a failure
    atomically, whatever the number of processes; a row is deleted only
    after its window has ended, never to make room.
    """

    address = models.CharField(max_length=64)
    window_ends = models.BigIntegerField(help_text="Unix seconds at which the window ends.")
    failures = models.IntegerField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["address", "window_ends"], name="auth_failure_window_unique")]
        indexes = [models.Index(fields=["window_ends"], name="auth_failure_window_ends")]

    def __str__(self) -> str:
        return f"{self.address} until {self.window_ends}: {self.failures}"
