"""Callbacks never reach private or local addresses unless CALLBACK_ALLOW_PRIVATE says so."""

import pytest

from app.channels import callbacks
from app.core.errors import ValidationError
from tests.support.callbacks import event_of, place
from tests.support.channels import reseller_of


@pytest.fixture
def strict(app):
    app.config["CALLBACK_ALLOW_PRIVATE"] = False
    yield
    app.config["CALLBACK_ALLOW_PRIVATE"] = True


@pytest.mark.parametrize("url", ["http://127.0.0.1:8080/cb", "http://localhost/cb", "http://10.1.2.3/cb",
                                 "http://169.254.169.254/latest/meta-data", "http://[::1]/cb",
                                 "http://192.168.0.10/cb", "http://shop.localhost/cb"])
def test_a_private_notify_url_is_refused_when_saved(ctx, strict, make_reseller, stocked, url):  # noqa: F811
    info = make_reseller()
    with pytest.raises(ValidationError):
        place(info, stocked(), notify_url=url)
    with pytest.raises(ValidationError):
        callbacks.set_notify_url(reseller_of(info), url, None)


def test_a_name_that_resolves_to_a_private_address_is_not_posted(app, ctx, make_reseller, stocked,  # noqa: F811
                                                                 receiver):  # noqa: F811
    info = make_reseller()
    # Saved while allowed (or resolving elsewhere); sent after the rule applies: refused at send time.
    order = place(info, stocked(), notify_url=receiver.url.replace("127.0.0.1", "localtest.invalid") + "/cb")
    event = event_of(order.id)
    app.config["CALLBACK_ALLOW_PRIVATE"] = False
    try:
        event.url = receiver.url + "/cb"  # 127.0.0.1, as a DNS name pointing inside would resolve
        from app.extensions import db

        db.session.commit()
        assert callbacks.send(event.id) == "retry"
    finally:
        app.config["CALLBACK_ALLOW_PRIVATE"] = True
    assert receiver.requests == []
    assert "private or local" in callbacks.attempts_of(event_of(order.id))[0].error
