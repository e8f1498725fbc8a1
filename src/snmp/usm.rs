//! The User-based Security Model (RFC 3414): key localisation, HMAC
//! authentication (MD5, SHA-1 and the SHA-2 family of RFC 7860) and privacy
//! (DES-CBC of RFC 3414, AES-128-CFB of RFC 3826).
use aes::cipher::{BlockCipherDecrypt, BlockCipherEncrypt, KeyInit};
use hmac::{Hmac, Mac};
use sha2::Digest;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthProto {
    Md5,
    Sha1,
    Sha224,
    Sha256,
    Sha384,
    Sha512,
}

impl AuthProto {
    /// The length of the truncated MAC carried in msgAuthenticationParameters.
    pub fn mac_len(self) -> usize {
        match self {
            AuthProto::Md5 | AuthProto::Sha1 => 12,
            AuthProto::Sha224 => 16,
            AuthProto::Sha256 => 24,
            AuthProto::Sha384 => 32,
            AuthProto::Sha512 => 48,
        }
    }

    /// The length of a localized key (the digest's length).
    pub fn key_len(self) -> usize {
        match self {
            AuthProto::Md5 => 16,
            AuthProto::Sha1 => 20,
            AuthProto::Sha224 => 28,
            AuthProto::Sha256 => 32,
            AuthProto::Sha384 => 48,
            AuthProto::Sha512 => 64,
        }
    }

    fn digest(self, parts: &[&[u8]]) -> Vec<u8> {
        fn run<D: Digest>(parts: &[&[u8]]) -> Vec<u8> {
            let mut d = D::new();
            for p in parts {
                d.update(p);
            }
            d.finalize().to_vec()
        }
        match self {
            AuthProto::Md5 => run::<md5::Md5>(parts),
            AuthProto::Sha1 => run::<sha1::Sha1>(parts),
            AuthProto::Sha224 => run::<sha2::Sha224>(parts),
            AuthProto::Sha256 => run::<sha2::Sha256>(parts),
            AuthProto::Sha384 => run::<sha2::Sha384>(parts),
            AuthProto::Sha512 => run::<sha2::Sha512>(parts),
        }
    }

    /// The full HMAC under `key` of the concatenated `parts`.
    pub fn hmac(self, key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
        fn run<M: Mac + KeyInit>(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
            // HMAC takes keys of any length.
            let mut m = <M as KeyInit>::new_from_slice(key).expect("HMAC accepts any key length");
            for p in parts {
                m.update(p);
            }
            m.finalize().into_bytes().to_vec()
        }
        match self {
            AuthProto::Md5 => run::<Hmac<md5::Md5>>(key, parts),
            AuthProto::Sha1 => run::<Hmac<sha1::Sha1>>(key, parts),
            AuthProto::Sha224 => run::<Hmac<sha2::Sha224>>(key, parts),
            AuthProto::Sha256 => run::<Hmac<sha2::Sha256>>(key, parts),
            AuthProto::Sha384 => run::<Hmac<sha2::Sha384>>(key, parts),
            AuthProto::Sha512 => run::<Hmac<sha2::Sha512>>(key, parts),
        }
    }

    /// The truncated MAC of a whole message as it is with its MAC field, at
    /// `off`, blank (RFC 3414 6.3.1), without copying the message.
    pub fn mac(self, key: &[u8], msg: &[u8], off: usize) -> Vec<u8> {
        let n = self.mac_len();
        let end = (off + n).min(msg.len());
        let off = off.min(end);
        let mut m = self.hmac(key, &[&msg[..off], &[0u8; 48][..end - off], &msg[end..]]);
        m.truncate(n);
        m
    }

    /// RFC 3414 A.2: the user's key Ku from a passphrase (1 MiB of it, hashed).
    pub fn password_to_key(self, password: &[u8]) -> Vec<u8> {
        if password.is_empty() {
            return Vec::new();
        }
        let mut buf = Vec::with_capacity(1 << 20);
        while buf.len() < 1 << 20 {
            let n = password.len().min((1 << 20) - buf.len());
            buf.extend_from_slice(&password[..n]);
        }
        self.digest(&[&buf])
    }

