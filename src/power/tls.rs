//! TLS for devices that upgrade their connection (NUT's STARTTLS), over
//! rustls. With a CA file the server's certificate is verified against it and
//! the host name; without one the channel is encrypted but the server is not
//! authenticated (as upsmon's CERTVERIFY 0), which the model says.
use std::path::Path;
use std::sync::Arc;

use tokio_rustls::rustls::client::danger::{
    HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier,
};
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use tokio_rustls::rustls::{
    self, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};

use super::{DriverError, Io};

/// Accepts any certificate (no CA configured).
#[derive(Debug)]
struct Unverified(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for Unverified {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// The TLS client handshake over an open connection.
pub async fn connect(
    io: Box<dyn Io>,
    host: &str,
    ca: Option<&Path>,
) -> Result<Box<dyn Io>, DriverError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| DriverError::Invalid(format!("TLS: {e}")))?;
    let config = match ca {
        Some(path) => {
            let pem = std::fs::read(path)
                .map_err(|e| DriverError::Invalid(format!("{}: {e}", path.display())))?;
            let mut roots = RootCertStore::empty();
            for cert in rustls_pemfile::certs(&mut &pem[..]) {
                let cert =
                    cert.map_err(|e| DriverError::Invalid(format!("{}: {e}", path.display())))?;
                roots
                    .add(cert)
                    .map_err(|e| DriverError::Invalid(format!("{}: {e}", path.display())))?;
            }
            builder.with_root_certificates(roots).with_no_client_auth()
        }
        None => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(Unverified(provider)))
            .with_no_client_auth(),
    };
    let name = ServerName::try_from(host.to_string())
        .map_err(|_| DriverError::Invalid(format!("{host} is not a TLS server name")))?;
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, io)
        .await
        .map_err(|e| DriverError::Refused(format!("TLS handshake: {e}")))?;
    Ok(Box::new(tls))
}
