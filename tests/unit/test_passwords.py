"""Password hashing cost comes from config: production keeps argon2id's RFC 9106 profile, the suite hashes
cheaply, and a hash made with either verifies under the other."""

import argon2
import pytest
from argon2 import PasswordHasher, extract_parameters, profiles

from app.accounts import services as accounts
from app.accounts.models import User
from app.config import Config, TestConfig
from app.extensions import db

PRODUCTION = profiles.RFC_9106_LOW_MEMORY


def cost(password_hash: str) -> dict:
    params = extract_parameters(password_hash)
    return {"time_cost": params.time_cost, "memory_cost": params.memory_cost, "parallelism": params.parallelism}


def test_production_config_keeps_argon2s_own_parameters():
    assert Config.PASSWORD_HASH == {"time_cost": PRODUCTION.time_cost, "memory_cost": PRODUCTION.memory_cost,
                                    "parallelism": PRODUCTION.parallelism}
    assert Config.PASSWORD_HASH == {"time_cost": argon2.DEFAULT_TIME_COST, "memory_cost": argon2.DEFAULT_MEMORY_COST,
                                    "parallelism": argon2.DEFAULT_PARALLELISM}
    assert TestConfig.PASSWORD_HASH != Config.PASSWORD_HASH


def test_a_hash_made_under_the_production_config_has_its_parameters(ctx, monkeypatch):
    monkeypatch.setitem(ctx.config, "PASSWORD_HASH", Config.PASSWORD_HASH)
    made = accounts.hash_password("secret-pass-1")
    assert made.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert extract_parameters(made) == PRODUCTION
    assert PasswordHasher().verify(made, "secret-pass-1")


def test_the_suite_hashes_cheaply(ctx):
    made = accounts.hash_password("secret-pass-1")
    assert cost(made) == TestConfig.PASSWORD_HASH == {"time_cost": 1, "memory_cost": 8, "parallelism": 1}
    assert extract_parameters(made).type is argon2.Type.ID


@pytest.mark.parametrize("made_with", ["production", "cheap"])
def test_a_hash_of_either_cost_signs_in_and_ends_with_the_apps_cost(ctx, make_user, made_with):
    uid = make_user(email="hasher@t.example")
    user = db.session.get(User, uid)
    hasher = PasswordHasher.from_parameters(PRODUCTION) if made_with == "production" else PasswordHasher(**TestConfig.PASSWORD_HASH)
    user.password_hash = hasher.hash("secret-pass-1")
    db.session.commit()

    assert accounts.authenticate("hasher@t.example", "wrong-pass-1") is None
    assert accounts.authenticate("hasher@t.example", "secret-pass-1").id == uid
    assert cost(db.session.get(User, uid).password_hash) == TestConfig.PASSWORD_HASH


def test_an_unknown_login_is_refused(ctx):
    assert accounts.authenticate("nobody@t.example", "secret-pass-1") is None
