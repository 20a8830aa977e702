"""IAB's own JavaScript libraries (@iabtcf/core, @iabgpp/cmpapi, from the banner's npm
packages) as the tests' ground truth for TC and GPP strings: tests/support/tcstring.mjs,
run with Node."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

SCRIPT = Path(__file__).with_name("tcstring.mjs")


def _run(request: dict[str, Any]) -> dict[str, Any]:
    done = subprocess.run(["node", str(SCRIPT)], input=json.dumps(request), text=True,
                          capture_output=True, timeout=60, check=False)
    if done.returncode:
        raise RuntimeError(f"tcstring.mjs failed: {done.stderr.strip()}")
    return json.loads(done.stdout)


def encode_tc(gvl: dict[str, Any], **fields: Any) -> str:
    """A TC string for GVL with FIELDS (cmp_id, cmp_version, purposes_consent, purposes_li,
    special_features, vendors_consent, vendors_li, disclosed=True), as IAB encodes it."""
    return _run({"encode": {"gvl": gvl, **fields}})["tc_string"]


def decode_tc(tc_string: str) -> dict[str, Any]:
    """What IAB's library reads in a TC string (the receipt's tcf field names)."""
    return _run({"decode": tc_string})


def decode_gpp(gpp_string: str) -> dict[str, Any]:
    """Each section of a GPP string and its fields, as IAB's library reads them."""
    return _run({"gpp_decode": gpp_string})


def encode_gpp(sections: dict[str, dict[str, Any]]) -> str:
    """A GPP string of SECTIONS ({"usca": {"SaleOptOut": 1}}), as IAB's library encodes it."""
    return _run({"gpp_encode": sections})["gpp_string"]
