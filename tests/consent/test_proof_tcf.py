"""TC and GPP strings in the proof: the bundle holds each as the receipt keeps it, the
rendered CSV and Kantara receipts show them, and the offline verifier decodes every TC
string again and names a receipt whose string disagrees with what it records (a server
that wrote one consent in the receipt and signalled another), even when its seal is sound."""
from __future__ import annotations

import csv
import json

import pytest

from consent_logs.bundle import verify_bundle
from consent_logs.renderings import render_bundle
from consent_logs.seals import VerificationError
from cmp_server.consent.receipts import append_to_chain, record_consent
from cmp_server.consent.sealing import seal_now
from tests.consent.test_tcf_choice import tc


def export(runner, site, tmp_path):
    out = tmp_path / "proof.zip"
    result = runner.invoke(args=["cmp", "export", "--site", site.key, "--from", "2000-01-01",
                                 "--to", "2100-01-01", "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out


def consent(site, version, string: str) -> dict:
    return record_consent({"site": site.key, "config_version": version.number, "action": "custom",
                           "language": "sv", "purposes": {"marketing": False},
                           "tcf": {"tc_string": string, "ac_string": "2~~dv.89"}},
                          None, "https://shop.example").receipt


def test_the_bundle_keeps_the_strings_and_renders_them(runner, tcf_shop, tmp_path):
    site, version, gvl = tcf_shop
    string = tc(gvl, purposes_consent=[1], vendors_consent=[1])
    receipt = consent(site, version, string)
    seal_now(batch_size=1000)
    bundle = export(runner, site, tmp_path)
    assert verify_bundle(str(bundle)).records == 1
    render_bundle(str(bundle), str(tmp_path / "out"))
    with open(tmp_path / "out" / "records.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert rows[0]["tc_string"] == string and rows[0]["ac_string"] == "2~~dv.89"
    kantara = json.loads((tmp_path / "out" / "kantara.jsonl").read_text().splitlines()[0])
    assert kantara["iso27560"]["iabTcf"] == receipt["tcf"]


def test_the_verifier_names_a_receipt_whose_tc_string_disagrees(runner, tcf_shop, tmp_path):
    site, version, gvl = tcf_shop
    honest = consent(site, version, tc(gvl, purposes_consent=[1], vendors_consent=[1]))
    forged = {**honest, "receipt_id": "0c1f8d7e-2b9a-4c3e-9f1a-5d6e7f8a9b0c",
              "previous_receipt_id": None, "subject_id": "Qk9HVVMtU1VCSkVDVC0xMjM0",
              "tcf": {**honest["tcf"], "vendors_consent": [1, 2, 8]}}  # the string grants only 1
    append_to_chain(forged)
    seal_now(batch_size=1000)
    bundle = export(runner, site, tmp_path)
    with pytest.raises(VerificationError) as failed:
        verify_bundle(str(bundle))
    assert forged["receipt_id"] in failed.value.where
    assert "TC string disagrees" in failed.value.why and "vendors_consent" in failed.value.why
