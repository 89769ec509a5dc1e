//! Tampering with a stopped hub's data directory — audit records or events,
//! edited, deleted, reordered, inserted or truncated — is detected by `verify`.

use std::path::{Path, PathBuf};

use samplan_hub::config::Config;
use samplan_hub::server::open_store;
use samplan_proto::v1 as pb;
use samplan_services::store::SEGMENT_SIZE;
use samplan_services::store::audit::{AuditRecord, Checkpoint};
use samplan_tests::*;

const AUDIT: u8 = b'a';
const EVENT: u8 = b'e';
const CHECKPOINT: u8 = b'k';

/// The problems `verify` reports for the data directory `data` (with the hub's configuration).
async fn verify(config_file: &Path, data: &Path) -> anyhow::Result<Vec<String>> {
    let data = data.display().to_string();
    let config = Config::load(config_file, |key| (key == "SAMPLAN_DATA_DIR").then(|| data.clone()))?;
    let store = open_store(&config).await?;
    Ok(store.verify().await?.problems)
}

/// The audit records of one writer round.
fn round(db: &sled::Db, key: &[u8]) -> Vec<AuditRecord> {
    postcard::from_bytes(&db.get(key).expect("get").expect("round")).expect("decode")
}

fn keys_with_prefix(db: &sled::Db, prefix: u8) -> Vec<sled::IVec> {
    db.scan_prefix([prefix]).keys().collect::<Result<_, _>>().expect("keys")
}

/// Copies the pristine data directory, lets `tamper` change it directly in sled, and verifies.
async fn tampered(
    base: &Path,
    pristine: &Path,
    name: &str,
    tamper: impl FnOnce(&sled::Db),
) -> anyhow::Result<Vec<String>> {
    let copy: PathBuf = base.join(name);
    samplan_tests::copy_dir(pristine, &copy)?;
    {
        let db = sled::Config::new().path(&copy).segment_size(SEGMENT_SIZE).open()?;
        tamper(&db);
        db.flush()?;
    }
    verify(&base.join("samplan.toml"), &copy).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_detects_every_kind_of_tampering() -> anyhow::Result<()> {
    let t = TestHub::start().await?;
    let base = t.hub.dir.clone();
    let mut ward = t.client(WARD).await?;
    let mut job = t.client(JOB).await?;
    let mut addiction = t.client(ADDICTION).await?;
    let (name, mut version) = create_plan(&mut ward, CPR).await?;
    for goal in ["bo selv", "arbejde", "sove"] {
        version = ward.change_plan(change(&name, version, "", add_goal(goal))).await?.into_inner().version;
    }
    let _ = job.get_plan(pb::GetPlanRequest { name: name.clone() }).await; // not on the team
    let _ = job.change_plan(change(&name, version, "", add_goal("x"))).await; // denied, audited
    let _ = create_plan(&mut job, CPR).await; // refused: not on its own
    create_plan(&mut addiction, CPR).await?; // a health service joins with a reason
    t.hub.stop().await?;
    let pristine = base.join("data");
    assert_eq!(verify(&base.join("samplan.toml"), &pristine).await?, Vec::<String>::new(), "untouched data verifies");

    let expect = |problems: Vec<String>, case: &str, needle: &str| {
        assert!(
            problems.iter().any(|p| p.contains(needle)),
            "{case}: expected a problem containing {needle:?}, got {problems:?}"
        );
    };

    let problems = tampered(&base, &pristine, "edited-record", |db| {
        let key = keys_with_prefix(db, AUDIT)[2].clone();
        let mut records = round(db, &key);
        records[0].entry.action = "ChangePlan.ActivatePlan".into();
        db.insert(key, postcard::to_stdvec(&records).expect("encode")).expect("insert");
    })
    .await?;
    expect(problems, "edited audit record", "was altered");

    let problems = tampered(&base, &pristine, "deleted-record", |db| {
        db.remove(&keys_with_prefix(db, AUDIT)[1]).expect("remove");
    })
    .await?;
    expect(problems, "deleted audit record", "jumps");

    let problems = tampered(&base, &pristine, "reordered-records", |db| {
        let keys = keys_with_prefix(db, AUDIT);
        let (a, b) = (db.get(&keys[1]).expect("a").expect("a"), db.get(&keys[2]).expect("b").expect("b"));
        db.insert(&keys[1], b).expect("swap");
        db.insert(&keys[2], a).expect("swap");
    })
    .await?;
    expect(problems, "reordered audit records", "claims to be");

    let problems = tampered(&base, &pristine, "appended-record", |db| {
        let keys = keys_with_prefix(db, AUDIT);
        let last = round(db, keys.last().expect("last")).pop().expect("a record");
        let forged = AuditRecord::link(last.sequence + 1, last.hash, last.entry.clone()).expect("link");
        let mut key = vec![AUDIT];
        key.extend_from_slice(&forged.sequence.to_be_bytes());
        db.insert(key, postcard::to_stdvec(&vec![forged]).expect("encode")).expect("insert");
    })
    .await?;
    expect(problems, "appended, correctly chained record", "after the checkpoint");

    let problems = tampered(&base, &pristine, "truncated", |db| {
        for key in keys_with_prefix(db, AUDIT).iter().rev().take(2) {
            db.remove(key).expect("remove");
        }
    })
    .await?;
    expect(problems, "truncated audit log", "truncated");

    let problems = tampered(&base, &pristine, "forged-checkpoint", |db| {
        let checkpoint = Checkpoint::sign(&[9; 32], 1, [0; 32]);
        db.insert([CHECKPOINT], postcard::to_stdvec(&checkpoint).expect("encode")).expect("insert");
    })
    .await?;
    expect(problems, "forged checkpoint", "not authentic");

    let problems = tampered(&base, &pristine, "edited-event", |db| {
        let key = keys_with_prefix(db, EVENT)[1].clone();
        let mut bytes = db.get(&key).expect("get").expect("event").to_vec();
        let at = bytes.windows(7).position(|w| w == b"bo selv").expect("goal text in the event");
        bytes[at..at + 7].copy_from_slice(b"bo ikke");
        db.insert(key, bytes).expect("insert");
    })
    .await?;
    expect(problems, "edited event", "was altered");

    let problems = tampered(&base, &pristine, "deleted-event", |db| {
        db.remove(&keys_with_prefix(db, EVENT)[2]).expect("remove");
    })
    .await?;
    expect(problems, "deleted event", "missing");

    let problems = tampered(&base, &pristine, "inserted-event", |db| {
        let keys = keys_with_prefix(db, EVENT);
        let last = keys.last().expect("an event").clone();
        let mut key = last.to_vec();
        let n = key.len();
        key[n - 1] = key[n - 1].wrapping_add(1);
        db.insert(key, db.get(&last).expect("get").expect("event")).expect("insert");
    })
    .await?;
    expect(problems, "inserted event", "no audit record vouches");
    Ok(())
}
