"""Settings for `loadtests.bench` only: the project's settings, unchanged,
with a URLconf that adds the no-database endpoint the benchmark compares
against. Selected with DJANGO_SETTINGS_MODULE=loadtests.bench_settings."""

from config.settings import *  # noqa: F403

ROOT_URLCONF = "loadtests.bench_urls"
