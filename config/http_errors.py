"""The contract's JSON error body for the errors gunicorn answers itself.

A request gunicorn cannot parse or refuses by its limits (a request line
longer than `limit_request_line`, a header field longer than
`limit_request_field_size`, more than `limit_request_fields` headers, a
malformed request line or chunk) never reaches Django. gunicorn writes those
answers with `gunicorn.util.write_error`, as an HTML page; this replaces that
function, in the master before it forks, with one that writes
`{"error": {"code", "message"}}`. The path is not known yet at that point
(often it could not even be read), so the admin gets JSON for these too.
What remains outside the service's control: a client that closes the
connection, and errors of a proxy in front of it.
"""

import json

import gunicorn.util

_CODES = {
    400: "validation_error",
    403: "permission_denied",
    414: "uri_too_long",
    417: "expectation_failed",
    431: "request_header_fields_too_large",
    501: "not_implemented",
}


def write_json_error(sock, status_int: int, reason: str, mesg: str) -> None:
    message = f"{reason}: {mesg}" if mesg else reason
    body = json.dumps({"error": {"code": _CODES.get(status_int, "internal_error"), "message": message}})
    response = (
        f"HTTP/1.1 {status_int} {reason}\r\n"
        "Connection: close\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body.encode())}\r\n"
        "\r\n"
        f"{body}"
    )
    gunicorn.util.write_nonblock(sock, response.encode())


def answer_server_errors_in_json() -> None:
    gunicorn.util.write_error = write_json_error
