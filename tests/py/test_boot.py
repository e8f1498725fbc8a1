"""Booting from factory files in both instance-data formats."""
import json
import re

from conftest import Daemon


def test_json_factory_config(tmp_path):
    d = Daemon(tmp_path)
    port = d.port
    doc = {
        "ietf-system:system": {
            "hostname": "from-json",
            "authentication": {"user": [{"name": "admin", "password": "$0$admin"}]},
        },
        "ietf-netconf-acm:nacm": {
            "groups": {"group": [{"name": "admin", "user-name": ["admin"]}]},
            "rule-list": [{"name": "admin", "group": ["admin"], "rule": [
                {"name": "all", "module-name": "*", "access-operations": "*", "action": "permit"}]}],
        },
        "lifeline-system:management": {
            "netconf": {"endpoint": [{"name": "lo", "address": "127.0.0.1", "port": port}]},
        },
    }
    d.factory.write_text(json.dumps(doc))
    d.start()
    try:
        with d.connect() as m:
            data = m.get_config(source="running").data_xml
            assert "<hostname>from-json</hostname>" in data
    finally:
        d.stop()


def test_endpoint_moves_on_commit(tmp_path):
    from conftest import free_port
    d = Daemon(tmp_path).start()
    new_port = free_port()
    try:
        with d.connect() as m:
            cfg = m.get_config(source="running",
                               filter=("subtree", '<management xmlns="urn:lifeline:params:xml:ns:yang:lifeline-system"/>')).data_xml
            name = re.search(r"<netconf>.*?<endpoint><name>([^<]+)</name>", cfg, re.S).group(1)
            m.edit_config(target="running", config=(
                '<config><management xmlns="urn:lifeline:params:xml:ns:yang:lifeline-system"><netconf>'
                f'<endpoint><name>{name}</name><port>{new_port}</port></endpoint></netconf></management></config>'))
        d.port = new_port
        with d.connect() as m:
            assert m.connected
    finally:
        d.stop()
