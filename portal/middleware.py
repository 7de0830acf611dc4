from django.middleware.locale import LocaleMiddleware
from django.utils import timezone, translation

from config.dates import business_time_zone

# The API and the health check keep the contract's English bodies whatever
# the client's Accept-Language: DRF ships Persian messages that the stock
# middleware would switch on.
UNTRANSLATED_PREFIXES = ("/api/", "/healthz")


class PageLocaleMiddleware(LocaleMiddleware):
    """Django's LocaleMiddleware (cookie set by the language switch, then
    Accept-Language) for the HTML pages: the portal, the admin, the landing."""

    def process_request(self, request):
        if request.path_info.startswith(UNTRANSLATED_PREFIXES):
            translation.activate("en")
            request.LANGUAGE_CODE = "en"
            return
        super().process_request(request)

    def process_response(self, request, response):
        if request.path_info.startswith(UNTRANSLATED_PREFIXES):
            return response
        return super().process_response(request, response)


class PageTimeZoneMiddleware:
    """The pages (portal, admin, dashboard) show times and count days in the
    business time zone: what Django itself renders or filters by the current
    zone (the admin's forms and date filters, {{ moment }} in a template) then
    reads Tehran time. The API and the health check keep UTC (settings.TIME_ZONE),
    as DRF writes its times in the current zone under the contract's "Z".
    Only while the view runs: a streamed body (CSV) is written after this
    returns, in UTC, and the thread serves its next request unchanged."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        page = not request.path_info.startswith(UNTRANSLATED_PREFIXES)
        with timezone.override(business_time_zone() if page else None):
            return self.get_response(request)
