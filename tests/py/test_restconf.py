"""RESTCONF (RFC 8040) from outside, with Python requests and curl against the
daemon's HTTPS port (verified with its first-boot certificate): discovery and
the API root, CRUD on a list with every change seen through NETCONF, query
parameters, entity-tags, errors, authentication and its login-failure event,
NACM for a read-only user, an outlet action on a real Powerman PDU, event
streams as server-sent events, NETCONF locks, slow and idle clients, and YANG
Patch (RFC 8072)."""
import base64
import json
import queue
import socket
import ssl
import subprocess
import threading
import time
from urllib.parse import quote, urljoin, urlsplit

import pytest
import requests
from lxml import etree

from peers import Powerman, wait_for

NACM = "urn:ietf:params:xml:ns:yang:ietf-netconf-acm"
SYS = "urn:ietf:params:xml:ns:yang:ietf-system"
SYSM = "urn:lifeline:params:xml:ns:yang:lifeline-system"
PW = "urn:lifeline:params:xml:ns:yang:lifeline-power"
NCN = "urn:ietf:params:xml:ns:yang:ietf-netconf-notifications"
NOTIF = "urn:ietf:params:xml:ns:netconf:notification:1.0"
RC_NS = "urn:ietf:params:xml:ns:yang:ietf-restconf"
JSON_T = "application/yang-data+json"
XML_T = "application/yang-data+xml"
PATCH_T = "application/yang-patch+json"

GROUPS = "/restconf/data/ietf-netconf-acm:nacm/groups"
NACM_URL = "/restconf/data/ietf-netconf-acm:nacm"
HOSTNAME = "/restconf/data/ietf-system:system/hostname"

OPERATOR = (f'<system xmlns="{SYS}"><authentication><user><name>operator</name>'
            f'<password>$0$operator</password></user></authentication></system>'
            f'<nacm xmlns="{NACM}"><groups><group><name>operator</name>'
            f'<user-name>operator</user-name></group></groups></nacm>')


class Rc:
    """A RESTCONF client of one daemon as one user; `verify` is given on every
    request, as requests lets REQUESTS_CA_BUNDLE override a session's own."""

    def __init__(self, daemon, user="admin", password="admin"):
        self.base = f"https://127.0.0.1:{daemon.https_port}"
        self.cert = str(daemon.state / "https-cert.pem")
        self.auth = (user, password) if user else None
        self.s = requests.Session()

    def url(self, path):
        return path if path.startswith("https://") else self.base + path

    def req(self, method, path, body=None, ctype=JSON_T, accept=None, headers=None, auth=..., timeout=15):
        h = dict(headers or {})
        if accept:
            h["Accept"] = accept
        data = None
        if body is not None:
            data = body if isinstance(body, (bytes, str)) else json.dumps(body)
            if ctype:
                h["Content-Type"] = ctype
        return self.s.request(method, self.url(path), data=data, headers=h,
                              auth=self.auth if auth is ... else auth, verify=self.cert, timeout=timeout)

    def get(self, path, **kw):
        return self.req("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.req("POST", path, body, **kw)

    def put(self, path, body=None, **kw):
        return self.req("PUT", path, body, **kw)

    def patch(self, path, body=None, **kw):
        return self.req("PATCH", path, body, **kw)

    def delete(self, path, **kw):
        return self.req("DELETE", path, **kw)


def curl(rc, method, path, *args, body=None, user="admin:admin"):
    """curl --cacert: (status, {header: value}, body) of the last response."""
    cmd = ["curl", "-sS", "--cacert", rc.cert, "-X", method, "-D", "-", rc.url(path), *args]
    if user:
        cmd += ["-u", user]
    if body is not None:
        cmd += ["--data-binary", body]
    out = subprocess.run(cmd, capture_output=True, timeout=30)  # bytes: keep the CRLFs
    assert out.returncode == 0, out.stderr
    head, _, text = out.stdout.decode().partition("\r\n\r\n")
    while head.startswith("HTTP/1.1 100"):
        head, _, text = text.partition("\r\n\r\n")
    lines = head.split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (l.partition(":") for l in lines[1:])}
    return int(lines[0].split()[1]), headers, text


def errors(r, status, *tags):
    """The ietf-restconf:errors (JSON) of a response of `status`, the first
    error's tag one of `tags`."""
    assert r.status_code == status, (r.status_code, r.headers, r.text)
    assert r.headers.get("Content-Type", "").startswith(JSON_T), (r.headers, r.text)
    errs = r.json()["ietf-restconf:errors"]["error"]
    assert errs and all(e.get("error-type") in ("transport", "rpc", "protocol", "application")
                        and e.get("error-tag") for e in errs), errs
    if tags:
        assert errs[0]["error-tag"] in tags, errs
    return errs


def xml_errors(r, status, *tags):
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers.get("Content-Type", "").startswith(XML_T), (r.headers, r.text)
    root = etree.fromstring(r.content)
    assert root.tag == f"{{{RC_NS}}}errors", r.text
    errs = root.findall(f"{{{RC_NS}}}error")
    assert errs and all(e.findtext(f"{{{RC_NS}}}error-tag") for e in errs), r.text
    if tags:
        assert errs[0].findtext(f"{{{RC_NS}}}error-tag") in tags, r.text
    return errs


def edit(m, xml):
    m.edit_config(target="running", config=f"<config>{xml}</config>")


