"""The StreamField blocks editors can use in page bodies.

``BodyBlock`` is the single list of them: a feature that ships a block (e.g. onesend's
"Subscribe on Messenger" button) adds one line here and every page body offers it.
"""

from wagtail import blocks
from wagtail.images.blocks import ImageBlock

from onesend_plugin.blocks import SubscribeBlock


class BodyBlock(blocks.StreamBlock):
    heading = blocks.CharBlock(form_classname="title", icon="title", template="blocks/heading.html")
    paragraph = blocks.RichTextBlock(icon="pilcrow")
    image = ImageBlock(template="blocks/image.html")
    subscribe = SubscribeBlock()
