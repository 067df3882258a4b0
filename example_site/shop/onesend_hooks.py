"""The shop's onesend plugin (registered in settings: ``ONESEND["PLUGINS"]``).

* ``customer_ref_for_request`` tells subscribe buttons who the visitor is: the button's link
  carries the shop's customer reference, signed, so whoever subscribes through it is linked to
  that customer (their orders are attributed, and store events reach them through flows).
"""

from onesend_plugin.hooks import hookimpl

from .views import customer_ref


@hookimpl
def customer_ref_for_request(request):
    return customer_ref(request)
