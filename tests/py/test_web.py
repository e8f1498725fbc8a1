"""The web console in a real browser (headless Chromium driven by Selenium)
against the demo: a wrong password is refused on the page; admin opens port 1,
logs in to the simulated router and runs `show version`; a second, read-only
browser (operator) sees the same console and cannot type into it nor switch its
outlet; admin switches the port's outlet off and on from the page and the
router boots. Screenshots of each step go to target/artifacts/web.

Then a WebSocket client that never reads (opened by hand over TLS): another
session of the same port is not slowed down, lifelined does not grow, and the
server ends the stalled session."""
import base64
import os
import re
import socket
import ssl
import time

import pytest
import requests
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

from conftest import ROOT, wait_port
from test_demo import demo, read_until  # noqa: F401  (demo is the fixture)

# The demo's certificate is self-signed and made at its boot.
pytestmark = pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")

BASE = "https://127.0.0.1:10443"
ARTIFACTS = ROOT / "target" / "artifacts" / "web"

# The terminal's text, line by line, read from xterm's buffer.
BUFFER_JS = """
const t = window.llTerm; if (!t) return "";
const b = t.buffer.active; const out = [];
for (let i = 0; i < b.length; i++) out.push(b.getLine(i).translateToString(true));
return out.join("\\n");
"""


def browser():
    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
    for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
              "--window-size=1200,800", "--ignore-certificate-errors"):
        opts.add_argument(a)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)


def shot(drv, name):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    drv.save_screenshot(str(ARTIFACTS / f"{name}.png"))


def login(drv, user, password):
    drv.get(BASE + "/")
    WebDriverWait(drv, 15).until(EC.visibility_of_element_located((By.ID, "username")))
    drv.find_element(By.ID, "username").clear()
    drv.find_element(By.ID, "username").send_keys(user)
    drv.find_element(By.ID, "password").clear()
    drv.find_element(By.ID, "password").send_keys(password)
    drv.find_element(By.ID, "login").click()


def term_status(drv):
    return drv.find_element(By.ID, "term-status").text


def open_port(drv, port="port01"):
    row = WebDriverWait(drv, 15).until(
        EC.visibility_of_element_located((By.CSS_SELECTOR, f'#consoles tr[data-port="{port}"]')))
    row.find_element(By.CSS_SELECTOR, "button.open").click()
    WebDriverWait(drv, 15).until(lambda d: re.search(r", connected$", term_status(d)) or
                                 "disconnected" in term_status(d))
    assert term_status(drv).endswith(", connected"), term_status(drv)


def screen(drv):
    """The terminal's text up to its last non-blank character (so that its
    length marks where later output starts)."""
    return (drv.execute_script(BUFFER_JS) or "").rstrip()


def wait_screen(drv, pattern, timeout=15, after=0):
    """Waits until the terminal shows `pattern` (a regex, across lines) past
    offset `after` of its text; returns the text."""
    deadline = time.time() + timeout
    text = ""
    while time.time() < deadline:
        text = screen(drv)
        if re.search(pattern, text[after:], re.S):
            return text
        time.sleep(0.2)
    raise AssertionError(f"the terminal never showed {pattern!r}:\n{text[-1500:]}")


def typ(drv, keys):
    """Real key events: a click on the terminal focuses xterm's input, then
    the keys are typed."""
    drv.find_element(By.CSS_SELECTOR, "#terminal .xterm-screen").click()
    ActionChains(drv).send_keys(keys).perform()


# What the page may log: the 401s of the session check before a login and of
# a wrong password, and the CSP refusing the <style> elements that xterm.js
# creates (app.css has their rules).
EXPECTED_ERRORS = re.compile(r"/api/session - .* 401|/login - .* 401|inline style|outlet=t1/off - .* 403")


def page_errors(drv):
    return [e["message"] for e in drv.get_log("browser")
            if e["level"] == "SEVERE" and not EXPECTED_ERRORS.search(e["message"])]


def outlet(drv, device="pdu1", name="t1"):
    return drv.find_element(By.CSS_SELECTOR, f'.outlet[data-device="{device}"][data-outlet="{name}"]')


def outlet_state(drv):
    return outlet(drv).find_element(By.CSS_SELECTOR, ".state").text


def power_status(drv):
    return drv.find_element(By.ID, "power-status").text


