"""Signing in through HTTP as a person does: the password, then the second factor staff owe (the code from
their authenticator, or enrolling one the first time)."""

import re
import time

import pyotp

from tests.support.factories import TOTP_SECRET


def code_for(client, email: str, secret: str) -> str:
    """A code the server has not seen for this user yet: a code is accepted once (replay), so a second sign-in
    within the same 30 s types the next step's code (accepted one step ahead, for clock drift). The client
    (one per test) remembers the steps it used."""
    used = client.__dict__.setdefault("_totp_steps", {})
    step = max(int(time.time()) // 30, used.get(email, 0) + 1)
    used[email] = step
    return pyotp.TOTP(secret).at(step * 30)


def sign_in(client, email: str, password: str, secret: str = TOTP_SECRET):
    """POST the login form, then pass the second step if it is asked for. Returns the last response: the
    login's own when no second step came (a refusal, or a role without one), else the second step's."""
    resp = client.post("/login", data={"email": email, "password": password})
    step = resp.headers.get("Location", "") if resp.status_code == 303 else ""
    if step.startswith("/mfa/verify"):
        return client.post(step, data={"code": code_for(client, email, secret)})
    if step.startswith("/mfa/enrol"):
        page = client.get(step).get_data(as_text=True)
        new_secret = re.search(r'id="mfa-secret">([A-Z2-7]+)<', page).group(1)
        return client.post(step, data={"code": code_for(client, email, new_secret)})
    return resp
