"""Files in the instance folder are its owner's only: the database (and SQLite's -wal and
-shm files), the keys, the secrets and the rate-limit table; the folder itself 0700."""
from __future__ import annotations

import stat

from flask_migrate import upgrade

from cmp_server.platform.extensions import db
from tests.conftest import SHOP, make_app


def mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_everything_the_server_writes_in_its_instance_folder_is_private(tmp_path):
    from cmp_server.consent import sealing
    from cmp_server.sites import versions
    from cmp_server.consent.receipts import record_consent
    from cmp_server.sites.registry import create_site

    instance = tmp_path / "instance"
    instance.mkdir(mode=0o755)
    app = make_app(f"sqlite:///{instance / 'cmp.sqlite3'}", instance,
                   CMP_RATE_LIMIT_PER_MINUTE=120)
    with app.app_context():
        upgrade()
        from cmp_server.sites.vendors import import_catalogue
        from cmp_server.platform.settings import default_vendors_dir

        import_catalogue(default_vendors_dir(), "test")
        site = create_site(SHOP)
        versions.set_draft_vendors(site, [("mixpanel", None)])
        versions.publish(site)
        record_consent({"site": site.key, "config_version": 1, "action": "accept_all",
                        "language": "en"}, None, "https://shop.example")
        sealing.seal_now(batch_size=10)
        app.test_client().post("/api/v1/consents", json={}, headers={"Origin": "https://x"})
        written = sorted(p.name for p in instance.iterdir())
        assert {"cmp.sqlite3", "cmp.sqlite3-wal", "cmp.sqlite3-shm"} <= set(written)
        assert mode(instance) == 0o700
        assert {name: mode(instance / name) for name in written} == {name: 0o600 for name in written}
        db.session.remove()
        db.engine.dispose()
