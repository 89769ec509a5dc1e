//! A throwaway PKI for development, demos and tests, made with rcgen: a CA, a
//! server certificate for localhost, and client certificates that carry an
//! organisation identifier (OID 2.5.4.97) as OCES-style certificates do.

use std::path::Path;

use anyhow::Context;
use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyIdMethod, KeyPair, KeyUsagePurpose, RevocationReason, RevokedCertParams, SerialNumber,
};
use time::{Duration, OffsetDateTime};

use crate::config::SectorName;
use crate::identity::{DEV_AUDIENCE, DevIdp, dev_issuer, dev_kid};

/// What a test or demo client certificate looks like.
#[derive(Clone, Copy, Debug)]
pub struct ClientSpec<'a> {
    pub common_name: &'a str,
    pub organisation_identifier: Option<&'a str>,
    pub serial: u64,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
}

/// A PEM certificate and its PEM private key.
#[derive(Clone, Debug)]
pub struct Identity {
    pub certificate_pem: String,
    pub key_pem: String,
}

/// An organisation of the demo and test world.
#[derive(Clone, Copy, Debug)]
pub struct DemoOrganisation {
    pub id: &'static str,
    pub name: &'static str,
    pub sector: SectorName,
    pub certificate_identity: &'static str,
    /// Where the indicators place it.
    pub region: Option<&'static str>,
    pub municipality: Option<&'static str>,
}

/// The demo citizen portal's organisation id.
pub const CITIZEN_PORTAL: &str = "borgerportal";

/// The four sectors of the coordinated plan, one organisation each, and a
/// citizen portal through which the citizen acts on their own plan; and a
/// ward and social services in another region, for the indicators' population.
pub const DEMO_ORGANISATIONS: [DemoOrganisation; 7] = [
    DemoOrganisation {
        id: "psykiatri-amager",
        name: "Psykiatrisk Center Amager, afsnit 3",
        sector: SectorName::RegionalPsychiatry,
        certificate_identity: "NTRDK-29190623",
        region: Some("Region Hovedstaden"),
        municipality: None,
    },
    DemoOrganisation {
        id: "kbh-socialforvaltning",
        name: "Københavns Kommune, Socialforvaltningen",
        sector: SectorName::MunicipalSocial,
        certificate_identity: "NTRDK-64942212",
        region: Some("Region Hovedstaden"),
        municipality: Some("København"),
    },
    DemoOrganisation {
        id: "jobcenter-kbh",
        name: "Jobcenter København",
        sector: SectorName::JobCentre,
        certificate_identity: "NTRDK-64942213",
        region: Some("Region Hovedstaden"),
        municipality: Some("København"),
    },
    DemoOrganisation {
        id: "kbh-misbrugsbehandling",
        name: "Københavns Kommune, Center for Misbrugsbehandling",
        sector: SectorName::AddictionService,
        certificate_identity: "NTRDK-64942214",
        region: Some("Region Hovedstaden"),
        municipality: Some("København"),
    },
    DemoOrganisation {
        id: "borgerportal",
        name: "Borgerportalen (udvikling)",
        sector: SectorName::Citizen,
        certificate_identity: "NTRDK-64942215",
        region: None,
        municipality: None,
    },
    DemoOrganisation {
        id: "psykiatri-aarhus",
        name: "Psykiatrisk Afdeling Aarhus (udvikling)",
        sector: SectorName::RegionalPsychiatry,
        certificate_identity: "NTRDK-29190986",
        region: Some("Region Midtjylland"),
        municipality: None,
    },
    DemoOrganisation {
        id: "aarhus-socialforvaltning",
        name: "Aarhus Kommune, Sociale Forhold (udvikling)",
        sector: SectorName::MunicipalSocial,
        certificate_identity: "NTRDK-55133018",
        region: Some("Region Midtjylland"),
        municipality: Some("Aarhus"),
    },
];

pub struct Pki {
    pub ca_pem: String,
    issuer: Issuer<'static, KeyPair>,
    /// What the issuer is made of, to make another.
    ca_params: CertificateParams,
    ca_key_pem: String,
    pub server: Identity,
}

impl std::fmt::Debug for Pki {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pki").finish_non_exhaustive()
    }
}

impl Pki {
    /// A new CA and a server certificate for `localhost` and 127.0.0.1.
    pub fn new() -> anyhow::Result<Self> {
        let ca_key = KeyPair::generate()?;
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, "Samplan development CA");
        params.key_usages =
            vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
        let ca_pem = params.self_signed(&ca_key)?.pem();
        let ca_key_pem = ca_key.serialize_pem();
        let issuer = Issuer::new(params.clone(), ca_key);

