"""A headless Chromium per test module against pytest-django's live server;
skipped, with the reason shown in the summary, where there is no browser."""

import pytest

from tests.system.browser import chromium


@pytest.fixture(scope="module")
def browser_downloads():
    directory = chromium.ARTIFACTS / "downloads"
    chromium.clear_directory(directory)
    return directory


@pytest.fixture(scope="module")
def browser(browser_downloads):
    reason = chromium.missing_browser()
    if reason:
        pytest.skip(reason)
    driver = chromium.start_chromium(browser_downloads)
    yield driver
    driver.quit()


@pytest.fixture(autouse=True)
def fresh_browser_session(request):
    """Each test starts logged out, in English."""
    yield
    if "browser" in request.fixturenames:
        request.getfixturevalue("browser").delete_all_cookies()