def group_xml(name, *users):
    return (f'<nacm xmlns="{NACM}"><groups><group><name>{name}</name>'
            + "".join(f"<user-name>{u}</user-name>" for u in users) + "</group></groups></nacm>")


def groups(m):
    """{group name: sorted user names} of running, through NETCONF get-config."""
    data = m.get_config(source="running", filter=("subtree", f'<nacm xmlns="{NACM}"><groups/></nacm>')).data_ele
    return {g.findtext(f"{{{NACM}}}name"): sorted(u.text for u in g.findall(f"{{{NACM}}}user-name"))
            for g in data.iterfind(f".//{{{NACM}}}groups/{{{NACM}}}group")}


def hostname(m):
    data = m.get_config(source="running", filter=("subtree", f'<system xmlns="{SYS}"><hostname/></system>')).data_ele
    return data.findtext(f".//{{{SYS}}}hostname")


def entry(name, *users):
    return {"ietf-netconf-acm:group": [{"name": name, "user-name": list(users)}]}


def notifications(m, pred, timeout=10):
    """NETCONF notifications until one satisfies `pred` (or time is up)."""
    got, deadline = [], time.time() + timeout
    while time.time() < deadline:
        n = m.take_notification(timeout=1)
        if n is not None:
            got.append(n.notification_xml)
            if pred(n.notification_xml):
                break
    return got


# --- discovery --------------------------------------------------------------

def test_discovery_root_library_and_operations(daemon):
    rc = Rc(daemon)
    # RFC 8040 3.1: the root is found through host-meta (RFC 6415).
    r = rc.get("/.well-known/host-meta", auth=None)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("application/xrd+xml"), r.headers
    links = [l for l in etree.fromstring(r.content).iter() if etree.QName(l).localname == "Link"]
    assert [(l.get("rel"), l.get("href")) for l in links] == [("restconf", "/restconf")], r.text
    status, headers, text = curl(rc, "GET", "/.well-known/host-meta", user=None)
    assert status == 200 and 'rel="restconf"' in text.replace("'", '"'), (status, text)

    # 3.3: the API root, JSON by default and XML by Accept.
    r = rc.get("/restconf")
    assert r.status_code == 200 and r.headers["Content-Type"].startswith(JSON_T), (r.headers, r.text)
    root = r.json()["ietf-restconf:restconf"]
    assert root["yang-library-version"] == "2019-01-04" and "data" in root and "operations" in root, root
    r = rc.get("/restconf", accept=XML_T)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith(XML_T), r.headers
    x = etree.fromstring(r.content)
    assert x.tag == f"{{{RC_NS}}}restconf", r.text
    assert x.find(f"{{{RC_NS}}}data") is not None and x.find(f"{{{RC_NS}}}operations") is not None
    assert x.findtext(f"{{{RC_NS}}}yang-library-version") == "2019-01-04", r.text

    # 3.3.3: yang-library-version, also through curl.
    r = rc.get("/restconf/yang-library-version")
    assert r.status_code == 200 and r.json() == {"ietf-restconf:yang-library-version": "2019-01-04"}, r.text
    status, headers, text = curl(rc, "GET", "/restconf/yang-library-version", "-H", f"Accept: {XML_T}")
    assert status == 200 and headers["content-type"].startswith(XML_T), (status, headers)
    x = etree.fromstring(text.encode())
    assert x.tag == f"{{{RC_NS}}}yang-library-version" and x.text == "2019-01-04", text

    # ...and the library it names is there (RFC 8040 10: ietf-yang-library).
    r = rc.get("/restconf/data/ietf-yang-library:yang-library")
    assert r.status_code == 200, r.text
    assert '"lifeline-system"' in r.text and '"ietf-netconf-acm"' in r.text, r.text[:2000]

    # 3.3.2: the operations resource lists the RPCs, "[null]" each in JSON.
    r = rc.get("/restconf/operations")
    assert r.status_code == 200, r.text
    ops = r.json()["ietf-restconf:operations"]
    assert ops.get("lifeline-system:rollback") == [None], ops
    r = rc.get("/restconf/operations", accept=XML_T)
    x = etree.fromstring(r.content)
    assert x.tag == f"{{{RC_NS}}}operations", r.text
    assert x.find(f"{{{SYSM}}}rollback") is not None, r.text

    # 9.1: restconf-state lists the capabilities; defaults is mandatory, and the
    # query parameters the server takes are listed.
    r = rc.get("/restconf/data/ietf-restconf-monitoring:restconf-state/capabilities")
    assert r.status_code == 200, r.text
    caps = r.json()["ietf-restconf-monitoring:capabilities"]["capability"]
    assert any(c.startswith("urn:ietf:params:restconf:capability:defaults:1.0?basic-mode=") for c in caps), caps
    for p in ("depth", "fields", "with-defaults"):
        assert f"urn:ietf:params:restconf:capability:{p}:1.0" in caps, caps

    # HEAD is GET without the body; OPTIONS says what a resource takes.
    g = rc.get("/restconf/data/ietf-system:system")
    h = rc.req("HEAD", "/restconf/data/ietf-system:system")
    assert g.status_code == h.status_code == 200 and h.content == b"", h.content
    assert h.headers.get("ETag") and h.headers.get("ETag") == g.headers.get("ETag"), (h.headers, g.headers)
    r = rc.req("OPTIONS", "/restconf/data/ietf-system:system")
    assert r.status_code in (200, 204), r.text
    allow = {m.strip() for m in r.headers.get("Allow", "").split(",")}
    assert {"GET", "PUT", "PATCH", "DELETE", "POST"} <= allow, r.headers


