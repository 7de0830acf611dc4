import io
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")


class ChunkedBodies:
    """Gives Django the body of a `Transfer-Encoding: chunked` request.

    Django reads a body only up to CONTENT_LENGTH, which a chunked request
    has not got, so it saw an empty body (a 400 "field is required" for a
    valid sale). The server (gunicorn) de-chunks `wsgi.input`; this reads it,
    one byte past DATA_UPLOAD_MAX_MEMORY_SIZE at most, and sets the length,
    so an oversized chunked body is refused exactly as an oversized sized one.
    """

    def __init__(self, application):
        self.application = application

    def __call__(self, environ, start_response):
        if "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower() and not environ.get("CONTENT_LENGTH"):
            from django.conf import settings

            limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
            body = environ["wsgi.input"].read(-1 if limit is None else limit + 1)
            environ["wsgi.input"] = io.BytesIO(body)
            environ["CONTENT_LENGTH"] = str(len(body))
        return self.application(environ, start_response)


application = ChunkedBodies(get_wsgi_application())
