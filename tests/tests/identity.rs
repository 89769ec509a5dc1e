//! Who acts is proven, not claimed: the token matrix over real mTLS (each
//! way an assertion can be wrong gets its stable reason, is audited and
//! writes nothing), key rotation without a restart, and a call without a
//! token in production mode.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use samplan_hub::client::{Professional, connect, plan_client};
use samplan_hub::identity::{DEV_AUDIENCE, DevIdp, Minter, dev_issuer, dev_kid, unix_now};
use samplan_proto::v1 as pb;
use samplan_services::assertion::Claims;
use samplan_tests::*;
use tonic::Code;

type TestResult = anyhow::Result<()>;

/// `token`'s payload replaced by `claims`, its signature kept.
fn with_payload(token: &str, claims: &Claims) -> anyhow::Result<String> {
    let parts: Vec<&str> = token.split('.').collect();
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims)?);
    Ok(format!("{}.{payload}.{}", parts[0], parts[2]))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_wrong_assertion_is_refused_with_its_reason_audited_and_writes_nothing() -> TestResult {
    let t = TestHub::start().await?;
    let mut ward = t.client(WARD).await?;
    let (name, version) = create_plan(&mut ward, CPR).await?;
    let minter = t.hub.minter(WARD)?;
    let read_key = |org: &str| std::fs::read_to_string(t.hub.dir.join(format!("{org}.idp.key")));
    let now = unix_now();
    let claims = || minter.claims("aut-4471", "PHYSICIAN", 600);
    let sign = |claims: &Claims| minter.sign(claims);

    let expired = Claims { nbf: now - 7200, exp: now - 3600, ..claims() };
    let early = Claims { nbf: now + 3600, exp: now + 4000, ..claims() };
    let audience = Claims { aud: "another-hub".into(), ..claims() };
    let issuer = Claims { iss: dev_issuer(JOB), ..claims() };
    let role = Claims { role: "JOB_CONSULTANT".into(), authorisation_id: None, ..claims() };
    let long = Claims { exp: now + 2 * 86_400, ..claims() };
    let unauthorised = Claims { authorisation_id: None, ..claims() };
    let tampered = with_payload(&sign(&claims())?, &Claims { role: "NURSE".into(), ..claims() })?;
    let unknown_key = Minter::new(&dev_issuer(WARD), DEV_AUDIENCE, "no-such-key", &read_key(WARD)?)?;
    let job_key = Minter::new(&dev_issuer(WARD), DEV_AUDIENCE, &dev_kid(WARD), &read_key(JOB)?)?;
    let none_header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let none_payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims())?);
    let with_header = |header: String| -> anyhow::Result<String> {
        let token = sign(&claims())?;
        let rest = token.split_once('.').map(|(_, rest)| rest.to_owned()).unwrap_or_default();
        Ok(format!("{}.{rest}", URL_SAFE_NO_PAD.encode(header)))
    };
    let rs256 = with_header(format!(r#"{{"alg":"RS256","typ":"JWT","kid":"{}"}}"#, dev_kid(WARD)))?;
    let hs256 = with_header(format!(r#"{{"alg":"HS256","typ":"JWT","kid":"{}"}}"#, dev_kid(WARD)))?;
    let backwards = Claims { nbf: now + 10, exp: now, ..claims() };

    let cases: Vec<(&str, Option<String>, &str)> = vec![
        ("expired", Some(sign(&expired)?), "TOKEN_EXPIRED"),
        ("not-yet-valid", Some(sign(&early)?), "TOKEN_NOT_YET_VALID"),
        ("wrong-audience", Some(sign(&audience)?), "TOKEN_WRONG_AUDIENCE"),
        ("unknown-key", Some(unknown_key.sign(&claims())?), "TOKEN_UNKNOWN_KEY"),
        ("another-organisations-key", Some(job_key.sign(&claims())?), "TOKEN_BAD_SIGNATURE"),
        ("another-organisations-issuer", Some(sign(&issuer)?), "TOKEN_WRONG_ISSUER"),
        ("role-not-in-sector", Some(sign(&role)?), "ROLE_NOT_IN_SECTOR"),
        ("tampered", Some(tampered), "TOKEN_BAD_SIGNATURE"),
        ("alg-none", Some(format!("{none_header}.{none_payload}.")), "TOKEN_ALGORITHM_REFUSED"),
        ("alg-rs256-on-an-ec-key", Some(rs256), "TOKEN_ALGORITHM_REFUSED"),
        ("alg-hs256", Some(hs256), "TOKEN_ALGORITHM_REFUSED"),
        ("expires-before-valid", Some(sign(&backwards)?), "TOKEN_CLAIMS_INVALID"),
        ("too-long-lived", Some(sign(&long)?), "TOKEN_LIFETIME_TOO_LONG"),
        ("no-authorisation-id", Some(sign(&unauthorised)?), "TOKEN_CLAIMS_INVALID"),
        ("garbage", Some("not-a-jwt".into()), "TOKEN_MALFORMED"),
        ("missing", None, "TOKEN_MISSING"),
    ];
    for (case, token, reason) in cases {
        let channel = connect(t.hub.addr, &t.hub.pki.ca_pem, &t.hub.identity(WARD)?).await?;
        let request = tagged(change(&name, version, "", add_goal("x")), case);
        let refused = match token {
            Some(token) => plan_client(channel, Professional::bearer_token(&token)?).change_plan(request).await,
            None => pb::plan_service_client::PlanServiceClient::new(channel).change_plan(request).await,
        }
        .expect_err(case);
        assert_eq!(refused.code(), Code::Unauthenticated, "{case}: {refused:?}");
        assert_eq!(error_info(&refused).map(|(r, _)| r).as_deref(), Some(reason), "{case}");
        assert_eq!(denied_reason(&t.hub, case).await?, reason, "{case} is audited");
        let entry = &audit_by_correlation(&t.hub).await?[case];
        assert_eq!(entry.certificate_identity.as_deref(), Some("NTRDK-29190623"), "{case}: who presented it");
    }
    let plan = ward.get_plan(pb::GetPlanRequest { name: name.clone() }).await?.into_inner().plan.expect("plan");
    assert_eq!(plan.version, version, "nothing was written");

    // The valid assertion, for contrast.
    let channel = connect(t.hub.addr, &t.hub.pki.ca_pem, &t.hub.identity(WARD)?).await?;
    let mut valid = plan_client(channel, Professional::bearer_token(&sign(&claims())?)?);
    valid.change_plan(change(&name, version, "", add_goal("sove om natten"))).await?;
    t.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replaced_key_set_holds_from_the_next_call_without_a_restart() -> TestResult {
    let t = TestHub::start().await?;
    let old = Arc::new(t.hub.minter(WARD)?);
    let mut before = t.hub.plan_client(WARD, "aut-4471", "PHYSICIAN").await?;
    let (name, _) = create_plan(&mut before, CPR).await?;

    // The identity provider rotates to a new key; the hub is told only by the file.
    let rotated = DevIdp::generate("psykiatri-amager-dev-2")?;
    let jwks = t.hub.dir.join(format!("{WARD}.jwks.json"));
    let staged = t.hub.dir.join("rotated.jwks.json");
    std::fs::write(&staged, &rotated.jwks_json)?;
    std::fs::rename(&staged, &jwks)?;
    let new = Minter::new(&dev_issuer(WARD), DEV_AUDIENCE, "psykiatri-amager-dev-2", &rotated.key_pem)?;

    let channel = connect(t.hub.addr, &t.hub.pki.ca_pem, &t.hub.identity(WARD)?).await?;
    let mut after = plan_client(channel, Professional::signed(Arc::new(new), "aut-4471", "PHYSICIAN")?);
    after.get_plan(pb::GetPlanRequest { name: name.clone() }).await?;
    // A token of the retired key, even one the hub verified before, is refused.
    let channel = connect(t.hub.addr, &t.hub.pki.ca_pem, &t.hub.identity(WARD)?).await?;
    let mut retired = plan_client(channel, Professional::signed(old, "aut-4471", "PHYSICIAN")?);
    let refused = retired.get_plan(pb::GetPlanRequest { name: name.clone() }).await.expect_err("retired key");
    assert_eq!(error_info(&refused).map(|(r, _)| r).as_deref(), Some("TOKEN_UNKNOWN_KEY"));
    let refused = before.get_plan(pb::GetPlanRequest { name }).await.expect_err("remembered, but retired");
    assert_eq!(error_info(&refused).map(|(r, _)| r).as_deref(), Some("TOKEN_UNKNOWN_KEY"));
    t.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_verified_for_one_organisation_is_not_taken_on_anothers_certificate() -> TestResult {
    let t = TestHub::start().await?;
    let (token, _) = t.hub.minter(JOB)?.mint("jc-0915", "JOB_CONSULTANT")?;
    let channel = connect(t.hub.addr, &t.hub.pki.ca_pem, &t.hub.identity(JOB)?).await?;
    let mut job = plan_client(channel, Professional::bearer_token(&token)?);
    job.list_clocks(pb::ListClocksRequest::default()).await?; // verified, and remembered
    let channel = connect(t.hub.addr, &t.hub.pki.ca_pem, &t.hub.identity(WARD)?).await?;
    let mut posing = plan_client(channel, Professional::bearer_token(&token)?);
    let refused = posing.list_clocks(pb::ListClocksRequest::default()).await.expect_err("the ward's certificate");
    assert_eq!(refused.code(), Code::Unauthenticated);
    assert_eq!(error_info(&refused).map(|(r, _)| r).as_deref(), Some("TOKEN_UNKNOWN_KEY"));
    t.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_ends_when_the_assertion_it_was_opened_with_expires() -> TestResult {
    let t =
        TestHub::start_edited(|c| c.replace("mode = \"signed\"", "mode = \"signed\"\nclock_skew_seconds = 0")).await?;
    let minter = t.hub.minter(WARD)?;
    let now = unix_now();
    let short = Claims { nbf: now - 1, exp: now + 2, ..minter.claims("aut-4471", "PHYSICIAN", 600) };
    let channel = connect(t.hub.addr, &t.hub.pki.ca_pem, &t.hub.identity(WARD)?).await?;
    let mut client = plan_client(channel, Professional::bearer_token(&minter.sign(&short)?)?);
    let mut stream = subscribe(&mut client, 0, "short-lived").await?;
    let end = loop {
        match tokio::time::timeout(std::time::Duration::from_secs(20), stream.message()).await? {
            Ok(Some(_)) => continue,
            Ok(None) => anyhow::bail!("the stream ended without a status"),
            Err(status) => break status,
        }
    };
    assert_eq!(end.code(), Code::Unauthenticated, "{end:?}");
    assert_eq!(error_info(&end).map(|(r, _)| r).as_deref(), Some("TOKEN_EXPIRED"));
    t.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_key_set_refuses_until_it_is_fixed() -> TestResult {
    let t = TestHub::start().await?;
    let mut ward = t.hub.plan_client(WARD, "aut-4471", "PHYSICIAN").await?;
    let (name, _) = create_plan(&mut ward, CPR).await?;
    let jwks = t.hub.dir.join(format!("{WARD}.jwks.json"));
    let good = std::fs::read_to_string(&jwks)?;
    std::fs::write(&jwks, "{ not json")?;
    for _ in 0..2 {
        let refused = ward.get_plan(pb::GetPlanRequest { name: name.clone() }).await.expect_err("no keys");
        assert_eq!(refused.code(), Code::Unauthenticated);
        assert_eq!(error_info(&refused).map(|(r, _)| r).as_deref(), Some("TOKEN_KEYS_UNAVAILABLE"));
    }
    std::fs::write(&jwks, good)?;
    ward.get_plan(pb::GetPlanRequest { name }).await?;
    t.stop().await
}
