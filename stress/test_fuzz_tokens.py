"""Hostile input: the receipt token verifier, fuzzed with hypothesis. Whatever it is given
(arbitrary text and bytes, or a real token bit-flipped, truncated, extended, concatenated
or re-signed with a foreign key) it answers invalid with a reason and never raises."""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from cmp_server.consent.receipts import TOKEN_SALT, TokenSerializer, record_consent, verify_token

pytestmark = pytest.mark.stress
BASE64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
FOREIGN_KEYS = ["somebody-elses-key", "", "test-signing-key-0123456789abcdeF"]


@pytest.fixture
def engine_name() -> str:
    """The verifier reads one ledger row: SQLite is enough (the engines are tested in tests/)."""
    return "sqlite"


@pytest.fixture
def tokens(shop) -> list[str]:
    site, version = shop
    return [record_consent({"site": site.key, "config_version": version.number,
                            "action": action, "language": "sv"}, None, "https://shop.example").token
            for action in ("accept_all", "reject_all")]


def fuzz_settings(profile):
    return settings(max_examples=profile.fuzz_examples, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow])


def assert_refused(token: str) -> None:
    answer = verify_token(token)
    assert answer["valid"] is False, token
    assert isinstance(answer["reason"], str) and answer["reason"], token


def flip_bit(token: str, position: int, bit: int) -> str:
    index = position % len(token)
    return token[:index] + chr(ord(token[index]) ^ (1 << bit)) + token[index + 1:]


def resign(token: str, key: str, claims_change: dict) -> str:
    """The token's claims, changed or not, signed with a key this server does not hold."""
    claims = TokenSerializer(key or "x", salt=TOKEN_SALT).loads_unsafe(token)[1]
    foreign = TokenSerializer([key], salt=TOKEN_SALT, serializer_kwargs={"separators": (",", ":")})
    return foreign.dumps({**claims, **claims_change})


MUTATIONS = {
    "bit flip": lambda t, d: flip_bit(t, d.draw(st.integers(0, 10**6)), d.draw(st.integers(0, 6))),
    "truncation": lambda t, d: t[:d.draw(st.integers(0, len(t) - 1))],
    "extension": lambda t, d: t + d.draw(st.text(min_size=1, max_size=20)),
    "prefix": lambda t, d: d.draw(st.text(min_size=1, max_size=20)) + t,
    "concatenation": lambda t, d: t + d.draw(st.sampled_from(["", ".", "\n"])) + t,
    "re-signed": lambda t, d: resign(t, d.draw(st.sampled_from(FOREIGN_KEYS)), d.draw(
        st.sampled_from([{}, {"st": "given"}, {"e": 2**40}, {"r": "x"}]))),
    "segment swap": lambda t, d: ".".join(reversed(t.rsplit(".", 1))),
    # the last character of each base64 segment also carries unused padding bits
    "last character": lambda t, d: t[:-1] + d.draw(st.sampled_from(BASE64URL)),
}


def test_arbitrary_text_and_bytes_are_refused_with_a_reason(app, tokens, profile, figures):
    seen = []

    @fuzz_settings(profile)
    @given(st.one_of(st.text(), st.binary().map(lambda b: b.decode("latin-1")),
                     st.text(alphabet=BASE64URL + ".", max_size=300)))
    def check(token):
        seen.append(token)
        if token not in tokens:
            assert_refused(token)

    check()
    figures.add("hostile input", "token verifier fuzz: arbitrary text and bytes",
                f"{len(seen)} examples, 0 crashes, 0 accepted")


def test_mutated_tokens_are_never_valid(app, tokens, profile, figures):
    seen: dict[str, int] = {}

    @fuzz_settings(profile)
    @given(st.sampled_from(tokens), st.sampled_from(sorted(MUTATIONS)), st.data())
    def check(token, mutation, data):
        mutated = MUTATIONS[mutation](token, data)
        seen[mutation] = seen.get(mutation, 0) + 1
        if mutated not in tokens:
            assert_refused(mutated)

    for token in tokens:
        assert verify_token(token)["valid"] is True
    check()
    kinds = ", ".join(sorted(seen))
    figures.add("hostile input", "token verifier fuzz: mutated real tokens",
                f"{sum(seen.values())} examples ({kinds}), 0 crashes, 0 accepted")
