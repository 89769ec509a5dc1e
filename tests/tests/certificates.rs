//! The certificate matrix: which client certificates the hub lets in, over real
//! TLS against the real hub, with CRLs and a handshake timeout configured.

use std::path::Path;
use std::time::Duration as StdDuration;

use samplan_hub::client::{connect, plan_client};
use samplan_hub::embedded::EmbeddedHub;
use samplan_hub::pki::{ClientSpec, Identity, Pki};
use samplan_proto::v1 as pb;
use samplan_tests::{CPR, WARD, error_info};
use time::{Duration, OffsetDateTime};
use tokio::io::AsyncReadExt;
use tonic::Code;

const WARD_IDENTITY: &str = "NTRDK-29190623";
const REVOKED_SERIAL: u64 = 4242;

/// Starts a hub whose CRL revokes `REVOKED_SERIAL` and is valid `crl_from..crl_until`,
/// with a 300 ms handshake timeout.
async fn hub_with_crl(dir: &Path, crl_from: OffsetDateTime, crl_until: OffsetDateTime) -> anyhow::Result<EmbeddedHub> {
    let pki = Pki::new()?;
    pki.write_dev_dir(dir)?;
    std::fs::write(dir.join("ca.crl.pem"), pki.crl(&[REVOKED_SERIAL], crl_from, crl_until)?)?;
    let config = std::fs::read_to_string(dir.join("samplan.toml"))?;
    std::fs::write(
        dir.join("samplan.toml"),
        config.replace("handshake_timeout_ms = 10000", "handshake_timeout_ms = 300"),
    )?;
    EmbeddedHub::start_with(dir, pki).await
}

fn ward_cert(
    pki: &Pki,
    serial: u64,
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
) -> anyhow::Result<Identity> {
    pki.client_with(ClientSpec {
        common_name: "Psykiatrisk Center Amager",
        organisation_identifier: Some(WARD_IDENTITY),
        serial,
        not_before,
        not_after,
    })
}

enum Outcome {
    /// The call reached the service and was answered (OK or an application error).
    Answered(Result<(), tonic::Status>),
    /// The TLS layer refused: no answer from the service at all.
    Refused,
}

async fn call(hub: &EmbeddedHub, identity: &Identity) -> anyhow::Result<Outcome> {
    let Ok(channel) = connect(hub.addr, &hub.pki.ca_pem, identity).await else { return Ok(Outcome::Refused) };
    let mut client = plan_client(channel, hub.professional(WARD, "aut-4471", "PHYSICIAN")?);
    match client.lookup_plan(pb::LookupPlanRequest { cpr: CPR.into() }).await {
        Ok(_) => Ok(Outcome::Answered(Ok(()))),
        Err(status) if error_info(&status).is_some() => Ok(Outcome::Answered(Err(status))),
        Err(status) => {
            assert!(
                matches!(status.code(), Code::Unavailable | Code::Unknown | Code::Cancelled | Code::Internal),
                "{status:?}"
            );
            Ok(Outcome::Refused)
        }
    }
}

fn assert_refused(outcome: Outcome, case: &str) {
    assert!(matches!(outcome, Outcome::Refused), "{case}: expected the TLS handshake to refuse");
}

