#!/usr/bin/env python3
"""Power benchmark, in one run on this machine (ratios and shares, not times):

- switching latency: a NETCONF action (on, off, cycle) on an outlet of a powermand
  + vpcd PDU, answered when powermand reports the plug switched, against
  Powerman's own `pm -h HOST:PORT --on|--off|--cycle` run directly on the same
  plug (its process start included, as an operator would run it);
- polling cost: lifelined's CPU (utime + stime from /proc) while it polls 50
  devices of 24 outlets every 5 s (20 Powerman, 20 NUT, 10 SNMP APC PDUs: small
  protocol simulators in this process, and snmpsim), as a share of one core,
  against the same lifelined with no devices; goal under 1%.

    LIFELINED=target/release/lifelined python3 benches/power.py [--quick]
"""
import asyncio
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import paramiko

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests" / "py"))
from netconf import QUICK, Session, free_port, measure, start_lifelined  # noqa: E402
from peers import Powerman, Snmpsim  # noqa: E402

PW = "urn:lifeline:params:xml:ns:yang:lifeline-power"
OUTLETS = 24
TICK = os.sysconf("SC_CLK_TCK")


def action(s, device, outlet, op):
    return s.rpc(f'<action xmlns="urn:ietf:params:xml:ns:yang:1"><power xmlns="{PW}"><device><name>{device}</name>'
                 f'<outlet><id>{outlet}</id><{op}/></outlet></device></power></action>')


def switching(tmp, key, key_pub, n):
    rows = []
    with Powerman(tmp) as pm:
        dev = (f'<power xmlns="{PW}"><device><name>pdu</name><powerman><host>127.0.0.1</host>'
               f'<port>{pm.port}</port></powerman><poll-interval>60</poll-interval></device></power>')
        procs, port = start_lifelined(tmp / "ll", key_pub, dev)
        try:
            s = Session(port, "admin", key)
            for op in ("on", "off", "cycle"):
                ours = measure(lambda: action(s, "pdu", "t1", op), n)
                ref = measure(lambda: pm.pm(f"--{op}", "t2").check_returncode(), n)
                rows.append((f"{op} of a vpcd plug: NETCONF action / pm --{op}", ours, ref))
            # Both really switched.
            action(s, "pdu", "t1", "off")
            pm.pm("--off", "t2")
            assert pm.query()["t1"] == "off" and pm.query()["t2"] == "off"
            s.close()
        finally:
            for p in procs:
                p.terminate()
                p.wait(5)
    return rows


# Protocol simulators for the polling load: each answers what the drivers ask.

async def powerman_session(reader, writer):
    plugs = {f"p{i}": "on" for i in range(1, OUTLETS + 1)}
    writer.write(b"001 2.3.27 (bench)\r\npowerman> ")
    expand = False
    while line := await reader.readline():
        words = line.decode().split()
        if words == ["exprange"]:
            expand = not expand
            out = "105 Hostrange expansion %s\r\n" % ("ON" if expand else "OFF")
        elif words[:1] == ["status"]:
            out = "".join(f"303 {n}: {v}\r\n" for n, v in plugs.items()) + "103 Query complete\r\n"
        elif words == ["quit"]:
            writer.write(b"101 Goodbye\r\n")
            break
        else:
            out = "201 Unknown command\r\n"
        writer.write((out + "powerman> ").encode())
        await writer.drain()
    writer.close()


NUT_VARS = "".join(
    [f'VAR u device.type "pdu"\n', f'VAR u outlet.count "{OUTLETS}"\n'] +
    [f'VAR u outlet.{i}.{k} "{v}"\n' for i in range(1, OUTLETS + 1)
     for k, v in (("id", i), ("desc", f"Outlet {i}"), ("status", "on"), ("switchable", "yes"))])
NUT_CMDS = "".join(f"CMD u outlet.{i}.load.{op}\n" for i in range(1, OUTLETS + 1) for op in ("on", "off", "cycle"))


