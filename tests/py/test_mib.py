"""LIFELINE-MIB is valid SMIv2 (smilint at level 3 says nothing) and net-snmp
resolves its names to the OIDs the agent serves."""
import os
import re
import shutil
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MIBS = os.path.join(ROOT, "mibs")
MIB = os.path.join(MIBS, "LIFELINE-MIB.txt")
PATH = f"{MIBS}:{MIBS}/ietf:/usr/share/snmp/mibs"
# netSnmpPlaypen (NET-SNMP-MIB) is 1.3.6.1.4.1.8072.9999.9999; lifelineMIB is its arc 5433.
BASE = ".1.3.6.1.4.1.8072.9999.9999.5433"


def snmptranslate(*args):
    if not shutil.which("snmptranslate"):
        pytest.skip("snmptranslate is not installed")
    return subprocess.run(["snmptranslate", "-M", PATH, "-m", "LIFELINE-MIB", *args],
                          capture_output=True, text=True)


def test_smilint_level_3_is_silent():
    if not shutil.which("smilint"):
        pytest.skip("smilint is not installed")
    out = subprocess.run(["smilint", "-l", "3", MIB],
                         env=dict(os.environ, SMIPATH=f"{MIBS}/ietf:/usr/share/snmp/mibs"),
                         capture_output=True, text=True)
    assert out.stdout + out.stderr == ""


def mib_errors(stderr):
    """net-snmp's complaints, without its one-time note of a state dir it made."""
    return [l for l in stderr.splitlines() if not l.startswith("Created directory:")]


def test_net_snmp_loads_the_tree():
    out = snmptranslate("-Tp", "-IR", "lifelineMIB")
    assert mib_errors(out.stderr) == [] and out.returncode == 0
    assert "+--lifelineMIB(5433)" in out.stdout


def test_every_object_and_notification_resolves():
    with open(MIB) as f:
        names = re.findall(r"^(\w+)\s+(?:OBJECT-TYPE|NOTIFICATION-TYPE)\b", f.read(), re.M)
    assert len(names) == 98 + 33
    out = snmptranslate("-On", *(f"LIFELINE-MIB::{n}" for n in names))
    assert mib_errors(out.stderr) == [] and out.returncode == 0
    oids = out.stdout.split()
    assert len(oids) == len(names) and len(set(oids)) == len(names)
    assert all(oid.startswith(BASE + ".") for oid in oids)


@pytest.mark.parametrize("name, oid", [
    ("llAppliance", "3.1"),
    ("llPortTable", "1.1.1"),
    ("llPortEntry", "1.1.1.1"),
    ("llPortBaud", "1.1.1.1.6"),
    ("llPortSessions", "1.1.1.1.20"),
    ("llSessionEntry", "1.1.2.1"),
    ("llSessionUser", "1.1.2.1.2"),
    ("llPowerDeviceEntry", "1.2.1.1"),
    ("llOutletControl", "1.2.2.1.4"),
    ("llUpsInputVoltage", "1.2.3.1.6"),
    ("llUplinkHealth", "1.3.1.1.6"),
    ("llUplinkRttAverage", "1.3.1.1.11"),
    ("llActiveUplink", "1.3.2"),
    ("llTunnelUp", "1.3.3"),
    ("llRuleState", "1.4.1.1.4"),
    ("llEventSequence", "1.5.5"),
    ("llNotifyConfigChanged", "0.1"),
    ("llNotifyPortAlertMatch", "0.13"),
    ("llNotifyTunnelUp", "0.24"),
    ("llNotifyRuleResolved", "0.27"),
    ("llCompliance", "2.1.1"),
    ("llNotificationGroup", "2.2.9"),
])
def test_net_snmp_resolves_names(name, oid):
    out = snmptranslate("-On", f"LIFELINE-MIB::{name}")
    assert mib_errors(out.stderr) == [] and out.stdout.strip() == f"{BASE}.{oid}"
