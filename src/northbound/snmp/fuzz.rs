//! The entry point of the `snmp` fuzz target (`fuzz/`), also run over its seed
//! corpus by the unit tests: any datagram through the whole agent (message
//! decoding, community and USM checks, decryption, VACM, the PDU operations).
use std::sync::{Arc, OnceLock};

use super::agent::{Agent, Outcome, Runtime};
use super::ber::{Oid, Value};
use super::config::{CommunityEntry, Config, Level, MODEL_USM, MODEL_V1, MODEL_V2C, User};
use super::message::{self, FLAG_AUTH, Message};
use super::mib::{Cell, Conv, Live, Mib, Writable};
use super::usm::{AuthProto, PrivProto};
use super::vacm::{Access, Group, View};

/// The demo's engine ID and the SHA key of passphrase `adminadmin` localized to it,
/// so recorded demo traffic authenticates.
const ENGINE: &[u8] = b"\x80\x00\x1f\x88\x04lifeline";

fn agent() -> &'static Agent {
    static AGENT: OnceLock<Agent> = OnceLock::new();
    AGENT.get_or_init(|| {
        let mut c = Config {
            enabled: true,
            v1: true,
            v2c: true,
            v3: true,
            ..Default::default()
        };
        c.communities.push(CommunityEntry {
            name: b"public".to_vec(),
            security_name: "public".into(),
            context: String::new(),
        });
        let sha = AuthProto::Sha1.localize(&AuthProto::Sha1.password_to_key(b"adminadmin"), ENGINE);
        let md5 = AuthProto::Md5.localize(&AuthProto::Md5.password_to_key(b"adminadmin"), ENGINE);
        for (name, auth, privacy) in [
            (
                "admin",
                Some((AuthProto::Sha1, sha.clone())),
                Some((PrivProto::Aes128, sha.clone())),
            ),
            (
                "des",
                Some((AuthProto::Md5, md5.clone())),
                Some((PrivProto::Des, md5)),
            ),
            ("plain", None, None),
        ] {
            c.users.insert(
                name.as_bytes().to_vec(),
                User {
                    name: name.into(),
                    auth,
                    privacy,
                },
            );
        }
        c.vacm
            .views
            .insert("all".into(), View::new(&["1".into()], &[]).unwrap());
        c.vacm.groups.push(Group {
            name: "g".into(),
            members: vec![
                ("public".into(), vec![MODEL_V1, MODEL_V2C]),
                ("admin".into(), vec![MODEL_USM]),
                ("des".into(), vec![MODEL_USM]),
                ("plain".into(), vec![MODEL_USM]),
            ],
            access: vec![Access {
                context: String::new(),
                prefix: false,
                model: None,
                level: Level::NoAuthNoPriv,
                read: Some("all".into()),
                write: Some("all".into()),
                notify: None,
            }],
        });
        let mut objects = std::collections::BTreeMap::new();
        for i in 1..40u32 {
            objects.insert(
                Oid(vec![1, 3, 6, 1, 2, 1, 1, i, 0]),
                Cell::Value(Value::octets(&"x".repeat(i as usize * 7))),
            );
            objects.insert(
                Oid(vec![1, 3, 6, 1, 2, 1, 2, 2, 1, 10, i]),
                Cell::Value(Value::Counter64(u64::MAX / i as u64)),
            );
        }
        objects.insert(
            Oid(vec![1, 3, 6, 1, 2, 1, 1, 3, 0]),
            Cell::Live(Live::SysUpTime),
        );
        let writable = [(
            Oid(vec![1, 3, 6, 1, 2, 1, 1, 5, 0]),
            Writable {
                path: "/ietf-system:system/hostname".into(),
                conv: Conv::Str,
            },
        )]
        .into_iter()
        .collect();
        Agent::new(
            Runtime {
                config: c,
                engine_id: ENGINE.to_vec(),
            },
            1,
            Arc::new(Mib::fixed(objects, writable)),
        )
    })
}

/// One datagram. When the first byte is odd, a v3 message of a known user gets
/// its MAC recomputed first, so the fuzzer reaches decryption and the PDU.
pub fn message(data: &[u8]) {
    let Some((&mode, data)) = data.split_first() else {
        return;
    };
    let a = agent();
    let mut packet = data.to_vec();
    if mode & 1 == 1
        && let Ok(Message::V3(m)) = message::decode(data)
        && m.flags & FLAG_AUTH != 0
    {
        let rt = a.runtime.read().clone();
        if let Some((proto, key)) = rt.config.users.get(m.usm.user).and_then(|u| u.auth.clone()) {
            let off = m.usm.auth_offset;
            if m.usm.auth.len() == proto.mac_len() {
                let mac = proto.mac(&key, &packet, off);
                packet[off..off + mac.len()].copy_from_slice(&mac);
            }
        }
    }
    match a.handle(&packet) {
        Outcome::Reply(r) => {
            assert!(r.len() <= super::agent::MAX_MESSAGE);
            assert!(message::decode(&r).is_ok(), "our reply must decode");
        }
        Outcome::Set(job) => {
            let _ = a.finish_set(job, Ok(()));
        }
        Outcome::Drop | Outcome::AuthFailure => {}
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn seed_corpus_runs_clean() {
        let seeds = crate::seed_corpus("snmp");
        assert!(seeds.len() >= 5);
        for s in seeds {
            super::message(&s);
        }
    }
}
