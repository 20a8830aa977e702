"""The demo page and its stand-in tags, through the real app."""
from __future__ import annotations

import pytest

from cmp_server.demo import default_origins, ensure_demo


def test_without_a_demo_site_the_page_says_what_to_run(client):
    response = client.get("/demo/")
    assert response.status_code == 404
    assert "flask --app cmp_server cmp demo" in response.json["message"]


@pytest.fixture
def demo(app, catalogue, instance_path):
    return ensure_demo(default_origins(5000), str(instance_path))


def test_the_demo_page_embeds_the_banner_and_holds_tags_back(client, demo):
    html = client.get("/demo/").get_data(as_text=True)
    assert f'<script src="http://localhost/banner/cmp.js" data-site="{demo.site.key}" async>' in html
    assert '<script type="text/plain" data-cmp-vendor="mixpanel" src="/demo/tags/mixpanel.js">' in html
    # strictly necessary vendors are not gated
    assert 'data-cmp-vendor="craft-cms"' not in html
    assert "data-cmp-open" in html


def test_the_demo_page_speaks_the_browsers_language(client, demo):
    """The page's lang (which the banner follows) is the visitor's, as a real site's would
    be; else the site's default."""
    german = client.get("/demo/", headers={"Accept-Language": "de-DE,de;q=0.9,en;q=0.5"})
    assert '<html lang="de">' in german.get_data(as_text=True)
    assert "Accept-Language" in german.headers["Vary"]
    klingon = client.get("/demo/", headers={"Accept-Language": "tlh"}).get_data(as_text=True)
    assert f'<html lang="{demo.site.default_language}">' in klingon


def test_a_stand_in_tag_reports_its_vendor(client, demo):
    response = client.get("/demo/tags/mixpanel.js")
    assert response.mimetype == "text/javascript"
    assert '"Mixpanel" + " tag ran"' in response.get_data(as_text=True)
    assert client.get("/demo/tags/hotjar.js").status_code == 404


def test_the_tcf_demo_publishes_a_tcf_site_without_network(app, catalogue, runner, client):
    """`cmp demo --tcf`: the demo's own small GVL (no GVL stored yet), four of its partners,
    a placeholder CMP id while CMP_TCF_CMP_ID is unset; the same site on a second run."""
    from cmp_server.models import GlobalVendorList, Site
    from cmp_server.platform.extensions import db
    from cmp_server.sites import versions

    first = runner.invoke(args=["cmp", "demo", "--tcf", "--port", "5001"])
    assert first.exit_code == 0, first.output
    lines = first.output.strip().splitlines()
    assert "a placeholder: register your CMP with IAB Europe and set CMP_TCF_CMP_ID" in first.output
    assert "http://127.0.0.1:5001/demo/tcf/" in first.output
    site = db.session.execute(db.select(Site).filter_by(key=lines[-1])).scalar_one()
    content = versions.latest_version(site).content
    assert content["tcf"]["cmp_id"] == 4095
    assert sorted(map(int, content["tcf"]["gvl"]["vendors"])) == [65001, 65002, 65003, 65004]
    assert db.session.execute(db.select(db.func.count()).select_from(GlobalVendorList)).scalar_one() == 1
    page = client.get("/demo/tcf/").get_data(as_text=True)
    assert 'src="http://localhost/banner/tcf-stub.js"' in page
    assert f'data-site="{site.key}"' in page

    app.config["CMP_TCF_CMP_ID"] = 321  # registered since: the next run publishes under it
    second = runner.invoke(args=["cmp", "demo", "--tcf", "--port", "5001"])
    assert second.exit_code == 0, second.output
    assert second.output.strip().splitlines()[-1] == site.key
    assert "placeholder" not in second.output
    assert versions.latest_version(site).content["tcf"]["cmp_id"] == 321


def test_the_tcf_demo_page_says_what_to_run_before(client):
    response = client.get("/demo/tcf/")
    assert response.status_code == 404
    assert "cmp demo --tcf" in response.json["message"]
