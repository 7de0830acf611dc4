PASSWORD = "portal-pass-4821"


def with_password(user):
    """Sets the portal password the way staff do in the admin (a hashed password)."""
    user.set_password(PASSWORD)
    user.save(update_fields=["password"])
    return user