        let server_key = KeyPair::generate()?;
        let mut server = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])?;
        server.distinguished_name.push(DnType::CommonName, "samplan hub");
        server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let server = Identity {
            certificate_pem: server.signed_by(&server_key, &issuer)?.pem(),
            key_pem: server_key.serialize_pem(),
        };
        Ok(Self { ca_pem, issuer, ca_params: params, ca_key_pem, server })
    }

    /// Another handle to the same CA and server certificate (say, for a
    /// second hub on the same configuration).
    pub fn try_clone(&self) -> anyhow::Result<Self> {
        Ok(Self {
            ca_pem: self.ca_pem.clone(),
            issuer: Issuer::new(self.ca_params.clone(), KeyPair::from_pem(&self.ca_key_pem)?),
            ca_params: self.ca_params.clone(),
            ca_key_pem: self.ca_key_pem.clone(),
            server: self.server.clone(),
        })
    }

    /// A client certificate valid for two years; `organisation_identifier` goes
    /// into the subject as OID 2.5.4.97.
    pub fn client(&self, common_name: &str, organisation_identifier: Option<&str>) -> anyhow::Result<Identity> {
        let now = OffsetDateTime::now_utc();
        self.client_with(ClientSpec {
            common_name,
            organisation_identifier,
            serial: rand::random::<u64>() >> 1,
            not_before: now - Duration::days(1),
            not_after: now + Duration::days(730),
        })
    }

    /// A client certificate exactly as specified (serial and validity included).
    pub fn client_with(&self, spec: ClientSpec<'_>) -> anyhow::Result<Identity> {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.distinguished_name.push(DnType::CommonName, spec.common_name);
        if let Some(identifier) = spec.organisation_identifier {
            params.distinguished_name.push(DnType::CustomDnType(vec![2, 5, 4, 97]), identifier);
        }
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        params.serial_number = Some(SerialNumber::from(spec.serial));
        params.not_before = spec.not_before;
        params.not_after = spec.not_after;
        Ok(Identity { certificate_pem: params.signed_by(&key, &self.issuer)?.pem(), key_pem: key.serialize_pem() })
    }

    /// A CRL of this CA revoking `revoked_serials`, valid from `this_update` to `next_update`.
    pub fn crl(
        &self,
        revoked_serials: &[u64],
        this_update: OffsetDateTime,
        next_update: OffsetDateTime,
    ) -> anyhow::Result<String> {
        let params = CertificateRevocationListParams {
            this_update,
            next_update,
            crl_number: SerialNumber::from(u64::try_from(this_update.unix_timestamp()).unwrap_or(1)),
            issuing_distribution_point: None,
            revoked_certs: revoked_serials
                .iter()
                .map(|serial| RevokedCertParams {
                    serial_number: SerialNumber::from(*serial),
                    revocation_time: this_update,
                    reason_code: Some(RevocationReason::KeyCompromise),
                    invalidity_date: None,
                })
                .collect(),
            key_identifier_method: KeyIdMethod::Sha256,
        };
        Ok(params.signed_by(&self.issuer)?.pem()?)
    }

    /// Writes the CA, the server identity, one client identity and one
    /// development identity provider (`*.idp.key`, `*.jwks.json`) per demo
    /// organisation, a pseudonym key and a ready-to-use `samplan.toml` to `dir`.
    pub fn write_dev_dir(&self, dir: &Path) -> anyhow::Result<Vec<String>> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let mut written = Vec::new();
        let mut write = |name: &str, contents: &str| -> anyhow::Result<()> {
            let path = dir.join(name);
            std::fs::write(&path, contents).with_context(|| format!("writing {}", path.display()))?;
            written.push(name.to_owned());
            Ok(())
        };
        write("ca.pem", &self.ca_pem)?;
        let now = OffsetDateTime::now_utc();
        write("ca.crl.pem", &self.crl(&[], now - Duration::hours(1), now + Duration::days(365))?)?;
        write("server.pem", &self.server.certificate_pem)?;
        write("server.key", &self.server.key_pem)?;
        for org in DEMO_ORGANISATIONS {
            let identity = self.client(org.name, Some(org.certificate_identity))?;
            write(&format!("{}.pem", org.id), &identity.certificate_pem)?;
            write(&format!("{}.key", org.id), &identity.key_pem)?;
            let idp = DevIdp::generate(&dev_kid(org.id))?;
            write(&format!("{}.idp.key", org.id), &idp.key_pem)?;
            write(&format!("{}.jwks.json", org.id), &idp.jwks_json)?;
        }
        write("pseudonym.key", &hex::encode(rand::random::<[u8; 32]>()))?;
        write("samplan.toml", &dev_config(&DEMO_ORGANISATIONS))?;
        Ok(written)
    }
}

/// A configuration for the files `write_dev_dir` makes, with the data in `./data`.
pub fn dev_config(organisations: &[DemoOrganisation]) -> String {
    let mut config = String::from(
        "# Development configuration written by `samplan dev-pki`. Paths are relative to this file.\n\
         listen = \"127.0.0.1:7443\"\n\
         data_dir = \"data\"\n\
         pseudonym_key_file = \"pseudonym.key\"\n\
         log_format = \"pretty\"\n\n\
         [tls]\n\
         certificate = \"server.pem\"\n\
         private_key = \"server.key\"\n\
         client_ca = \"ca.pem\"\n\
         client_crls = [\"ca.crl.pem\"]\n\
         handshake_timeout_ms = 10000\n",
    );
    // Each organisation's development identity provider signs its professionals' assertions.
    config.push_str(&format!("\n[identity]\nmode = \"signed\"\naudience = \"{DEV_AUDIENCE}\"\n"));
    for org in organisations {
        // The sector's name as the configuration spells it (the serde renaming of `SectorName`).
        let sector = toml::Value::try_from(org.sector).map(|v| v.to_string()).unwrap_or_default();
        config.push_str(&format!(
            "\n[[organisations]]\nid = \"{}\"\nname = \"{}\"\nsector = {sector}\ncertificate_identity = \"{}\"\n\
             issuer = \"{}\"\njwks_file = \"{}.jwks.json\"\n",
            org.id,
            org.name,
            org.certificate_identity,
            dev_issuer(org.id),
            org.id
        ));
        for (key, value) in [("region", org.region), ("municipality", org.municipality)] {
            if let Some(value) = value {
                config.push_str(&format!("{key} = \"{value}\"\n"));
            }
        }
    }
    config
}
