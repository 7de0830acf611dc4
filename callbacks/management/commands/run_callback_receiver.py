"""A local callback receiver: verifies each event's signature and prints it.

    python manage.py run_callback_receiver --port 8301 --secret <the secret from PUT /me/callback/>

Answers 200 to a correctly signed request, 400 otherwise (so the service retries).
"""

import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from django.core.management.base import BaseCommand

from callbacks.signatures import SIGNATURE_HEADER, verify_signature


class Command(BaseCommand):
    help = "Receives signed callbacks on a local port and prints the verified events."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, required=True)
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--secret", required=True, help="the 64-character secret from PUT /api/v1/me/callback/")

    def handle(self, *args, port, host, secret, **options):
        command = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                header = self.headers.get(SIGNATURE_HEADER, "")
                if verify_signature(secret=secret, header=header, body=body):
                    event = json.loads(body)
                    command.stdout.write(f"verified {event['type']} {event['id']}: {json.dumps(event['data'])}")
                    self.send_response(200)
                else:
                    command.stderr.write(f"REFUSED (bad or missing {SIGNATURE_HEADER}): {body[:200]!r}")
                    self.send_response(400)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format, *args):
                pass

        server = ThreadingHTTPServer((host, port), Handler)
        self.stdout.write(f"Receiving callbacks on http://{host}:{port}/ (Ctrl-C to stop)")
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()
