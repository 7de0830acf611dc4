"""The settlement worker: procrastinate's worker on the `settlement` queue,
running the daily settlement job (settlement/tasks.py) after each business
day closes. One is enough (`make run` starts one); SIGTERM or Ctrl-C lets a
running settlement finish."""

from django.core.management.base import BaseCommand

from callbacks.jobs import run_worker
from settlement.tasks import QUEUE


class Command(BaseCommand):
    help = "Settles each closed business day against the operators' statements, once a day."

    def handle(self, *args, **options):
        self.stdout.write("Settling each closed day against the operators' statements")
        self.stdout.flush()
        run_worker(QUEUE)
