"""linkDown and linkUp traps for the host's interfaces, received by net-snmp's
snmptrapd: lifelined runs in a network namespace of its own with a veth pair whose
far end the test takes down and up; IF-MIB shows the same through snmpget."""
import os
import re
import signal
import subprocess
import time

import pytest

from conftest import LIFELINED, factory_config, free_port

SNMP = """<snmp xmlns="urn:ietf:params:xml:ns:yang:ietf-snmp">
  <engine><enabled>true</enabled>
    <listen><name>lo</name><udp><ip>127.0.0.1</ip><port>{port}</port></udp></listen>
    <version><v2c/></version></engine>
  <community><index>public</index><text-name>public</text-name><security-name>public</security-name></community>
  <vacm><group><name>g</name><member><security-name>public</security-name><security-model>v2c</security-model></member>
    <access><context></context><security-model>any</security-model><security-level>no-auth-no-priv</security-level>
      <read-view>all</read-view><notify-view>all</notify-view></access></group>
    <view><name>all</name><include>1</include></view></vacm>
  <target><name>trapd</name><udp><ip>127.0.0.1</ip><port>{trap}</port></udp><tag>t</tag><target-params>p</target-params></target>
  <target-params><name>p</name><v2c><security-name>public</security-name></v2c></target-params>
  <notify><name>n</name><tag>t</tag><type>trap</type></notify>
</snmp>"""

LINK_DOWN = ".1.3.6.1.6.3.1.1.5.3"
LINK_UP = ".1.3.6.1.6.3.1.1.5.4"


def sh(*cmd):
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout


@pytest.fixture
def ns():
    name = f"lls{os.getpid()}"
    try:
        sh("ip", "netns", "add", name)
    except (subprocess.CalledProcessError, FileNotFoundError) as e:
        pytest.skip(f"cannot create a network namespace here: {e}")
    try:
        run = lambda *c: sh("ip", "netns", "exec", name, *c)  # noqa: E731
        run("ip", "link", "set", "lo", "up")
        run("ip", "link", "add", "up0", "type", "veth", "peer", "name", "far0")
        run("ip", "link", "set", "far0", "up")
        run("ip", "link", "set", "up0", "up")
        yield name, run
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True)


def test_link_down_and_up_reach_snmptrapd(ns, tmp_path):
    name, run = ns
    port, trap = free_port(), free_port()
    factory = tmp_path / "factory.xml"
    factory.write_text(factory_config(free_port(), free_port()) + SNMP.format(port=port, trap=trap))
    conf, log = tmp_path / "snmptrapd.conf", tmp_path / "traps.log"
    conf.write_text("authCommunity log public\n")
    env = dict(os.environ, MIBS="")
    trapd = subprocess.Popen(["ip", "netns", "exec", name, "snmptrapd", "-f", "-C", "-c", str(conf),
                              "-Lf", str(log), "-On", "-n", f"udp:127.0.0.1:{trap}"],
                             env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    agent = subprocess.Popen(["ip", "netns", "exec", name, LIFELINED, "--state-dir", str(tmp_path / "state"),
                              "--factory-config", str(factory)],
                             stdout=subprocess.DEVNULL, stderr=open(tmp_path / "lifelined.log", "wb"))
    try:
        index = None
        deadline = time.time() + 20
        while time.time() < deadline and index is None:
            out = subprocess.run(["ip", "netns", "exec", name, "snmpwalk", "-v2c", "-c", "public", "-On",
                                  "-t", "1", "-r", "0", f"127.0.0.1:{port}", ".1.3.6.1.2.1.2.2.1.2"],
                                 capture_output=True, text=True, env=env).stdout
            m = re.search(r"\.1\.3\.6\.1\.2\.1\.2\.2\.1\.2\.(\d+) = STRING: \"?up0\"?", out)
            index = m and m.group(1)
            time.sleep(0.3)
        assert index, "up0 never showed in ifTable"
        oper = f".1.3.6.1.2.1.2.2.1.8.{index}"

        def status():
            return subprocess.run(["ip", "netns", "exec", name, "snmpget", "-v2c", "-c", "public", "-On",
                                   "-Oqv", f"127.0.0.1:{port}", oper],
                                  capture_output=True, text=True, env=env).stdout.strip()

        def wait_trap(kind):
            deadline = time.time() + 15
            while time.time() < deadline:
                text = log.read_text() if log.exists() else ""
                for line in text.splitlines():
                    if f"= OID: {kind}" in line and f".1.3.6.1.2.1.2.2.1.1.{index} = INTEGER: {index}" in line:
                        return line
                time.sleep(0.2)
            pytest.fail(f"no {kind} for ifIndex {index}; got:\n{log.read_text() if log.exists() else ''}")

        time.sleep(2.5)  # the watcher's first look sets the baseline
        run("ip", "link", "set", "far0", "down")
        line = wait_trap(LINK_DOWN)
        assert f".1.3.6.1.2.1.2.2.1.7.{index} = INTEGER: 1" in line  # still admin up
        assert status() in ("2", "7")  # down or lowerLayerDown
        run("ip", "link", "set", "far0", "up")
        wait_trap(LINK_UP)
        deadline = time.time() + 5
        while status() != "1" and time.time() < deadline:
            time.sleep(0.2)
        assert status() == "1"
    finally:
        for p in (agent, trapd):
            p.send_signal(signal.SIGINT)
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
