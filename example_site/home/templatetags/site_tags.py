"""Template tags shared by every page of the example site."""

from django import template
from wagtail.models import Site

register = template.Library()


@register.simple_tag(takes_context=True)
def menu_pages(context):
    """The live pages under the site's home page that editors put in the menu."""
    site = Site.find_for_request(context["request"])
    if site is None:
        return []
    return site.root_page.get_children().live().in_menu()
