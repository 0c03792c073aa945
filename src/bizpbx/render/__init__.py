"""The renderer: a site's FreeSWITCH 1.10 configuration tree from the Jinja2
templates beside it (`renderer`), written out atomically (`file_tree`), and
the event socket configuration the running switch loaded, kept for `bizpbx
reload` (`loaded_event_socket`), and what a re-rendered sofia.conf.xml asks of
the running SIP profiles (`sofia_changes`)."""

from bizpbx.render.renderer import TEMPLATES_DIR, RenderError, mask_secrets, render_site, secret_values, xml_value

__all__ = ["TEMPLATES_DIR", "RenderError", "mask_secrets", "render_site", "secret_values", "xml_value"]