# --- CRUD ---------------------------------------------------------------------

def test_crud_on_a_nacm_group_seen_through_netconf(daemon):
    rc = Rc(daemon)
    with daemon.connect() as m:
        assert "testers" not in groups(m)
        # POST creates a child of the target: 201 and the new resource's Location.
        r = rc.post(GROUPS, entry("testers", "alice"))
        assert r.status_code == 201, (r.status_code, r.text)
        loc = r.headers.get("Location")
        assert loc, r.headers
        url = urljoin(rc.base + GROUPS, loc)
        assert urlsplit(url).netloc == urlsplit(rc.base).netloc, url
        assert urlsplit(url).path == f"{GROUPS}/group=testers", url
        assert groups(m)["testers"] == ["alice"]

        # GET it back at its Location, as JSON and as XML.
        r = rc.get(url, accept=JSON_T)
        assert r.status_code == 200 and r.headers["Content-Type"].startswith(JSON_T), (r.headers, r.text)
        [got] = r.json()["ietf-netconf-acm:group"]
        assert got["name"] == "testers" and got["user-name"] == ["alice"], got
        r = rc.get(url, accept=XML_T)
        assert r.status_code == 200 and r.headers["Content-Type"].startswith(XML_T), r.headers
        x = etree.fromstring(r.content)
        assert x.tag == f"{{{NACM}}}group", r.text
        assert x.findtext(f"{{{NACM}}}name") == "testers", r.text
        assert [u.text for u in x.findall(f"{{{NACM}}}user-name")] == ["alice"], r.text

        # POST again: it is there.
        errors(rc.post(GROUPS, entry("testers", "zed")), 409, "data-exists")
        assert groups(m)["testers"] == ["alice"]

        # PUT replaces it (204), PATCH merges into it (204), as XML this time.
        r = rc.put(url, entry("testers", "bob"))
        assert r.status_code == 204, (r.status_code, r.text)
        assert groups(m)["testers"] == ["bob"]
        r = rc.patch(url, f'<group xmlns="{NACM}"><name>testers</name><user-name>carol</user-name></group>',
                     ctype=XML_T)
        assert r.status_code == 204, (r.status_code, r.text)
        assert groups(m)["testers"] == ["bob", "carol"]
        # A body whose key is not the URI's is refused, and changes nothing.
        errors(rc.put(url, entry("other", "dan")), 400)
        assert groups(m)["testers"] == ["bob", "carol"] and "other" not in groups(m)

        # DELETE (204); then it is gone: 404, for GET and for another DELETE.
        r = rc.delete(url)
        assert r.status_code == 204, (r.status_code, r.text)
        assert "testers" not in groups(m)
        errors(rc.get(url), 404, "invalid-value", "data-missing")
        errors(rc.delete(url), 404, "invalid-value", "data-missing")

        # A key that needs percent-encoding (3.5.3): ',' '/' and ' ' stay in it.
        name = "lab,ops/2 x"
        r = rc.post(GROUPS, f'<group xmlns="{NACM}"><name>{name}</name><user-name>erin</user-name></group>',
                    ctype=XML_T)
        assert r.status_code == 201, (r.status_code, r.text)
        loc = r.headers["Location"]
        assert "group=lab%2cops%2f2%20x" in loc.lower(), loc
        assert groups(m)[name] == ["erin"]
        r = rc.get(urljoin(rc.base + GROUPS, loc))
        assert r.status_code == 200 and r.json()["ietf-netconf-acm:group"][0]["name"] == name, r.text
        assert rc.get(f"{GROUPS}/group={quote(name, safe='')}").status_code == 200

        # With curl: PUT creates (201), DELETE deletes (204).
        status, headers, text = curl(rc, "PUT", f"{GROUPS}/group=fresh", "-H", f"Content-Type: {JSON_T}",
                                     body=json.dumps(entry("fresh", "frank")))
        assert status == 201, (status, headers, text)
        assert groups(m)["fresh"] == ["frank"]
        status, headers, text = curl(rc, "DELETE", f"{GROUPS}/group=fresh")
        assert status == 204, (status, text)
        assert "fresh" not in groups(m)


# --- query parameters --------------------------------------------------------------

