//! A local certificate authority and per-service certificates for testing mutual TLS without
//! MarbleRun (`neosl dev-certs`). Each service certificate names the service in its first DNS SAN
//! (then `localhost`, as MarbleRun does) and CN, which is how peers identify it; it is valid for both server and client authentication.

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose, date_time_ymd,
};

/// A certificate and its private key, PEM-encoded.
#[derive(Clone)]
pub struct PemPair {
    /// The certificate.
    pub cert_pem: String,
    /// The private key (PKCS#8).
    pub key_pem: zeroize::Zeroizing<String>,
}

impl std::fmt::Debug for PemPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PemPair")
            .field("cert_pem", &self.cert_pem)
            .field("key_pem", &"[REDACTED]")
            .finish()
    }
}

/// A development CA.
pub struct DevCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
    key_pem: zeroize::Zeroizing<String>,
}

/// Validity of generated certificates.
#[derive(Debug, Clone, Copy)]
pub enum Validity {
    /// From last year to ten years ahead.
    Current,
    /// Expired long ago (for tests).
    Expired,
}

fn this_year() -> i32 {
    let secs = crate::error::unix_seconds();
    1970 + (secs / 31_556_952) as i32
}

fn apply_validity(params: &mut CertificateParams, validity: Validity) {
    let year = this_year();
    let (from, to) = match validity {
        Validity::Current => (year - 1, year + 10),
        Validity::Expired => (2000, 2001),
    };
    params.not_before = date_time_ymd(from, 1, 1);
    params.not_after = date_time_ymd(to, 1, 1);
}

impl DevCa {
    /// A new self-signed CA named `name`.
    pub fn generate(name: &str) -> Result<Self, rcgen::Error> {
        let key = KeyPair::generate()?;
        let key_pem = zeroize::Zeroizing::new(key.serialize_pem());
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, name);
        dn.push(DnType::OrganizationName, "Neo Service Layer development");
        params.distinguished_name = dn;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        apply_validity(&mut params, Validity::Current);
        let issuer = CertifiedIssuer::self_signed(params, key)?;
        Ok(Self { issuer, key_pem })
    }

    /// The CA certificate, PEM.
    pub fn cert_pem(&self) -> String {
        self.issuer.pem()
    }

    /// The CA's private key, PEM (written only by `neosl dev-certs`, owner-only).
    pub fn key_pem(&self) -> &str {
        &self.key_pem
    }

    /// Issues a certificate for service `name` (DNS SANs `name` and `localhost`, as MarbleRun
    /// issues them, so one-service-per-process set-ups on one machine can dial `localhost`; CN =
    /// `name`). Identity is the first SAN other than `localhost`.
    pub fn issue(&self, name: &str, validity: Validity) -> Result<PemPair, rcgen::Error> {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::new(vec![name.to_owned(), "localhost".to_owned()])?;
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, name);
        params.distinguished_name = dn;
        params.is_ca = IsCa::NoCa;
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        apply_validity(&mut params, validity);
        let cert = params.signed_by(&key, &self.issuer)?;
        Ok(PemPair {
            cert_pem: cert.pem(),
            key_pem: zeroize::Zeroizing::new(key.serialize_pem()),
        })
    }
}