def test_web_console_in_a_browser(demo):
    wait_port(10443, demo)
    admin, viewer = browser(), None
    try:
        # A wrong password: the page says so and stays on the login form.
        admin.get(BASE + "/")
        WebDriverWait(admin, 15).until(EC.visibility_of_element_located((By.ID, "username")))
        shot(admin, "01-login")
        login(admin, "admin", "wrong")
        WebDriverWait(admin, 10).until(lambda d: d.find_element(By.ID, "login-error").text.strip())
        assert admin.find_element(By.ID, "username").is_displayed()
        shot(admin, "02-login-failed")

        login(admin, "admin", "admin")
        WebDriverWait(admin, 15).until(
            EC.visibility_of_element_located((By.CSS_SELECTOR, '#consoles tr[data-port="port01"]')))
        assert admin.find_element(By.ID, "user").text == "admin"
        row = admin.find_element(By.CSS_SELECTOR, '#consoles tr[data-port="port01"]').text
        assert "router1" in row and "read-write" in row, row
        shot(admin, "03-consoles")

        open_port(admin)
        assert term_status(admin) == "port01 (router1), read-write, connected"
        wait_screen(admin, r"\[lifeline: port01 \(router1\), read-write")
        # The router: Enter for its login prompt, any user, password cisco.
        typ(admin, Keys.ENTER)
        wait_screen(admin, r"Username: *$")
        typ(admin, "netops" + Keys.ENTER)
        wait_screen(admin, r"Password: *$")
        typ(admin, "cisco" + Keys.ENTER)
        wait_screen(admin, r"router1>\s*$")
        typ(admin, "show version" + Keys.ENTER)
        wait_screen(admin, r"show version\s*\nCisco IOS Software, C2900 Software.*Version 15\.7\(3\)M6"
                           r".*router1 uptime is .*4 Gigabit Ethernet interfaces\s*\nrouter1>")
        shot(admin, "04-show-version")
        assert not page_errors(admin), page_errors(admin)

        # A read-only second browser sees the same console...
        viewer = browser()
        login(viewer, "operator", "operator")
        WebDriverWait(viewer, 15).until(
            EC.visibility_of_element_located((By.CSS_SELECTOR, '#consoles tr[data-port="port01"]')))
        assert "read-only" in viewer.find_element(By.CSS_SELECTOR, '#consoles tr[data-port="port01"]').text
        open_port(viewer)
        assert term_status(viewer) == "port01 (router1), read-only, connected"
        wait_screen(viewer, r"\[lifeline: port01 \(router1\), read-only")
        mark = len(screen(viewer))
        typ(admin, "show clock" + Keys.ENTER)
        wait_screen(viewer, r"show clock\s*\n\*\d\d:\d\d:\d\d\.\d+ UTC", after=mark)
        # ...and cannot type into it: lifeline tells it, the router never sees it.
        admin_mark = len(screen(admin))
        typ(viewer, "reload" + Keys.ENTER)
        wait_screen(viewer, r"\[lifeline: this session is read-only\]")
        shot(viewer, "05-read-only-viewer")
        time.sleep(1)
        assert "reload" not in screen(admin)[admin_mark:], "the read-only session's keys reached the router"
        # The viewer cannot switch the outlet either (NACM: operator runs no actions).
        WebDriverWait(viewer, 15).until(lambda d: outlet_state(d) == "on")
        outlet(viewer).find_element(By.CSS_SELECTOR, 'button.power[data-action="off"]').click()
        WebDriverWait(viewer, 15).until(lambda d: power_status(d) and not power_status(d).endswith("…"))
        assert "done" not in power_status(viewer), power_status(viewer)
        shot(viewer, "06-read-only-power-refused")
        time.sleep(1)
        assert outlet_state(viewer) == "on"
        viewer_refusal = power_status(viewer)
        assert not page_errors(viewer), page_errors(viewer)

        # The port's outlet from admin's page: off (the router goes silent), on (it boots).
        WebDriverWait(admin, 15).until(lambda d: outlet_state(d) == "on")
        outlet(admin).find_element(By.CSS_SELECTOR, 'button.power[data-action="off"]').click()
        WebDriverWait(admin, 20).until(lambda d: power_status(d).endswith("now off"))
        assert outlet_state(admin) == "off"
        shot(admin, "07-outlet-off")
        mark = len(screen(admin))
        outlet(admin).find_element(By.CSS_SELECTOR, 'button.power[data-action="on"]').click()
        WebDriverWait(admin, 20).until(lambda d: power_status(d).endswith("now on"))
        assert outlet_state(admin) == "on"
        wait_screen(admin, r"System Bootstrap.*Username:", timeout=20, after=mark)
        # Both sessions saw the boot.
        wait_screen(viewer, r"System Bootstrap.*Username:", timeout=10)
        shot(admin, "08-outlet-on-router-boots")

        # Break reaches the port (lifeline's note says so); Close returns to the list.
        mark = len(screen(admin))
        admin.find_element(By.ID, "break").click()
        text = wait_screen(admin, r"\[lifeline: [^\]]*(?i:break)[^\]]*\]", after=mark)
        print("Break:", re.findall(r"\[lifeline: [^\]]*\]", text[mark:]))
        admin.find_element(By.ID, "close-terminal").click()
        WebDriverWait(admin, 10).until(EC.visibility_of_element_located((By.ID, "consoles")))
        WebDriverWait(admin, 15).until(lambda d: re.search(
            r"read-write 1\b", d.find_element(By.CSS_SELECTOR, '#consoles tr[data-port="port01"]').text))
        shot(admin, "09-back-to-the-list")
        admin.find_element(By.ID, "logout").click()
        WebDriverWait(admin, 10).until(EC.visibility_of_element_located((By.ID, "username")))
        admin.get(BASE + "/")
        WebDriverWait(admin, 10).until(EC.visibility_of_element_located((By.ID, "username")))
        assert not page_errors(admin), page_errors(admin)
        print("the read-only user's outlet switch was refused with:", viewer_refusal)
    finally:
        admin.quit()
        if viewer:
            viewer.quit()


