"""The chat and designer pages: plain files in ``content_designer/static``, served by the API app.

Only files directly in that folder with a known type are served, with a Content-Security-Policy
that allows scripts and styles from the app itself only, so even markup that slipped past the
sanitizer could not run.

Example:
    >>> static_file("chat.html")[1]
    'text/html; charset=utf-8'
    >>> static_file("../api.py") is None
    True
"""

from __future__ import annotations

from importlib import resources

#: Paths of the pages and the file each shows.
PAGES = {"/": "chat.html", "/chat": "chat.html", "/designer": "designer.html"}
STATIC_TYPES = {".html": "text/html; charset=utf-8", ".css": "text/css; charset=utf-8",
                ".js": "text/javascript; charset=utf-8", ".svg": "image/svg+xml"}
_CSP = ("default-src 'self'; img-src 'self' https: data:; style-src 'self'; script-src 'self'; "
        # The Lex transport (AWS) talks to Cognito and the Lex runtime from the page.
        "connect-src 'self' https://*.amazonaws.com https://*.amazoncognito.com; "
        "object-src 'none'; frame-src https:; base-uri 'none'; ")
SECURITY_HEADERS = {
    "Content-Security-Policy": _CSP + "frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
#: The chat page may be embedded in any site (static/embed.js); the designer never.
EMBEDDABLE_HEADERS = {**SECURITY_HEADERS, "Content-Security-Policy": _CSP + "frame-ancestors *"}


def static_file(name: str) -> tuple[str, str] | None:
    """The text and content type of ``static/<name>``; None for anything else."""
    if not name or "/" in name or "\\" in name or name.startswith("."):
        return None
    suffix = name[name.rfind("."):] if "." in name else ""
    if suffix not in STATIC_TYPES:
        return None
    resource = resources.files("content_designer").joinpath("static", name)
    if not resource.is_file():
        return None
    return resource.read_text("utf-8"), STATIC_TYPES[suffix]
