//! Users, passwords and keys from `ietf-system`, checked at login; NACM.
pub mod nacm;

use yang5::data::Data;

use crate::datastore::tree::{self, Tree};

/// The `user` list entry path of a user name (quoted safely for libyang).
fn user_path(user: &str) -> Option<String> {
    // A login name arrives unauthenticated from the network: refuse what no
    // configured user can be called before it reaches libyang.
    if user.is_empty()
        || user.chars().any(char::is_control)
        || (user.contains('\'') && user.contains('"'))
    {
        return None;
    }
    let q = if user.contains('\'') {
        format!("\"{user}\"")
    } else {
        format!("'{user}'")
    };
    Some(format!("/ietf-system:system/authentication/user[name={q}]"))
}

fn user_enabled(running: &Tree, base: &str) -> bool {
    tree::find(running, &format!("{base}/lifeline-aaa:enabled"))
        .and_then(|n| n.value_canonical())
        .is_none_or(|v| v == "true")
}

/// Whether `user` exists and may log in.
pub fn user_active(running: &Tree, user: &str) -> bool {
    user_path(user).is_some_and(|base| tree::exists(running, &base) && user_enabled(running, &base))
}

/// Checks a password against the user's `iana-crypt-hash` value.
pub fn check_password(running: &Tree, user: &str, password: &str) -> bool {
    let Some(base) = user_path(user) else {
        return false;
    };
    if !user_enabled(running, &base) {
        return false;
    }
    let Some(hash) =
        tree::find(running, &format!("{base}/password")).and_then(|n| n.value_canonical())
    else {
        return false;
    };
    verify_crypt_hash(&hash, password)
}

/// `$0$` is clear text (RFC 7317 allows it on input); `$1$`, `$5$`, `$6$` are crypt(3).
pub fn verify_crypt_hash(hash: &str, password: &str) -> bool {
    if let Some(clear) = hash.strip_prefix("$0$") {
        return constant_time_eq(clear.as_bytes(), password.as_bytes());
    }
    pwhash::unix::verify(password, hash)
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The user's authorized keys as (algorithm, base64 key data).
pub fn authorized_keys(running: &Tree, user: &str) -> Vec<(String, String)> {
    let Some(base) = user_path(user) else {
        return Vec::new();
    };
    if !user_enabled(running, &base) {
        return Vec::new();
    }
    let Ok(set) = running.find_xpath(&format!("{base}/authorized-key")) else {
        return Vec::new();
    };
    set.filter_map(|k| {
        let get = |leaf: &str| {
            k.children()
                .find(|c| c.schema().name() == leaf)
                .and_then(|c| c.value_canonical())
        };
        Some((get("algorithm")?, get("key-data")?))
    })
    .collect()
}

/// What a user may do on a console port; ordered, so the most of several grants wins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Access {
    None,
    ReadOnly,
    ReadWrite,
}

impl Access {
    pub fn as_str(self) -> &'static str {
        match self {
            Access::None => "none",
            Access::ReadOnly => "read-only",
            Access::ReadWrite => "read-write",
        }
    }
}

/// What `user` may do on console port `port`: the most that any of the user's
/// groups is granted, on all ports or on this one (`grants` are the port's own).
pub fn console_access(running: &Tree, user: &str, grants: &[(String, Access)]) -> Access {
    let groups = nacm::member_of(running, user);
    let mut best = Access::None;
    for g in &groups {
        let q = if g.contains('\'') { '"' } else { '\'' };
        let all = tree::find(
            running,
            &format!(
                "/ietf-netconf-acm:nacm/groups/group[name={q}{g}{q}]/lifeline-aaa:console-access/all-ports"
            ),
        )
        .and_then(|n| n.value_canonical());
        best = best.max(crate::ports::config::access(
            all.as_deref().unwrap_or("none"),
        ));
        for (name, a) in grants {
            if name == g {
                best = best.max(*a);
            }
        }
    }
    best
}

/// The SSH shell a user lands in (`lifeline-aaa:shell`): true for the port chooser.
pub fn pmshell_user(running: &Tree, user: &str) -> bool {
    user_path(user)
        .and_then(|base| tree::find(running, &format!("{base}/lifeline-aaa:shell")))
        .and_then(|n| n.value_canonical())
        .is_some_and(|v| v == "pmshell")
}

/// Hashes a password as SHA-512 crypt, the form stored in the configuration.
pub fn hash_password(password: &str) -> String {
    pwhash::sha512_crypt::hash(password).unwrap_or_else(|_| format!("$0${password}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crypt_hashes_verify() {
        let h = hash_password("s3cret");
        assert!(h.starts_with("$6$"));
        assert!(verify_crypt_hash(&h, "s3cret"));
        assert!(!verify_crypt_hash(&h, "wrong"));
        assert!(verify_crypt_hash("$0$plain", "plain"));
        assert!(!verify_crypt_hash("$0$plain", "plai"));
        assert!(!verify_crypt_hash("garbage", "x"));
        assert!(user_path("ad\0min").is_none());
        assert!(user_path("").is_none());
        assert_eq!(
            user_path("o'brien").unwrap(),
            "/ietf-system:system/authentication/user[name=\"o'brien\"]"
        );
    }
}