fn assert_answered(outcome: Outcome, case: &str, code: Code) {
    match outcome {
        Outcome::Answered(result) => {
            assert_eq!(result.err().map_or(Code::Ok, |s| s.code()), code, "{case}");
        }
        Outcome::Refused => panic!("{case}: the handshake was refused"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificate_matrix() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let now = OffsetDateTime::now_utc();
    let hub = hub_with_crl(dir.path(), now - Duration::hours(1), now + Duration::days(1)).await?;
    let valid_period = (now - Duration::days(1), now + Duration::days(30));

    let valid = ward_cert(&hub.pki, 1001, valid_period.0, valid_period.1)?;
    // A valid certificate of a registered organisation: its plan lookup is answered (no plan yet).
    assert_answered(call(&hub, &valid).await?, "valid", Code::NotFound);

    let unregistered = hub.pki.client("Ukendt Region", Some("NTRDK-00000000"))?;
    assert_answered(call(&hub, &unregistered).await?, "unregistered organisation", Code::PermissionDenied);

    let expired = ward_cert(&hub.pki, 1002, now - Duration::days(60), now - Duration::days(1))?;
    assert_refused(call(&hub, &expired).await?, "expired certificate");

    let revoked = ward_cert(&hub.pki, REVOKED_SERIAL, valid_period.0, valid_period.1)?;
    assert_refused(call(&hub, &revoked).await?, "revoked certificate");

    let stranger_ca = Pki::new()?;
    let untrusted = stranger_ca.client("Psykiatrisk Center Amager", Some(WARD_IDENTITY))?;
    assert_refused(call(&hub, &untrusted).await?, "certificate from an untrusted CA");

    let no_certificate = tonic::transport::Endpoint::from_shared(format!("https://{}", hub.addr))?.tls_config(
        tonic::transport::ClientTlsConfig::new()
            .ca_certificate(tonic::transport::Certificate::from_pem(&hub.pki.ca_pem))
            .domain_name("localhost"),
    )?;
    if let Ok(channel) = no_certificate.connect().await {
        let mut anonymous = plan_client(channel, hub.professional(WARD, "aut-4471", "PHYSICIAN")?);
        let refused =
            anonymous.lookup_plan(pb::LookupPlanRequest { cpr: CPR.into() }).await.expect_err("no certificate");
        assert!(error_info(&refused).is_none(), "no certificate: {refused:?}");
    }

    // A client that opens TCP and never speaks TLS is dropped at the handshake timeout.
    let mut silent = tokio::net::TcpStream::connect(hub.addr).await?;
    let mut buf = [0u8; 16];
    let closed = tokio::time::timeout(StdDuration::from_secs(10), silent.read(&mut buf)).await;
    assert!(
        matches!(closed, Ok(Ok(0)) | Ok(Err(_))),
        "slow handshake: the hub must close the connection, got {closed:?}"
    );

    hub.stop().await
}

/// An expired CRL refuses every client it covers — until it is renewed: the
/// hub reads the new CRL while it serves and uses it for the next handshake, a
/// newly revoked certificate is refused without a restart, and a broken file
/// leaves the last good material in use.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_crl_refuses_every_client_until_it_is_renewed() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let now = OffsetDateTime::now_utc();
    let config = dir.path().join("samplan.toml");
    let pki = Pki::new()?;
    pki.write_dev_dir(dir.path())?;
    let text = std::fs::read_to_string(&config)?
        .replace("handshake_timeout_ms = 10000", "handshake_timeout_ms = 10000\nreload_check_ms = 100");
    std::fs::write(&config, text)?;
    let crl = dir.path().join("ca.crl.pem");
    let renew = |pki: &Pki, revoked: &[u64], until: OffsetDateTime| -> anyhow::Result<()> {
        // Written whole, then renamed over the old: a reader never sees half a file.
        let fresh = dir.path().join("ca.crl.pem.new");
        std::fs::write(&fresh, pki.crl(revoked, now - Duration::days(30), until)?)?;
        Ok(std::fs::rename(&fresh, &crl)?)
    };
    renew(&pki, &[], now - Duration::days(1))?;
    let hub = EmbeddedHub::start_with(dir.path(), pki).await?;
    let valid = ward_cert(&hub.pki, 2001, now - Duration::days(1), now + Duration::days(30))?;
    let to_revoke = ward_cert(&hub.pki, REVOKED_SERIAL, now - Duration::days(1), now + Duration::days(30))?;
    assert_refused(call(&hub, &valid).await?, "CRL past its next update");

    renew(&hub.pki, &[REVOKED_SERIAL], now + Duration::days(1))?;
    let answered = eventually(|| async { Ok(matches!(call(&hub, &valid).await?, Outcome::Answered(_))) }).await?;
    assert!(answered, "the renewed CRL is used for the next handshake, without a restart");
    assert_refused(call(&hub, &to_revoke).await?, "revoked by the renewed CRL");

    std::fs::write(&crl, "-----BEGIN X509 CRL-----\nbroken\n-----END X509 CRL-----\n")?;
    tokio::time::sleep(StdDuration::from_millis(300)).await;
    assert_answered(call(&hub, &valid).await?, "the last good CRL stays in use", Code::NotFound);
    assert_refused(call(&hub, &to_revoke).await?, "still revoked by the last good CRL");
    let (_, metrics) = samplan_tests::process::admin_get(hub.admin_addr, "/metrics").await?;
    assert!(metrics.contains("samplan_tls_reloads_total{outcome=\"failed\"}"), "{metrics}");
    hub.stop().await
}

/// Whether `check` comes true within 5 seconds.
async fn eventually<F, Fut>(check: F) -> anyhow::Result<bool>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<bool>>,
{
    for _ in 0..100 {
        if check().await? {
            return Ok(true);
        }
        tokio::time::sleep(StdDuration::from_millis(50)).await;
    }
    Ok(false)
}