def test_query_parameters(daemon):
    rc = Rc(daemon)
    with daemon.connect() as m:
        edit(m, group_xml("plain", "pat"))  # a group that leaves its console-access to the default

    def nacm(query, status=200):
        r = rc.get(f"{NACM_URL}?{query}" if query else NACM_URL)
        assert r.status_code == status, (query, r.status_code, r.text)
        return r.json()["ietf-netconf-acm:nacm"]

    # content: all (the default) has both, config only the configuration,
    # nonconfig only the state.
    full = nacm("")
    assert "groups" in full and "denied-operations" in full, full
    assert nacm("content=all") == full
    cfg = nacm("content=config")
    assert "groups" in cfg and "rule-list" in cfg and "enable-nacm" in cfg, cfg
    assert not {"denied-operations", "denied-data-writes", "denied-notifications"} & set(cfg), cfg
    state = nacm("content=nonconfig")
    assert "denied-operations" in state and "denied-data-writes" in state, state
    assert not {"groups", "rule-list", "enable-nacm", "read-default"} & set(state), state

    # depth: 1 is the target alone, each level one more.
    assert nacm("depth=1") == {}, nacm("depth=1")
    d2 = nacm("depth=2")
    assert "enable-nacm" in d2 and "denied-operations" in d2, d2
    assert "group" not in d2.get("groups", {}), d2
    assert d2.get("rule-list") and all("rule" not in rl and "group" not in rl for rl in d2["rule-list"]), d2
    d3 = nacm("depth=3")
    assert {g["name"] for g in d3["groups"]["group"]} >= {"admin", "operator", "plain"}, d3
    assert all("user-name" not in g for g in d3["groups"]["group"]), d3
    admin = [rl for rl in d3["rule-list"] if rl["name"] == "admin"][0]
    assert admin["rule"] and all("action" not in r and "module-name" not in r for r in admin["rule"]), d3
    assert nacm("depth=unbounded") == full

    # fields: only the nodes selected (and their ancestors).
    f = nacm("fields=read-default;groups/group/name")
    assert set(f) == {"read-default", "groups"} and f["read-default"] == "permit", f
    assert f["groups"]["group"] and all(set(g) == {"name"} for g in f["groups"]["group"]), f
    f = nacm("fields=" + quote("rule-list(name;group)", safe=""))
    assert set(f) == {"rule-list"}, f
    assert all(set(rl) == {"name", "group"} for rl in f["rule-list"]), f
    f = nacm("fields=rule-list(name;group)")  # unencoded, as RFC 8040's examples write it
    assert set(f) == {"rule-list"}, f

    # with-defaults (RFC 8040 4.8.9, RFC 6243): the factory sets read-default
    # permit (its default), write-default deny (its default), exec-default
    # deny (not the default), and leaves enable-external-groups to its default.
    explicit = nacm("content=config")  # basic mode
    assert "enable-external-groups" not in explicit and explicit["read-default"] == "permit", explicit
    assert nacm("content=config&with-defaults=explicit") == explicit
    report_all = nacm("content=config&with-defaults=report-all")
    assert report_all["enable-external-groups"] is True, report_all
    plain = [g for g in report_all["groups"]["group"] if g["name"] == "plain"][0]
    assert plain.get("lifeline-aaa:console-access") == {"all-ports": "none"}, plain
    plain = [g for g in explicit["groups"]["group"] if g["name"] == "plain"][0]
    assert "lifeline-aaa:console-access" not in plain, plain
    trim = nacm("content=config&with-defaults=trim")
    assert not {"enable-external-groups", "read-default", "write-default", "enable-nacm"} & set(trim), trim
    assert trim["exec-default"] == "deny", trim
    tagged = nacm("content=config&with-defaults=report-all-tagged")
    assert tagged["enable-external-groups"] is True, tagged
    assert tagged.get("@enable-external-groups") == {"ietf-netconf-with-defaults:default": True}, tagged
    assert "@exec-default" not in tagged, tagged

    # Bad values, unknown or repeated parameters: 400.
    for q in ("depth=0", "depth=abc", "depth=65536", "content=bogus", "with-defaults=bogus",
              "fields=groups(", "fields=a;;b", "foo=bar", "depth=1&depth=2"):
        errors(rc.get(f"{NACM_URL}?{q}"), 400, "invalid-value", "malformed-message", "unknown-element")
    errors(rc.get(f"{NACM_URL}?foo=bar"), 400, "invalid-value")


# --- entity-tags ---------------------------------------------------------------------

def test_etags_and_conditional_requests(daemon):
    rc = Rc(daemon)
    url = f"{GROUPS}/group=etag"
    with daemon.connect() as m:
        edit(m, group_xml("etag", "u1"))
        r = rc.get(url)
        e1 = r.headers.get("ETag")
        assert r.status_code == 200 and e1 and r.headers.get("Last-Modified"), r.headers
        # The same tag on a second read; If-None-Match with it: 304, no body.
        assert rc.get(url).headers["ETag"] == e1
        r = rc.get(url, headers={"If-None-Match": e1})
        assert r.status_code == 304 and r.content == b"", (r.status_code, r.text)
        data_tag = rc.get("/restconf/data").headers.get("ETag")
        assert data_tag, "the datastore resource has no ETag"

        # Another client changes the entry: a new tag; the old one is stale.
        edit(m, group_xml("etag", "u2"))
        e2 = rc.get(url).headers["ETag"]
        assert e2 != e1
        assert rc.get("/restconf/data").headers.get("ETag") != data_tag
        assert rc.get(url, headers={"If-None-Match": e1}).status_code == 200
        errors(rc.put(url, entry("etag", "u3"), headers={"If-Match": e1}), 412, "operation-failed")
        errors(rc.patch(url, entry("etag", "u3"), headers={"If-Match": e1}), 412, "operation-failed")
        errors(rc.delete(url, headers={"If-Match": e1}), 412, "operation-failed")
        assert groups(m)["etag"] == ["u1", "u2"]

        # With the current tag they go through.
        r = rc.put(url, entry("etag", "u3"), headers={"If-Match": e2})
        assert r.status_code == 204, (r.status_code, r.text)
        assert groups(m)["etag"] == ["u3"]
        e3 = rc.get(url).headers["ETag"]
        assert e3 not in (e1, e2)
        r = rc.patch(url, entry("etag", "u4"), headers={"If-Match": e3})
        assert r.status_code == 204, (r.status_code, r.text)
        assert groups(m)["etag"] == ["u3", "u4"]
        # ...and e3 is stale in turn.
        errors(rc.patch(url, entry("etag", "u5"), headers={"If-Match": e3}), 412, "operation-failed")
        assert groups(m)["etag"] == ["u3", "u4"]
        e4 = rc.get(url).headers["ETag"]
        assert rc.get(url, headers={"If-None-Match": e4}).status_code == 304
        r = rc.delete(url, headers={"If-Match": e4})
        assert r.status_code == 204, (r.status_code, r.text)
        assert "etag" not in groups(m)


