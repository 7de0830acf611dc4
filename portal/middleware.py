from django.middleware.locale import LocaleMiddleware
from django.utils import translation

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
