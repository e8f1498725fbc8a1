//! The HTTPS server's certificate: the one the model gives
//! (`management/https/certificate` and `private-key`), else a self-signed one
//! made on first boot and kept in the state directory. A commit swaps it for
//! new handshakes; connections already open keep theirs.
use std::path::Path;
use std::sync::Arc;

use parking_lot::RwLock;
use tokio_rustls::rustls::crypto::ring;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::server::{ClientHello, ResolvesServerCert};
use tokio_rustls::rustls::sign::CertifiedKey;
use tokio_rustls::rustls::{self, ServerConfig};

/// The file names of the first-boot certificate in the state directory.
pub const CERT_FILE: &str = "https-cert.pem";
pub const KEY_FILE: &str = "https-key.pem";

/// The certificate handshakes present now.
#[derive(Debug)]
pub struct Certs {
    current: RwLock<Arc<CertifiedKey>>,
    /// The first-boot certificate, served when the model names none.
    own: Arc<CertifiedKey>,
}

impl ResolvesServerCert for Certs {
    fn resolve(&self, _: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.read().clone())
    }
}

impl Certs {
    /// The first-boot certificate of `state_dir`, made now if there is none.
    pub fn load(state_dir: &Path) -> anyhow::Result<Arc<Certs>> {
        let (cert, key) = (state_dir.join(CERT_FILE), state_dir.join(KEY_FILE));
        let pair = match (
            std::fs::read_to_string(&cert),
            std::fs::read_to_string(&key),
        ) {
            (Ok(c), Ok(k)) => (c, k),
            _ => {
                let (c, k) = self_signed()?;
                // The key first: a certificate on disk always has its key.
                crate::datastore::persist::write_atomic(&key, k.as_bytes())?;
                crate::datastore::persist::write_atomic(&cert, c.as_bytes())?;
                (c, k)
            }
        };
        let own = Arc::new(certified(&pair.0, &pair.1).map_err(anyhow::Error::msg)?);
        Ok(Arc::new(Certs {
            current: RwLock::new(own.clone()),
            own,
        }))
    }

    /// Serves `key` from now on; `None` goes back to the first-boot one.
    pub fn set(&self, key: Option<Arc<CertifiedKey>>) {
        *self.current.write() = key.unwrap_or_else(|| self.own.clone());
    }

    /// The server configuration: TLS 1.2 and 1.3, HTTP/1.1 by ALPN.
    pub fn server_config(self: &Arc<Self>) -> Arc<ServerConfig> {
        let mut config = ServerConfig::builder_with_provider(Arc::new(ring::default_provider()))
            .with_safe_default_protocol_versions()
            .expect("ring supports the default versions")
            .with_no_client_auth()
            .with_cert_resolver(self.clone());
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Arc::new(config)
    }
}

/// A self-signed certificate for this host: its name, localhost and the
/// loopback addresses.
fn self_signed() -> anyhow::Result<(String, String)> {
    let mut names = vec!["localhost".to_string(), "127.0.0.1".into(), "::1".into()];
    if let Ok(h) = nix::unistd::gethostname()
        && let Some(h) = h.to_str()
        && !h.is_empty()
        && h != "localhost"
    {
        names.push(h.to_string());
    }
    let made = rcgen::generate_simple_self_signed(names)?;
    Ok((made.cert.pem(), made.signing_key.serialize_pem()))
}

/// A certificate chain and its key from PEM, checked to belong together.
pub fn certified(cert_pem: &str, key_pem: &str) -> Result<CertifiedKey, String> {
    let chain: Vec<CertificateDer<'static>> = rustls_pemfile::certs(&mut cert_pem.as_bytes())
        .collect::<Result<_, _>>()
        .map_err(|e| format!("the certificate is not PEM: {e}"))?;
    if chain.is_empty() {
        return Err("the certificate holds no CERTIFICATE block".into());
    }
    let key: PrivateKeyDer<'static> = rustls_pemfile::private_key(&mut key_pem.as_bytes())
        .map_err(|e| format!("the private key is not PEM: {e}"))?
        .ok_or("the private key holds no PRIVATE KEY block")?;
    let signer = ring::sign::any_supported_type(&key)
        .map_err(|e| format!("the private key cannot sign: {e}"))?;
    let ck = CertifiedKey::new(chain, signer);
    ck.keys_match().map_err(|e| match e {
        rustls::Error::InconsistentKeys(_) => {
            "the private key does not belong to the certificate".to_string()
        }
        e => format!("the certificate and key do not fit: {e}"),
    })?;
    Ok(ck)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_boot_makes_a_certificate_and_keeps_it() {
        let dir = std::env::temp_dir().join(format!("ll-tls-{}", rand::random::<u32>()));
        std::fs::create_dir_all(&dir).unwrap();
        let a = Certs::load(&dir).unwrap();
        let pem = std::fs::read_to_string(dir.join(CERT_FILE)).unwrap();
        let b = Certs::load(&dir).unwrap();
        assert_eq!(pem, std::fs::read_to_string(dir.join(CERT_FILE)).unwrap());
        assert_eq!(
            a.own.cert, b.own.cert,
            "the same certificate after a restart"
        );
        let (c2, k2) = self_signed().unwrap();
        assert!(certified(&c2, &k2).is_ok());
        let err = certified(&pem, &k2).unwrap_err();
        assert!(err.contains("does not belong"), "{err}");
        assert!(certified("junk", &k2).is_err());
        std::fs::remove_dir_all(dir).unwrap();
    }
}