# --- errors ---------------------------------------------------------------------------

def test_errors_in_the_restconf_errors_structure(daemon):
    rc = Rc(daemon)
    with daemon.connect() as m:
        before = groups(m)
        # Malformed bodies: 400 malformed-message, JSON and XML (errors in XML when asked).
        errors(rc.post(GROUPS, '{"ietf-netconf-acm:group": [{"name": "broken"'), 400, "malformed-message")
        xml_errors(rc.post(GROUPS, f'<group xmlns="{NACM}"><name>broken</name>', ctype=XML_T, accept=XML_T),
                   400, "malformed-message")
        errors(rc.post(GROUPS, f'<group xmlns="{NACM}"><name>broken</name>', ctype=XML_T), 400, "malformed-message")
        # A value the type refuses.
        errors(rc.put(f"{NACM_URL}/read-default", {"ietf-netconf-acm:read-default": "maybe"}), 400, "invalid-value")
        assert groups(m) == before

        # Unknown nodes and modules in the path: 400 or 404; an entry that is not there: 404.
        for path in (f"{NACM_URL}/no-such-node", "/restconf/data/no-such-module:thing",
                     "/restconf/data/ietf-netconf-acm:no-such-top"):
            r = rc.get(path)
            errors(r, r.status_code if r.status_code in (400, 404) else 400)
        errors(rc.get(f"{GROUPS}/group=nobody-here"), 404, "invalid-value", "data-missing")
        errors(rc.get("/restconf/no-such-resource"), 404)

        # A body of a media type RESTCONF does not take: 415; an Accept it cannot meet: 406.
        errors(rc.post(GROUPS, "name=x", ctype="text/plain"), 415)
        errors(rc.put(HOSTNAME, '{"ietf-system:hostname": "x"}', ctype="application/x-www-form-urlencoded"), 415)
        r = rc.get("/restconf/data/ietf-system:system", accept="text/plain")
        assert r.status_code == 406, (r.status_code, r.text)
        assert hostname(m) == "lifeline"

        # A body over 1 MiB: 413 too-big.
        big = json.dumps(entry("big", *[f"user{i:07d}" for i in range(80000)]))
        assert len(big) > (1 << 20) + 1000
        try:
            r = rc.post(GROUPS, big)
        except requests.ConnectionError as e:
            pytest.fail(f"the server closed the connection on a large body instead of answering 413: {e}")
        errors(r, 413, "too-big")
        assert "big" not in groups(m)

        # A method the resource does not take: 405, with Allow.
        for method, path in (("DELETE", "/restconf/yang-library-version"), ("PUT", "/restconf/operations"),
                             ("POST", "/restconf/yang-library-version"), ("DELETE", "/restconf")):
            r = rc.req(method, path, body="{}" if method in ("PUT", "POST") else None)
            assert r.status_code == 405, (method, path, r.status_code, r.text)
            assert "GET" in r.headers.get("Allow", ""), (method, path, r.headers)
        # The server still serves after all that.
        assert rc.get(HOSTNAME).json() == {"ietf-system:hostname": "lifeline"}


# --- authentication -------------------------------------------------------------------

