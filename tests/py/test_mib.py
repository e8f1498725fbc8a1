"""LIFELINE-MIB is valid SMIv2 (smilint at level 3 says nothing) and net-snmp
resolves its names to the OIDs the agent serves."""
import os
import shutil
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MIBS = os.path.join(ROOT, "mibs")
PATH = f"{MIBS}:{MIBS}/ietf:/usr/share/snmp/mibs"


def test_smilint_level_3_is_silent():
    if not shutil.which("smilint"):
        pytest.skip("smilint is not installed")
    out = subprocess.run(["smilint", "-l", "3", os.path.join(MIBS, "LIFELINE-MIB.txt")],
                         env=dict(os.environ, SMIPATH=f"{MIBS}/ietf:/usr/share/snmp/mibs"),
                         capture_output=True, text=True)
    assert out.stdout + out.stderr == ""


@pytest.mark.parametrize("name, oid", [
    ("LIFELINE-MIB::llAppliance", ".1.3.6.1.4.1.8072.9999.9999.5433.3.1"),
    ("LIFELINE-MIB::llPortBaud", ".1.3.6.1.4.1.8072.9999.9999.5433.1.1.1.1.6"),
    ("LIFELINE-MIB::llSessionUser", ".1.3.6.1.4.1.8072.9999.9999.5433.1.1.2.1.2"),
    ("LIFELINE-MIB::llOutletControl", ".1.3.6.1.4.1.8072.9999.9999.5433.1.2.2.1.4"),
    ("LIFELINE-MIB::llUpsInputVoltage", ".1.3.6.1.4.1.8072.9999.9999.5433.1.2.3.1.6"),
    ("LIFELINE-MIB::llUplinkHealth", ".1.3.6.1.4.1.8072.9999.9999.5433.1.3.1.1.6"),
    ("LIFELINE-MIB::llTunnelUp", ".1.3.6.1.4.1.8072.9999.9999.5433.1.3.3"),
    ("LIFELINE-MIB::llRuleState", ".1.3.6.1.4.1.8072.9999.9999.5433.1.4.1.1.4"),
    ("LIFELINE-MIB::llEventSequence", ".1.3.6.1.4.1.8072.9999.9999.5433.1.5.5"),
    ("LIFELINE-MIB::llNotifyConfigChanged", ".1.3.6.1.4.1.8072.9999.9999.5433.0.1"),
    ("LIFELINE-MIB::llNotifyRuleResolved", ".1.3.6.1.4.1.8072.9999.9999.5433.0.27"),
])
def test_net_snmp_resolves_names(name, oid):
    if not shutil.which("snmptranslate"):
        pytest.skip("snmptranslate is not installed")
    out = subprocess.run(["snmptranslate", "-M", PATH, "-m", "LIFELINE-MIB", "-On", name],
                         capture_output=True, text=True)
    assert out.stderr == "" and out.stdout.strip() == oid
