"""The example site's URLs plus a bare Django view for ``bench/webhooks.py``: the yardstick of a
webhook POST's server cost is a view that does nothing but answer 200, through the same
middleware, server and workers, in the same run."""

from benchlib import BARE_PATH
from django.http import HttpResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from example_site.urls import urlpatterns as site_urlpatterns


@csrf_exempt
def bare(request) -> HttpResponse:
    """200, empty: nothing read, nothing stored."""
    return HttpResponse()


urlpatterns = [path(BARE_PATH.strip("/") + "/", bare), *site_urlpatterns]