def test_authentication_and_login_failure_event(daemon):
    rc = Rc(daemon)
    # No credentials: 401 with a Basic challenge and the errors body.
    r = rc.get(HOSTNAME, auth=None)
    errors(r, 401, "access-denied")
    assert "basic" in r.headers.get("WWW-Authenticate", "").lower(), r.headers
    status, headers, text = curl(rc, "GET", HOSTNAME, user=None)
    assert status == 401 and "basic" in headers.get("www-authenticate", "").lower(), (status, headers)
    assert "ietf-restconf:errors" in text, text

    with daemon.connect() as m:
        m.create_subscription()
        # A wrong password: 401, and the login-failure event from service https.
        r = rc.get(HOSTNAME, auth=("admin", "wrong"))
        errors(r, 401, "access-denied")
        assert "basic" in r.headers.get("WWW-Authenticate", "").lower(), r.headers
        got = notifications(m, lambda x: "login-failure" in x)
        fail = [g for g in got if "login-failure" in g]
        assert fail, got
        assert "<service>https</service>" in fail[0] and "<username>admin</username>" in fail[0], fail
        # An unknown user, through curl: the same.
        status, headers, text = curl(rc, "GET", HOSTNAME, user="mallory:secret")
        assert status == 401 and "basic" in headers.get("www-authenticate", "").lower(), (status, headers)
        got = notifications(m, lambda x: "login-failure" in x and "mallory" in x)
        fail = [g for g in got if "login-failure" in g and "<username>mallory</username>" in g]
        assert fail and "<service>https</service>" in fail[0], got

    # A bearer token from a login works; a made-up one does not.
    r = rc.s.post(f"{rc.base}/login", json={"username": "admin", "password": "admin"}, verify=rc.cert)
    assert r.status_code == 200, r.text
    token = r.json()["token"]
    r = rc.get(HOSTNAME, auth=None, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200 and r.json() == {"ietf-system:hostname": "lifeline"}, r.text
    errors(rc.get(HOSTNAME, auth=None, headers={"Authorization": "Bearer not-a-token"}), 401, "access-denied")


# --- NACM ---------------------------------------------------------------------------------

def test_nacm_for_a_read_only_operator(daemon):
    rc, op = Rc(daemon), Rc(daemon, "operator", "operator")
    cert = (daemon.state / "https-cert.pem").read_text()
    key = (daemon.state / "https-key.pem").read_text()
    esc = lambda s: s.replace("&", "&amp;").replace("<", "&lt;")  # noqa: E731
    with daemon.connect() as m:
        # The operator user, and the server's own certificate and key set in
        # the model (so the key, nacm:default-deny-all, is there to read).
        edit(m, OPERATOR + f'<management xmlns="{SYSM}"><https><certificate>{esc(cert)}</certificate>'
                           f'<private-key>{esc(key)}</private-key></https></management>')
        key_url = "/restconf/data/lifeline-system:management/https/private-key"
        r = rc.get(key_url)
        assert r.status_code == 200 and "PRIVATE KEY" in r.text, r.text

        # Reads NACM permits.
        r = op.get(HOSTNAME)
        assert r.status_code == 200 and r.json() == {"ietf-system:hostname": "lifeline"}, r.text
        r = op.get("/restconf/data/lifeline-system:management/https/certificate")
        assert r.status_code == 200 and "BEGIN CERTIFICATE" in r.text, r.text
        assert op.get(f"{GROUPS}/group=admin").status_code in (200, 403, 404)

        # The private key is not for the operator: 403, or absent.
        r = op.get(key_url)
        if r.status_code == 403:
            errors(r, 403, "access-denied")
        else:
            errors(r, 404)
        r = op.get("/restconf/data/lifeline-system:management/https")
        assert r.status_code == 200, r.text
        assert "private-key" not in r.text and "PRIVATE KEY" not in r.text, r.text
        r = op.get("/restconf/data")
        assert r.status_code == 200 and "PRIVATE KEY" not in r.text and "BEGIN CERTIFICATE" in r.text

        # Writes and operations: 403 access-denied, nothing changed.
        errors(op.put(HOSTNAME, {"ietf-system:hostname": "op"}), 403, "access-denied")
        errors(op.patch("/restconf/data/ietf-system:system", {"ietf-system:system": {"hostname": "op"}}),
               403, "access-denied")
        errors(op.post(GROUPS, entry("op-group", "op")), 403, "access-denied")
        errors(op.delete(f"{GROUPS}/group=admin"), 403, "access-denied")
        errors(op.delete(key_url), 403, "access-denied")
        errors(op.post("/restconf/operations/lifeline-system:rollback", {"lifeline-system:input": {"id": 1}}),
               403, "access-denied")
        assert hostname(m) == "lifeline"
        g = groups(m)
        assert "op-group" not in g and "admin" in g
        assert "PRIVATE KEY" in rc.get(key_url).text
        # The admin can do what the operator could not.
        r = rc.put(HOSTNAME, {"ietf-system:hostname": "admin-was-here"})
        assert r.status_code == 204, r.text
        assert hostname(m) == "admin-was-here"


# --- an action -----------------------------------------------------------------------------

def test_outlet_action_over_http_on_a_powerman_pdu(daemon, tmp_path):
    rc, op = Rc(daemon), Rc(daemon, "operator", "operator")
    with Powerman(tmp_path) as pm, daemon.connect() as m:
        edit(m, f'<power xmlns="{PW}"><device><name>pdu</name><powerman><host>127.0.0.1</host>'
                f'<port>{pm.port}</port></powerman><poll-interval>1</poll-interval><timeout>3</timeout>'
                f'<outlet><id>t1</id><name>router1</name></outlet></device></power>' + OPERATOR)
        dev = "/restconf/data/lifeline-power:power/device=pdu"
        wait_for("the PDU reachable over RESTCONF",
                 lambda: rc.get(f"{dev}/reachable").json() == {"lifeline-power:reachable": True})
        outlet = f"{dev}/outlet=t1"
        assert pm.query()["t1"] == "off"

        # on: 200 with the action's output, the plug on at the device.
        r = rc.post(f"{outlet}/on", {})
        assert r.status_code == 200, (r.status_code, r.text)
        assert r.json() == {"lifeline-power:output": {"state": "on"}}, r.text
        assert pm.query()["t1"] == "on"
        wait_for("t1 on over RESTCONF",
                 lambda: rc.get(f"{outlet}/state").json() == {"lifeline-power:state": "on"})
        [o] = rc.get(outlet).json()["lifeline-power:outlet"]
        assert o["id"] == "t1" and o["name"] == "router1" and o["state"] == "on", o

        # The operator may read it but not switch it.
        assert op.get(f"{outlet}/state").json() == {"lifeline-power:state": "on"}
        errors(op.post(f"{outlet}/off", {}), 403, "access-denied")
        assert pm.query()["t1"] == "on"

        # off through curl, no body at all, the output in XML.
        status, headers, text = curl(rc, "POST", f"{outlet}/off", "-H", f"Accept: {XML_T}")
        assert status == 200 and headers["content-type"].startswith(XML_T), (status, headers, text)
        x = etree.fromstring(text.encode())
        assert etree.QName(x).localname == "output" and x.findtext(f"{{{PW}}}state") == "off", text
        assert pm.query()["t1"] == "off"
        wait_for("t1 off over RESTCONF",
                 lambda: rc.get(f"{outlet}/state").json() == {"lifeline-power:state": "off"})
        # An action is only POSTed.
        r = rc.get(f"{outlet}/on")
        assert r.status_code == 405 and "POST" in r.headers.get("Allow", ""), (r.status_code, r.headers, r.text)
        assert pm.query()["t1"] == "off"


# --- event streams --------------------------------------------------------------------------

class Sse:
    """An event stream read on a thread: each event's joined data lines."""

    def __init__(self, rc, url):
        self.r = requests.get(url, stream=True, headers={"Accept": "text/event-stream"}, auth=rc.auth,
                              verify=rc.cert, timeout=(5, 120))
        self.events = queue.Queue()
        if self.r.status_code == 200:
            threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        buf = ""
        try:
            for chunk in self.r.iter_content(chunk_size=None):
                buf += chunk.decode()
                buf = buf.replace("\r\n", "\n")
                while "\n\n" in buf:
                    ev, buf = buf.split("\n\n", 1)
                    data = [l[5:][1:] if l[5:].startswith(" ") else l[5:]
                            for l in ev.split("\n") if l.startswith("data:")]
                    if data:
                        self.events.put("\n".join(data))
        except Exception:
            pass

    def wait(self, pred, timeout=10):
        seen, deadline = [], time.time() + timeout
        while time.time() < deadline:
            try:
                e = self.events.get(timeout=max(0.05, deadline - time.time()))
            except queue.Empty:
                break
            seen.append(e)
            if pred(e):
                return e, seen
        raise AssertionError(f"no such event; got {seen}")

    def close(self):
        # The reader thread is blocked in a read: shut the socket down under
        # it first, else close() waits for the server's next keep-alive.
        try:
            self.r.raw._fp.fp.raw._sock.shutdown(socket.SHUT_RDWR)
        except (AttributeError, OSError):
            pass
        self.r.close()


def test_notifications_as_server_sent_events(daemon):
    rc = Rc(daemon)
    t0 = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 5))
    r = rc.get("/restconf/data/ietf-restconf-monitoring:restconf-state/streams")
    assert r.status_code == 200, r.text
    [netconf] = [s for s in r.json()["ietf-restconf-monitoring:streams"]["stream"] if s["name"] == "NETCONF"]
    locs = {a["encoding"]: a["location"] for a in netconf["access"]}
    assert set(locs) >= {"xml", "json"}, netconf
    for enc, loc in locs.items():
        u = urlsplit(loc)
        assert u.scheme == "https" and u.port == daemon.https_port, loc
        assert u.path == f"/restconf/streams/NETCONF/{enc}", loc

    # XML: a change over RESTCONF arrives as one event holding the notification.
    xml = Sse(rc, locs["xml"])
    try:
        assert xml.r.status_code == 200, xml.r.text
        assert xml.r.headers["Content-Type"].startswith("text/event-stream"), xml.r.headers
        r = rc.patch("/restconf/data/ietf-system:system", {"ietf-system:system": {"hostname": "sse-xml"}})
        assert r.status_code == 204, r.text
        ev, _ = xml.wait(lambda e: "netconf-config-change" in e)
        n = etree.fromstring(ev.encode())
        assert n.tag == f"{{{NOTIF}}}notification", ev
        assert n.findtext(f"{{{NOTIF}}}eventTime"), ev
        change = n.find(f"{{{NCN}}}netconf-config-change")
        assert change is not None, ev
        assert change.findtext(f".//{{{NCN}}}username") == "admin", ev
    finally:
        xml.close()

    # JSON: a change over NETCONF.
    js = Sse(rc, locs["json"])
    try:
        assert js.r.status_code == 200 and js.r.headers["Content-Type"].startswith("text/event-stream")
        with daemon.connect() as m:
            edit(m, f'<system xmlns="{SYS}"><hostname>sse-json</hostname></system>')
        ev, _ = js.wait(lambda e: "netconf-config-change" in e)
        n = json.loads(ev)["ietf-restconf:notification"]
        assert n["eventTime"], n
        change = n["ietf-netconf-notifications:netconf-config-change"]
        assert change["changed-by"]["username"] == "admin", change
    finally:
        js.close()

    # start-time replays what happened since (RFC 8040 6.3, replay).
    replay = Sse(rc, f"{locs['json']}?start-time={quote(t0)}")
    try:
        assert replay.r.status_code == 200, replay.r.text
        changes = []
        while len(changes) < 2:
            ev, _ = replay.wait(lambda e: "netconf-config-change" in e, timeout=5)
            changes.append(json.loads(ev))
    finally:
        replay.close()