    /// RFC 3414 A.2: Kul = H(Ku || engineID || Ku).
    pub fn localize(self, ku: &[u8], engine_id: &[u8]) -> Vec<u8> {
        self.digest(&[ku, engine_id, ku])
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrivProto {
    Des,
    Aes128,
}

impl PrivProto {
    /// How many bytes of the localized key the cipher uses (key and, for DES, pre-IV).
    pub fn key_len(self) -> usize {
        16
    }
}

/// Why a message could not be decrypted.
#[derive(Debug)]
pub struct DecryptionError;

/// Encrypts a ScopedPDU. `salt` is the 8-byte msgPrivacyParameters the
/// receiver needs; `boots`/`time` are the authoritative engine's.
pub fn encrypt(
    proto: PrivProto,
    key: &[u8],
    boots: u32,
    time: u32,
    salt: [u8; 8],
    plain: &[u8],
) -> Vec<u8> {
    match proto {
        PrivProto::Des => {
            let mut iv = [0u8; 8];
            for i in 0..8 {
                iv[i] = key[8 + i] ^ salt[i];
            }
            let des = des::Des::new_from_slice(&key[..8]).expect("an 8-byte DES key");
            let mut out = plain.to_vec();
            out.resize(plain.len().div_ceil(8) * 8, 0);
            let mut prev = iv;
            for chunk in out.chunks_mut(8) {
                for (c, p) in chunk.iter_mut().zip(prev) {
                    *c ^= p;
                }
                let mut b = des::cipher::Block::<des::Des>::default();
                b.copy_from_slice(chunk);
                des.encrypt_block(&mut b);
                chunk.copy_from_slice(&b);
                prev.copy_from_slice(chunk);
            }
            out
        }
        PrivProto::Aes128 => {
            let mut out = plain.to_vec();
            aes_cfb(key, &aes_iv(boots, time, salt), &mut out, true);
            out
        }
    }
}

pub fn decrypt(
    proto: PrivProto,
    key: &[u8],
    boots: u32,
    time: u32,
    privacy: &[u8],
    cipher: &[u8],
) -> Result<Vec<u8>, DecryptionError> {
    let salt: [u8; 8] = privacy.try_into().map_err(|_| DecryptionError)?;
    match proto {
        PrivProto::Des => {
            if !cipher.len().is_multiple_of(8) || cipher.is_empty() {
                return Err(DecryptionError);
            }
            let mut prev = [0u8; 8];
            for i in 0..8 {
                prev[i] = key[8 + i] ^ salt[i];
            }
            let des = des::Des::new_from_slice(&key[..8]).map_err(|_| DecryptionError)?;
            let mut out = cipher.to_vec();
            for chunk in out.chunks_mut(8) {
                let mut b = des::cipher::Block::<des::Des>::default();
                b.copy_from_slice(chunk);
                let this: [u8; 8] = b.into();
                des.decrypt_block(&mut b);
                for i in 0..8 {
                    chunk[i] = b[i] ^ prev[i];
                }
                prev = this;
            }
            Ok(out)
        }
        PrivProto::Aes128 => {
            let mut out = cipher.to_vec();
            aes_cfb(key, &aes_iv(boots, time, salt), &mut out, false);
            Ok(out)
        }
    }
}

fn aes_iv(boots: u32, time: u32, salt: [u8; 8]) -> [u8; 16] {
    let mut iv = [0u8; 16];
    iv[..4].copy_from_slice(&boots.to_be_bytes());
    iv[4..8].copy_from_slice(&time.to_be_bytes());
    iv[8..].copy_from_slice(&salt);
    iv
}

/// AES-128 in 128-bit cipher feedback mode, in place.
fn aes_cfb(key: &[u8], iv: &[u8; 16], data: &mut [u8], encrypting: bool) {
    let aes = aes::Aes128::new_from_slice(&key[..16]).expect("a 16-byte AES key");
    let mut reg = aes::Block::default();
    reg.copy_from_slice(iv);
    for chunk in data.chunks_mut(16) {
        let mut ks = reg;
        aes.encrypt_block(&mut ks);
        for (i, c) in chunk.iter_mut().enumerate() {
            let before = *c;
            *c ^= ks[i];
            reg[i] = if encrypting { *c } else { before };
        }
    }
}

/// Compares MACs in constant time.
pub fn mac_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |d, (x, y)| d | (x ^ y)) == 0
}

/// Parses a hex key as `yang:hex-string` writes it ("0a:1b:..."), or plain hex.
pub fn parse_hex(s: &str) -> Option<Vec<u8>> {
    let digits: String = s.chars().filter(|c| *c != ':').collect();
    if !digits.len().is_multiple_of(2) {
        return None;
    }
    (0..digits.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(digits.get(i..i + 2)?, 16).ok())
        .collect()
}

pub fn to_hex(b: &[u8]) -> String {
    b.iter()
        .map(|x| format!("{x:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        parse_hex(&s.replace(' ', "")).unwrap()
    }

    #[test]
    fn rfc3414_key_localisation_vectors() {
        let engine = hex("000000000000000000000002");
        let ku = AuthProto::Md5.password_to_key(b"maplesyrup");
        assert_eq!(ku, hex("9faf3283884e92834ebc9847d8edd963"));
        assert_eq!(
            AuthProto::Md5.localize(&ku, &engine),
            hex("526f5eed9fcce26f8964c2930787d82b")
        );
        let ku = AuthProto::Sha1.password_to_key(b"maplesyrup");
        assert_eq!(ku, hex("9fb5cc0381497b3793528939ff788d5d79145211"));
        assert_eq!(
            AuthProto::Sha1.localize(&ku, &engine),
            hex("6695febc9288e36282235fc7151f128497b38f3f")
        );
    }

    #[test]
    fn ciphers_round_trip() {
        let key = (0u8..32).collect::<Vec<_>>();
        let plain = b"a scoped PDU of some odd length!!!".to_vec();
        for p in [PrivProto::Des, PrivProto::Aes128] {
            let c = encrypt(p, &key, 3, 99, [7; 8], &plain);
            assert_ne!(&c[..plain.len()], &plain[..]);
            let d = decrypt(p, &key, 3, 99, &[7; 8], &c).unwrap();
            assert_eq!(&d[..plain.len()], &plain[..]);
        }
        assert!(decrypt(PrivProto::Des, &key, 0, 0, &[0; 8], &[1, 2, 3]).is_err());
        assert!(decrypt(PrivProto::Aes128, &key, 0, 0, &[0; 7], &[1, 2, 3]).is_err());
    }

    #[test]
    fn the_mac_field_is_blank_whatever_it_holds() {
        let key = [9u8; 20];
        let mut msg = vec![1u8; 100];
        msg[40..52].fill(0);
        let blank = AuthProto::Sha1.mac(&key, &msg, 40);
        msg[40..52].copy_from_slice(&blank);
        assert_eq!(AuthProto::Sha1.mac(&key, &msg, 40), blank);
        assert_eq!(blank.len(), 12);
    }

    #[test]
    fn hex_keys() {
        assert_eq!(parse_hex("0a:FF:00"), Some(vec![10, 255, 0]));
        assert_eq!(parse_hex("0aff"), Some(vec![10, 255]));
        assert_eq!(parse_hex("0a:f"), None);
        assert_eq!(to_hex(&[1, 171]), "01:ab");
    }
}
