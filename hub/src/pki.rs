//! A throwaway PKI for development, demos and tests, made with rcgen: a CA, a
//! server certificate for localhost, and client certificates that carry an
//! organisation identifier (OID 2.5.4.97) as OCES-style certificates do.

use std::path::Path;

use anyhow::Context;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
};

use crate::config::SectorName;

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
}

/// The four sectors of the coordinated plan, one organisation each.
pub const DEMO_ORGANISATIONS: [DemoOrganisation; 4] = [
    DemoOrganisation {
        id: "psykiatri-amager",
        name: "Psykiatrisk Center Amager, afsnit 3",
        sector: SectorName::RegionalPsychiatry,
        certificate_identity: "NTRDK-29190623",
    },
    DemoOrganisation {
        id: "kbh-socialforvaltning",
        name: "Københavns Kommune, Socialforvaltningen",
        sector: SectorName::MunicipalSocial,
        certificate_identity: "NTRDK-64942212",
    },
    DemoOrganisation {
        id: "jobcenter-kbh",
        name: "Jobcenter København",
        sector: SectorName::JobCentre,
        certificate_identity: "NTRDK-64942213",
    },
    DemoOrganisation {
        id: "kbh-misbrugsbehandling",
        name: "Københavns Kommune, Center for Misbrugsbehandling",
        sector: SectorName::AddictionService,
        certificate_identity: "NTRDK-64942214",
    },
];

pub struct Pki {
    pub ca_pem: String,
    issuer: Issuer<'static, KeyPair>,
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
        let issuer = Issuer::new(params, ca_key);

        let server_key = KeyPair::generate()?;
        let mut server = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])?;
        server.distinguished_name.push(DnType::CommonName, "samplan hub");
        server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let server = Identity {
            certificate_pem: server.signed_by(&server_key, &issuer)?.pem(),
            key_pem: server_key.serialize_pem(),
        };
        Ok(Self { ca_pem, issuer, server })
    }

    /// A client certificate; `organisation_identifier` goes into the subject as OID 2.5.4.97.
    pub fn client(&self, common_name: &str, organisation_identifier: Option<&str>) -> anyhow::Result<Identity> {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.distinguished_name.push(DnType::CommonName, common_name);
        if let Some(identifier) = organisation_identifier {
            params.distinguished_name.push(DnType::CustomDnType(vec![2, 5, 4, 97]), identifier);
        }
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        Ok(Identity { certificate_pem: params.signed_by(&key, &self.issuer)?.pem(), key_pem: key.serialize_pem() })
    }

    /// Writes the CA, the server identity, one client identity per demo
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
        write("server.pem", &self.server.certificate_pem)?;
        write("server.key", &self.server.key_pem)?;
        for org in DEMO_ORGANISATIONS {
            let identity = self.client(org.name, Some(org.certificate_identity))?;
            write(&format!("{}.pem", org.id), &identity.certificate_pem)?;
            write(&format!("{}.key", org.id), &identity.key_pem)?;
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
         client_ca = \"ca.pem\"\n",
    );
    for org in organisations {
        let sector = match org.sector {
            SectorName::RegionalPsychiatry => "REGIONAL_PSYCHIATRY",
            SectorName::MunicipalSocial => "MUNICIPAL_SOCIAL",
            SectorName::JobCentre => "JOB_CENTRE",
            SectorName::AddictionService => "ADDICTION_SERVICE",
            SectorName::Citizen => "CITIZEN",
        };
        config.push_str(&format!(
            "\n[[organisations]]\nid = \"{}\"\nname = \"{}\"\nsector = \"{sector}\"\ncertificate_identity = \"{}\"\n",
            org.id, org.name, org.certificate_identity
        ));
    }
    config
}
