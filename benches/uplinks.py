#!/usr/bin/env python3
"""Failover benchmark: lifelined in network namespaces (tests/py/netns.py) with
two uplinks and the model's default probe settings; each run drops everything
on the primary ISP (nftables) and measures, from the first dropped packet, the
time until the NOC's UDP echo (every 10 ms) reaches the appliance again
through the secondary. The reference is Opengear's documented failover (ping
every 30 s, 4 failures: about 120 s). The hold-down is 1 s here so the runs
fail back quickly; it plays no part in failover.

    LIFELINED=target/release/lifelined python3 benches/uplinks.py [--quick]
"""
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
# Not benches/ itself: its platform.py would shadow the standard module.
sys.path[0] = str(HERE.parent / "tests" / "py")
from netns import Topology  # noqa: E402
from test_uplinks import NsDaemon, Pinger, failover_time, uplinks_xml  # noqa: E402

OPENGEAR = 120.0


def main():
    runs = 5 if "--quick" in sys.argv else 20
    topo = Topology()
    d = None
    try:
        topo.ip(topo.app, "route", "add", "default", "via", "10.1.0.1", "dev", "up1", "metric", "100")
        topo.ip(topo.app, "route", "add", "default", "via", "10.2.0.1", "dev", "up2", "metric", "200")
        d = NsDaemon(topo, Path(tempfile.mkdtemp(prefix="lifeline-bench-")), uplinks_xml(holddown=1))
        d.wait("wan active", lambda: d.active() == "wan")
        pinger = Pinger(topo)
        times = []
        for _ in range(runs):
            times.append(failover_time(topo, d, pinger))
            topo.heal(topo.isp1)
            d.wait("failback", lambda: d.active() == "wan", timeout=30)
            time.sleep(0.5)
        med, worst = statistics.median(times), max(times)
        print(f"| failover, default settings, {runs} runs | lifelined | Opengear (documented) | ratio |")
        print("|---|---|---|---|")
        print(f"| median | {med:.2f} s | {OPENGEAR:.0f} s | {med / OPENGEAR:.3f} |")
        print(f"| maximum | {worst:.2f} s | {OPENGEAR:.0f} s | {worst / OPENGEAR:.3f} |")
        print(f"(goal: median < 3 s, maximum < 5 s; every run: {', '.join(f'{t:.2f}' for t in times)})")
    finally:
        if d:
            d.close()
        topo.close()


if __name__ == "__main__":
    main()