# --- locks --------------------------------------------------------------------------------

def test_netconf_lock_on_running_blocks_restconf_edits(daemon):
    rc = Rc(daemon)
    with daemon.connect() as m:
        m.lock("running")
        try:
            errors(rc.put(HOSTNAME, {"ietf-system:hostname": "locked-out"}), 409, "lock-denied")
            errors(rc.post(GROUPS, entry("locked", "x")), 409, "lock-denied")
            errors(rc.delete(f"{GROUPS}/group=operator"), 409, "lock-denied")
            # Reads go on.
            assert rc.get(HOSTNAME).json() == {"ietf-system:hostname": "lifeline"}
            assert hostname(m) == "lifeline" and "locked" not in groups(m) and "operator" in groups(m)
        finally:
            m.unlock("running")
        r = rc.put(HOSTNAME, {"ietf-system:hostname": "unlocked"})
        assert r.status_code == 204, r.text
        assert hostname(m) == "unlocked"


# --- slow and idle clients ------------------------------------------------------------

def test_slowloris_and_idle_connections_do_not_keep_requests_out(daemon):
    rc = Rc(daemon)
    port = daemon.https_port
    ctx = ssl.create_default_context(cafile=rc.cert)
    # 50 TCP connections that never send anything, from one address...
    idle = []
    for _ in range(50):
        s = socket.socket()
        s.bind(("127.0.0.2", 0))
        s.setblocking(False)
        s.connect_ex(("127.0.0.1", port))
        idle.append(s)
    # ...20 that finish the TLS handshake and then send no request, from another...
    tls_idle = []
    for _ in range(20):
        s = socket.socket()
        s.bind(("127.0.0.4", 0))
        s.settimeout(5)
        try:
            s.connect(("127.0.0.1", port))
            tls_idle.append(ctx.wrap_socket(s, server_hostname="127.0.0.1"))
        except OSError:
            s.close()  # refused at accept (over the per-source bound) is fine
    # ...and a slowloris: half the headers, then nothing.
    raw = socket.socket()
    raw.bind(("127.0.0.3", 0))
    raw.settimeout(5)
    raw.connect(("127.0.0.1", port))
    slow = ctx.wrap_socket(raw, server_hostname="127.0.0.1")
    cred = base64.b64encode(b"admin:admin").decode()
    slow.sendall(f"GET /restconf/yang-library-version HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                 f"Authorization: Basic {cred}\r\n".encode())
    t0 = time.monotonic()
    try:
        # Normal requests are served meanwhile, promptly.
        for _ in range(3):
            t = time.monotonic()
            r = requests.get(f"{rc.base}/restconf/yang-library-version", auth=rc.auth, verify=rc.cert, timeout=5)
            assert r.status_code == 200, r.text
            assert time.monotonic() - t < 2, f"a request took {time.monotonic() - t:.1f} s"
            with daemon.connect() as m:
                assert hostname(m) == "lifeline"
            time.sleep(0.5)
        # The slowloris is closed by the server within a bounded time.
        got = b""
        slow.settimeout(25)
        try:
            while True:
                b = slow.recv(4096)
                if not b:
                    break
                got += b
        except (ConnectionError, ssl.SSLError, socket.timeout, OSError):
            pass
        waited = time.monotonic() - t0
        assert waited < 15, f"the half-sent request was kept open {waited:.1f} s"
        assert b"200 OK" not in got, got
        # And still a normal request works.
        r = requests.get(f"{rc.base}/restconf/yang-library-version", auth=rc.auth, verify=rc.cert, timeout=5)
        assert r.status_code == 200, r.text
    finally:
        for s in idle + tls_idle + [slow]:
            s.close()


# --- YANG Patch ---------------------------------------------------------------------------

def test_yang_patch(daemon):
    rc = Rc(daemon)
    with daemon.connect() as m:
        edit(m, group_xml("yp-old", "o1"))
        patch = {"ietf-yang-patch:yang-patch": {"patch-id": "p1", "edit": [
            {"edit-id": "1", "operation": "create", "target": "/groups/group=yp-new",
             "value": entry("yp-new", "n1")},
            {"edit-id": "2", "operation": "merge", "target": "/groups/group=operator",
             "value": entry("operator", "m1")},
            {"edit-id": "3", "operation": "delete", "target": "/groups/group=yp-old"},
        ]}}
        r = rc.patch(NACM_URL, patch, ctype=PATCH_T, accept=JSON_T)
        assert r.status_code == 200, (r.status_code, r.text)
        status = r.json()["ietf-yang-patch:yang-patch-status"]
        assert status["patch-id"] == "p1" and status.get("ok") == [None], status
        g = groups(m)
        assert g["yp-new"] == ["n1"] and "m1" in g["operator"] and "yp-old" not in g, g

        # An edit that fails (create what is there) fails the whole patch: 409,
        # the failing edit named, nothing of the others applied.
        before = m.get_config(source="running").data_xml
        patch = {"ietf-yang-patch:yang-patch": {"patch-id": "p2", "edit": [
            {"edit-id": "a", "operation": "create", "target": "/groups/group=yp-two",
             "value": entry("yp-two", "t1")},
            {"edit-id": "b", "operation": "merge", "target": "/groups/group=operator",
             "value": entry("operator", "m2")},
            {"edit-id": "c", "operation": "create", "target": "/groups/group=admin",
             "value": entry("admin", "intruder")},
        ]}}
        r = rc.patch(NACM_URL, patch, ctype=PATCH_T, accept=JSON_T)
        assert r.status_code == 409, (r.status_code, r.text)
        status = r.json()["ietf-yang-patch:yang-patch-status"]
        assert status["patch-id"] == "p2" and "ok" not in status, status
        edits = status.get("edit-status", {}).get("edit", [])
        failed = [e for e in edits if e.get("errors")]
        if failed:
            assert failed[0]["edit-id"] == "c", status
            assert failed[0]["errors"]["error"][0]["error-tag"] == "data-exists", status
        else:
            assert status["errors"]["error"][0]["error-tag"] == "data-exists", status
        assert m.get_config(source="running").data_xml == before
        g = groups(m)
        assert "yp-two" not in g and "m2" not in g["operator"] and "intruder" not in g["admin"], g