# ----- a WebSocket client that never reads -----

def ws_frame(data, opcode=0x2):
    """A masked client frame (RFC 6455)."""
    mask = os.urandom(4)
    n = len(data)
    head = bytes([0x80 | opcode])
    head += bytes([0x80 | n]) if n < 126 else bytes([0x80 | 126]) + n.to_bytes(2, "big")
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data))


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def stalled_websocket(token, csrf):
    """A WebSocket to port01's terminal whose receive buffer is tiny and that
    is never read after the upgrade."""
    raw = socket.socket()
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    raw.settimeout(10)
    raw.connect(("127.0.0.1", 10443))
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ws = ctx.wrap_socket(raw)
    key = base64.b64encode(os.urandom(16)).decode()
    ws.sendall((f"GET /api/consoles/port01/terminal?csrf={csrf} HTTP/1.1\r\n"
                f"Host: 127.0.0.1:10443\r\nOrigin: {BASE}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                f"Cookie: lifeline_session={token}\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = ws.recv(4096)
        assert chunk, head
        head += chunk
    assert head.startswith(b"HTTP/1.1 101"), head
    ws.sendall(ws_frame(b"\r"))
    return ws


def test_a_websocket_that_never_reads_stalls_nothing(demo):
    wait_port(10443, demo)
    r = requests.post(f"{BASE}/login", json={"username": "admin", "password": "admin"}, verify=False)
    assert r.status_code == 200, r.text
    token, csrf = r.json()["token"], r.json()["csrf"]

    def sessions():
        rows = requests.get(f"{BASE}/api/consoles", verify=False, cookies={"lifeline_session": token},
                            timeout=5).json()
        return next(p["sessions"] for p in rows if p["name"] == "port01")

    ws = stalled_websocket(token, csrf)
    try:
        deadline = time.time() + 5
        while sessions() != 1 and time.time() < deadline:
            time.sleep(0.2)
        assert sessions() == 1
        before = rss_kb(demo.pid)
        # Another session of the same port, over raw TCP, makes a lot of output.
        with socket.create_connection(("127.0.0.1", 14001), timeout=0.5) as tcp:
            tcp.sendall(b"\r")
            assert b"Username:" in read_until(tcp, b"Username:", 5)
            tcp.sendall(b"x\r")
            assert b"Password:" in read_until(tcp, b"Password:", 5)
            tcp.sendall(b"cisco\r")
            assert b"router1>" in read_until(tcp, b"router1>", 5)
            assert sessions() == 2
            started, slowest, produced, ended = time.time(), 0.0, 0, None
            while time.time() < started + 50:
                tcp.sendall(b"show interfaces\r" * 300)
                produced += len(read_until(tcp, b"never said", 0.3))
                t0 = time.time()
                tcp.sendall(b"show clock\r")
                got = read_until(tcp, b" UTC ", 5)
                assert b" UTC " in got, "the raw TCP session stalled behind the WebSocket that does not read"
                produced += len(got)
                slowest = max(slowest, time.time() - t0)
                if sessions() == 1:
                    ended = time.time() - started
                    break
            grown = rss_kb(demo.pid) - before
            print(f"{produced} bytes of console output; the stalled session ended after "
                  f"{ended} s; slowest answer {slowest:.2f} s; lifelined grew {grown} kB")
            assert produced > 1_000_000, produced
            # The raw TCP session never waited on the stalled one...
            assert slowest < 2.5, slowest
            # ...lifelined did not buffer the output for the stalled one...
            assert grown < 64 * 1024, f"lifelined grew by {grown} kB"
            # ...and ended it (a client that takes no output for 30 s is gone).
            assert ended is not None, "the WebSocket that never reads still holds its session"
            # The raw TCP session still works.
            tcp.sendall(b"show clock\r")
            assert b" UTC " in read_until(tcp, b" UTC ", 5)
    finally:
        ws.close()
