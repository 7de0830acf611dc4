"""The admin pages for callbacks; `manage.py run_callback_receiver` receiving a
real delivery, and `manage.py deliver_callbacks` woken by a commit, each in its
own process."""

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from django.contrib.auth import get_user_model
from django.db import transaction
from django.test import Client

from callbacks.models import CallbackEvent
from callbacks.sender import deliver_due_events
from callbacks.services import record_event, set_callback_url
from tests.callbacks.receiver import Receiver
from tests.callbacks.test_delivery import RECHARGE
from tests.helpers.workers import current_database_url

RECEIVER_PORT = 8349


@pytest.fixture
def admin_client(db):
    client = Client()
    client.force_login(get_user_model().objects.create_superuser(username="boss", password="pw-for-tests-only"))
    return client


def test_admin_lists_endpoints_without_secrets_and_events_with_their_state(admin_client, make_seller):
    seller = make_seller()
    _, secret = set_callback_url(seller_id=seller.pk, url="http://127.0.0.1:8301/hook")
    record_event(seller_id=seller.pk, event_type="recharge.failed", data=RECHARGE)
    event = CallbackEvent.objects.get()

    endpoints = admin_client.get("/admin/callbacks/callbackendpoint/")
    endpoint = admin_client.get(f"/admin/callbacks/callbackendpoint/{seller.callback_endpoint.pk}/change/")
    for page in (endpoints, endpoint):
        assert page.status_code == 200
        assert b"http://127.0.0.1:8301/hook" in page.content
        assert secret.encode() not in page.content

    events = admin_client.get("/admin/callbacks/callbackevent/")
    assert events.status_code == 200
    assert str(event.pk).encode() in events.content and b"pending" in events.content
    assert admin_client.get(f"/admin/callbacks/callbackevent/{event.pk}/change/").status_code == 200
    assert admin_client.get("/admin/callbacks/callbackevent/?delivered_at__isnull=True").status_code == 200


@pytest.mark.django_db(transaction=True)
def test_the_receiver_command_verifies_and_prints_a_delivered_event(make_seller):
    seller = make_seller()
    url = f"http://127.0.0.1:{RECEIVER_PORT}/"
    _, secret = set_callback_url(seller_id=seller.pk, url=url)
    env = {**os.environ, "DATABASE_URL": current_database_url(), "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "manage.py", "run_callback_receiver", "--port", str(RECEIVER_PORT), "--secret", secret]
    receiver = subprocess.Popen(
        command,
        cwd=Path(__file__).resolve().parents[2],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert receiver.stdout.readline().startswith(f"Receiving callbacks on {url}")
        with transaction.atomic():
            record_event(seller_id=seller.pk, event_type="recharge.succeeded", data=RECHARGE)
        assert deliver_due_events() == 1
        event = CallbackEvent.objects.get()
        assert event.status == "delivered"
        assert receiver.stdout.readline().startswith(f"verified recharge.succeeded {event.pk}: ")

        forged = httpx.post(url, content=event.body, headers={"Recharge-Signature": "t=1,v1=" + "0" * 64})
        assert forged.status_code == 400
        assert "REFUSED" in receiver.stderr.readline()
    finally:
        receiver.terminate()
        receiver.wait(timeout=10)


@pytest.mark.django_db(transaction=True)
def test_the_delivery_command_sends_a_committed_event_within_five_seconds(make_seller):
    seller = make_seller()
    with Receiver() as receiver:
        set_callback_url(seller_id=seller.pk, url=receiver.url())
        env = {**os.environ, "DATABASE_URL": current_database_url(), "PYTHONUNBUFFERED": "1"}
        worker = subprocess.Popen(
            [sys.executable, "manage.py", "deliver_callbacks"],
            cwd=Path(__file__).resolve().parents[2], env=env, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            assert worker.stdout.readline().startswith("Delivering callbacks from the job queue")
            for _ in range(2):
                with transaction.atomic():
                    record_event(seller_id=seller.pk, event_type="recharge.succeeded", data=RECHARGE)
                committed = time.time()
                while len(receiver.received) < CallbackEvent.objects.count():
                    assert time.time() - committed < 5, "no attempt within 5 s of the commit"
                    assert worker.poll() is None
                    time.sleep(0.02)
        finally:
            worker.terminate()
            worker.wait(timeout=10)
    assert CallbackEvent.objects.filter(delivered_at__isnull=False).count() == 2