async def nut_session(reader, writer):
    while line := await reader.readline():
        words = line.decode().split()
        if words == ["LIST", "VAR", "u"]:
            out = f"BEGIN LIST VAR u\n{NUT_VARS}END LIST VAR u\n"
        elif words == ["LIST", "CMD", "u"]:
            out = f"BEGIN LIST CMD u\n{NUT_CMDS}END LIST CMD u\n"
        elif words == ["LOGOUT"]:
            writer.write(b"OK Goodbye\n")
            break
        else:
            out = "ERR UNKNOWN-COMMAND\n"
        writer.write(out.encode())
        await writer.drain()
    writer.close()


def start_sims(count, handler):
    """`count` servers of one protocol on free ports, on a loop in a thread."""
    loop = asyncio.new_event_loop()
    ports = [free_port() for _ in range(count)]

    async def serve():
        for p in ports:
            await asyncio.start_server(handler, "127.0.0.1", p)

    threading.Thread(target=loop.run_forever, daemon=True).start()
    asyncio.run_coroutine_threadsafe(serve(), loop).result(10)
    return ports


def cpu_seconds(pid):
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def cpu_share(proc, seconds):
    c0, t0 = cpu_seconds(proc.pid), time.monotonic()
    time.sleep(seconds)
    return (cpu_seconds(proc.pid) - c0) / (time.monotonic() - t0)


def polling(tmp, key, key_pub, seconds):
    pm_ports = start_sims(20, powerman_session)
    nut_ports = start_sims(20, nut_session)
    sim = Snmpsim(tmp, outlets=OUTLETS).start()
    try:
        dev = []
        for i, p in enumerate(pm_ports):
            dev.append(f"<device><name>pm{i}</name><powerman><host>127.0.0.1</host><port>{p}</port></powerman>"
                       "<poll-interval>5</poll-interval></device>")
        for i, p in enumerate(nut_ports):
            dev.append(f"<device><name>nut{i}</name><nut><host>127.0.0.1</host><port>{p}</port><ups>u</ups></nut>"
                       "<poll-interval>5</poll-interval></device>")
        for i in range(10):
            dev.append(f"<device><name>snmp{i}</name><snmp-pdu><host>127.0.0.1</host><port>{sim.port}</port>"
                       "</snmp-pdu><poll-interval>5</poll-interval></device>")
        busy = f'<power xmlns="{PW}">{"".join(dev)}</power>'
        result = {}
        for name, extra in (("idle", ""), ("polling", busy)):
            procs, port = start_lifelined(tmp / name, key_pub, extra)
            try:
                s = Session(port, "admin", key)
                if extra:
                    # Every device answered, with all its outlets, before the measurement.
                    deadline = time.time() + 60
                    while time.time() < deadline:
                        reply = s.rpc(f'<get><filter type="subtree"><power xmlns="{PW}"/></filter></get>').decode()
                        up = reply.count("<reachable>true</reachable>")
                        outlets = len(re.findall(r"<state>on</state>", reply))
                        if up == 50 and outlets >= 50 * OUTLETS:
                            break
                        time.sleep(1)
                    else:
                        raise RuntimeError(f"only {up} devices and {outlets} outlets answered")
                s.close()
                time.sleep(2)
                result[name] = cpu_share(procs[0], seconds)
            finally:
                for p in procs:
                    p.terminate()
                    p.wait(5)
        return result
    finally:
        sim.stop()


def main():
    tmp = Path(tempfile.mkdtemp(prefix="lifeline-bench-power-"))
    try:
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp / "client")], check=True)
        key = paramiko.Ed25519Key.from_private_key_file(str(tmp / "client"))
        key_pub = (tmp / "client.pub").read_text()
        rows = switching(tmp, key, key_pub, 5 if QUICK else 15)
        print("| row | lifelined | reference | ratio |")
        print("|---|---|---|---|")
        for name, a, b in rows:
            print(f"| {name} | {a * 1000:.1f} ms | {b * 1000:.1f} ms | {a / b:.2f} |")
        cpu = polling(tmp, key, key_pub, 20 if QUICK else 60)
        print()
        print("| polling 50 devices x 24 outlets every 5 s | share of one core |")
        print("|---|---|")
        print(f"| lifelined polling | {cpu['polling'] * 100:.2f}% |")
        print(f"| lifelined with no devices | {cpu['idle'] * 100:.2f}% |")
        print(f"| polling's own cost (difference; goal < 1%) | {(cpu['polling'] - cpu['idle']) * 100:.2f}% |")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
