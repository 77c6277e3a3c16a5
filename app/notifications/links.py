"""Links stored on notifications: relative URLs inside the app, built without a request."""

from flask import current_app


def link_to(endpoint: str, **values) -> str:
    """The relative URL of an endpoint without a request (jobs have none): what `url_for` gives in a view."""
    adapter = current_app.url_map.bind("", script_name=current_app.config.get("APPLICATION_ROOT") or "/")
    return adapter.build(endpoint, values)


def is_relative(url: str) -> bool:
    """A path on this site: never another origin (`//host`, `/\\host`), so following it cannot leave."""
    return url.startswith("/") and not url.startswith("//") and "\\" not in url
