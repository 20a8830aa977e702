"""Each `flask --app cmp_server cmp ...` command, on both engines."""
from __future__ import annotations

from sqlalchemy import inspect

from cmp_server.platform.extensions import db
from cmp_server.models import AuditEvent, ConfigVersion, Site, User, Vendor
from cmp_server.accounts.users import check_password
from cmp_server.platform.settings import default_vendors_dir


def test_init_creates_the_schema_on_an_empty_database(empty_database_url, instance_path):
    from tests.conftest import make_app

    app = make_app(empty_database_url, instance_path)
    result = app.test_cli_runner().invoke(args=["cmp", "init"])
    assert result.exit_code == 0, result.output
    assert "schema up to date" in result.output
    with app.app_context():
        assert "sites" in inspect(db.engine).get_table_names()
        # running it again is harmless
        assert app.test_cli_runner().invoke(args=["cmp", "init"]).exit_code == 0
        db.engine.dispose()


def test_import_vendors_reports_then_is_idempotent(runner):
    first = runner.invoke(args=["cmp", "import-vendors"])
    assert first.exit_code == 0, first.output
    assert "added    vendor mixpanel" in first.output
    vendors = db.session.query(Vendor).count()
    assert first.output.strip().splitlines()[-1] == (
        f"{vendors + 4} added, 0 changed, 0 unchanged, 0 file(s) refused"
    )
    second = runner.invoke(args=["cmp", "import-vendors"])
    assert second.output.strip().splitlines() == [
        f"0 added, 0 changed, {vendors + 4} unchanged, 0 file(s) refused"
    ]


def test_import_vendors_reports_changes_and_refusals(runner, tmp_path):
    import shutil

    from cmp_server.platform.settings import default_vendors_dir

    copy = tmp_path / "vendors"
    shutil.copytree(default_vendors_dir(), copy)
    runner.invoke(args=["cmp", "import-vendors", "--dir", str(copy)])
    mixpanel = copy / "mixpanel.toml"
    mixpanel.write_text(mixpanel.read_text().replace('name = "Mixpanel"', 'name = "Mixpanel Inc"', 1))
    hubspot = copy / "hubspot.toml"
    hubspot.write_text(hubspot.read_text().replace('legal_basis = "consent"', 'legal_basis = "maybe"', 1))
    result = runner.invoke(args=["cmp", "import-vendors", "--dir", str(copy)])
    assert result.exit_code == 1
    assert "changed  vendor mixpanel" in result.output
    assert "refused  hubspot.toml: legal_basis: Must be one of" in result.output
    summary = result.output.strip().splitlines()[-1]
    assert summary.startswith("0 added, 1 changed, ") and summary.endswith(", 1 file(s) refused")
    db.session.expire_all()
    assert db.session.get(Vendor, "mixpanel").name == "Mixpanel Inc"
    # the refused file changed nothing: HubSpot keeps its previous, valid entry
    assert db.session.get(Vendor, "hubspot").legal_basis == "consent"
    event = db.session.query(AuditEvent).filter_by(action="vendor.import", entity_id="mixpanel")
    assert [e.after["name"] for e in event.order_by(AuditEvent.id)] == ["Mixpanel", "Mixpanel Inc"]


def test_create_site_prints_the_key_on_its_last_line(runner):
    result = runner.invoke(args=[
        "cmp", "create-site", "--name", "Shop", "--origin", "https://shop.example",
        "--consent-months", "13",
    ])
    assert result.exit_code == 0, result.output
    key = result.output.strip().splitlines()[-1]
    site = db.session.query(Site).filter_by(key=key).one()
    assert (site.name, site.origin_list, site.consent_lifetime_months) == (
        "Shop", ["https://shop.example"], 13
    )


def test_create_site_refuses_bad_input_and_stores_nothing(runner):
    result = runner.invoke(args=[
        "cmp", "create-site", "--name", "Shop", "--origin", "shop.example", "--consent-months", "24",
    ])
    assert result.exit_code == 2
    assert "origins[0]: 'shop.example': scheme must be http or https" in result.output
    assert "consent_lifetime_months: must be between 1 and 13 months" in result.output
    assert db.session.query(Site).count() == 0


def test_create_user_reads_the_password_from_stdin(runner):
    result = runner.invoke(
        args=["cmp", "create-user", "--email", "co@shop.example", "--role", "compliance",
              "--password-stdin"],
        input="a long enough password\n",
    )
    assert result.exit_code == 0, result.output
    user = db.session.query(User).filter_by(email="co@shop.example").one()
    assert user.role_in(1) == "compliance" and check_password(user, "a long enough password")


def test_create_user_asks_twice_at_the_prompt(runner):
    result = runner.invoke(
        args=["cmp", "create-user", "--email", "m@shop.example", "--role", "marketer"],
        input="prompted password 1\nprompted password 1\n",
    )
    assert result.exit_code == 0, result.output
    assert "created m@shop.example (marketer in Default) active" in result.output


def test_create_user_refuses_a_short_password(runner):
    result = runner.invoke(
        args=["cmp", "create-user", "--email", "m@shop.example", "--role", "marketer",
              "--password-stdin"],
        input="short\n",
    )
    assert result.exit_code == 2
    assert "password: must be 12 to 1024 characters long" in result.output
    assert db.session.query(User).count() == 0


def test_demo_creates_then_reuses_the_demo_site(runner, catalogue, instance_path):
    first = runner.invoke(args=["cmp", "demo", "--port", "5123"])
    assert first.exit_code == 0, first.output
    key = first.output.strip().splitlines()[-1]
    site = db.session.query(Site).filter_by(key=key).one()
    assert site.origin_list == ["http://127.0.0.1:5123", "http://localhost:5123"]
    password = (instance_path / "demo_admin_password").read_text().strip()
    assert f"admin:      admin@demo.example / {password}" in first.output
    assert "demo page:  http://127.0.0.1:5123/demo/" in first.output

    second = runner.invoke(args=["cmp", "demo", "--port", "5123"])
    assert second.output.strip().splitlines()[-1] == key
    assert db.session.query(ConfigVersion).count() == 1
    assert db.session.query(Site).count() == 1
    assert f"admin@demo.example / {password}" in second.output


def test_demo_without_the_catalogue_says_what_to_run(runner):
    result = runner.invoke(args=["cmp", "demo"])
    assert result.exit_code == 2
    assert "import-vendors" in result.output
    assert db.session.query(Site).count() == 0


def test_check_vendors_validates_a_catalogue_without_the_database(runner, tmp_path):
    shipped = runner.invoke(args=["cmp", "check-vendors"])
    assert shipped.exit_code == 0, shipped.output
    assert "0 file(s) refused" in shipped.output
    (tmp_path / "purposes.toml").write_text((default_vendors_dir() / "purposes.toml").read_text())
    (tmp_path / "broken.toml").write_text('id = "broken"\nname = "Broken"\n')
    broken = runner.invoke(args=["cmp", "check-vendors", "--dir", str(tmp_path)])
    assert broken.exit_code == 1 and "refused  broken.toml" in broken.output
    assert db.session.query(Vendor).count() == 0
