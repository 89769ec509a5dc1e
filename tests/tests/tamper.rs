//! Tampering with a stopped hub's store — audit records or events, edited,
//! deleted, reordered, inserted or truncated, a forged checkpoint — is
//! detected by `verify`, on either engine: the same history and the same
//! cases, each done to a pristine copy (a copied sled folder, or a database
//! made from the hub's as a template), directly in the engine's storage.

use samplan_hub::server::open_store;
use samplan_proto::v1 as pb;
use samplan_services::store::SEGMENT_SIZE;
use samplan_services::store::audit::{AuditRecord, Checkpoint};
use samplan_tests::postgres::Postgres;
use samplan_tests::*;

/// Each kind of tampering, and what `verify` must say of it.
const CASES: [(Case, &str); 9] = [
    (Case::EditRecord, "was altered"),
    (Case::DeleteRecord, "jumps"),
    (Case::ReorderRecords, "claims to be"),
    (Case::AppendRecord, "after the checkpoint"),
    (Case::Truncate, "truncated"),
    (Case::ForgeCheckpoint, "not authentic"),
    (Case::EditEvent, "was altered"),
    (Case::DeleteEvent, "missing"),
    (Case::InsertEvent, "no audit record vouches"),
];

#[derive(Clone, Copy, Debug)]
enum Case {
    /// The third record's action changed.
    EditRecord,
    /// The second record gone.
    DeleteRecord,
    /// The second and third records swapped.
    ReorderRecords,
    /// A correctly chained record added after the last.
    AppendRecord,
    /// The last records gone.
    Truncate,
    /// A checkpoint signed with another key.
    ForgeCheckpoint,
    /// A goal's text changed in its stored event.
    EditEvent,
    /// The plan's third event gone.
    DeleteEvent,
    /// A copy of the last event stored as the next one.
    InsertEvent,
}

on_both_engines! {
    async fn verify_detects_every_kind_of_tampering() -> anyhow::Result<()> {
        let t = TestHub::start().await?;
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
        let kept = t.stop_keeping_store().await?;
        assert_eq!(tampered(&kept, "pristine", None).await?, Vec::<String>::new(), "untouched data verifies");
        for (case, needle) in CASES {
            let problems = tampered(&kept, &format!("{case:?}").to_lowercase(), Some(case)).await?;
            assert!(problems.iter().any(|p| p.contains(needle)), "{case:?}: expected {needle:?}, got {problems:?}");
        }
        Ok(())
    }
}

/// The problems `verify` finds in a copy of the kept store, named `name`, after `case` was done to it.
async fn tampered(kept: &KeptStore, name: &str, case: Option<Case>) -> anyhow::Result<Vec<String>> {
    let copy = match &kept.postgres {
        None => sled_copy(kept, name, case)?,
        Some(postgres) => postgres_copy(postgres, name, case).await?,
    };
    let mut config = kept.config.clone();
    match kept.postgres {
        None => config.data_dir = copy.into(),
        Some(_) => config.store.postgres.url = Some(copy),
    }
    let store = open_store(&config).await?;
    let report = store.verify().await;
    store.shutdown().await;
    Ok(report?.problems)
}

const AUDIT: u8 = b'a';
const EVENT: u8 = b'e';
const CHECKPOINT: u8 = b'k';

/// Copies the data folder, does `case` to it in sled; the copy's path.
fn sled_copy(kept: &KeptStore, name: &str, case: Option<Case>) -> anyhow::Result<String> {
    let copy = kept.dir.path().join(name);
    copy_dir(&kept.dir.path().join("data"), &copy)?;
    let db = sled::Config::new().path(&copy).segment_size(SEGMENT_SIZE).open()?;
    if let Some(case) = case {
        tamper_sled(&db, case)?;
    }
    db.flush()?;
    Ok(copy.display().to_string())
}

fn tamper_sled(db: &sled::Db, case: Case) -> anyhow::Result<()> {
    let keys = |prefix: u8| db.scan_prefix([prefix]).keys().collect::<Result<Vec<_>, _>>();
    let round = |key: &[u8]| -> anyhow::Result<Vec<AuditRecord>> {
        Ok(postcard::from_bytes(&db.get(key)?.ok_or_else(|| anyhow::anyhow!("no round"))?)?)
    };
    let (audit, events) = (keys(AUDIT)?, keys(EVENT)?);
    match case {
        Case::EditRecord => {
            let mut records = round(&audit[2])?;
            records[0].entry.action = "ChangePlan.ActivatePlan".into();
            db.insert(&audit[2], postcard::to_stdvec(&records)?)?;
        }
        Case::DeleteRecord => drop(db.remove(&audit[1])?),
        Case::ReorderRecords => {
            let (a, b) = (db.get(&audit[1])?, db.get(&audit[2])?);
            db.insert(&audit[1], b.unwrap_or_default())?;
            db.insert(&audit[2], a.unwrap_or_default())?;
        }
        Case::AppendRecord => {
            let last = round(audit.last().expect("records"))?.pop().expect("a record");
            let forged = AuditRecord::link(last.sequence + 1, last.hash, last.entry.clone())?;
            let key = [[AUDIT].as_slice(), &forged.sequence.to_be_bytes()].concat();
            db.insert(key, postcard::to_stdvec(&vec![forged])?)?;
        }
        Case::Truncate => {
            for key in audit.iter().rev().take(2) {
                db.remove(key)?;
            }
        }
        Case::ForgeCheckpoint => {
            db.insert([CHECKPOINT], postcard::to_stdvec(&Checkpoint::sign(&[9; 32], 1, [0; 32]))?)?;
        }
        Case::EditEvent => {
            let bytes = db.get(&events[1])?.expect("the event").to_vec();
            db.insert(&events[1], edit_goal(bytes))?;
        }
        Case::DeleteEvent => drop(db.remove(&events[2])?),
        Case::InsertEvent => {
            let last = events.last().expect("an event");
            let mut key = last.to_vec();
            let n = key.len();
            key[n - 1] = key[n - 1].wrapping_add(1);
            db.insert(key, db.get(last)?.expect("the event"))?;
        }
    }
    Ok(())
}

/// Makes a database `name` from the hub's as a template, does `case` to it
/// in SQL; its connection string.
async fn postgres_copy(postgres: &Postgres, name: &str, case: Option<Case>) -> anyhow::Result<String> {
    let admin = postgres.client("template1").await?;
    admin.batch_execute(&format!("CREATE DATABASE {name} TEMPLATE postgres")).await?;
    if let Some(case) = case {
        tamper_postgres(&postgres.client(name).await?, case).await?;
    }
    Ok(postgres.connection_string(name))
}

async fn tamper_postgres(db: &tokio_postgres::Client, case: Case) -> anyhow::Result<()> {
    let record = |sequence: i64| async move {
        let row = db.query_one("SELECT record FROM audit WHERE sequence = $1", &[&sequence]).await?;
        anyhow::Ok(postcard::from_bytes::<AuditRecord>(row.get(0))?)
    };
    let set_record = |sequence: i64, record: AuditRecord| async move {
        let bytes = postcard::to_stdvec(&record)?;
        db.execute("UPDATE audit SET record = $2 WHERE sequence = $1", &[&sequence, &bytes]).await?;
        anyhow::Ok(())
    };
    let last: i64 = db.query_one("SELECT max(sequence) FROM audit", &[]).await?.get(0);
    let event = |n: i64| async move {
        let sql =
            "SELECT plan_id, sequence, global_position, event FROM events ORDER BY plan_id, sequence OFFSET $1 LIMIT 1";
        anyhow::Ok(db.query_one(sql, &[&n]).await?)
    };
    match case {
        Case::EditRecord => {
            let mut edited = record(3).await?;
            edited.entry.action = "ChangePlan.ActivatePlan".into();
            set_record(3, edited).await?;
        }
        Case::DeleteRecord => drop(db.execute("DELETE FROM audit WHERE sequence = 2", &[]).await?),
        Case::ReorderRecords => {
            let (second, third) = (record(2).await?, record(3).await?);
            set_record(2, third).await?;
            set_record(3, second).await?;
        }
        Case::AppendRecord => {
            let previous = record(last).await?;
            let forged = AuditRecord::link(previous.sequence + 1, previous.hash, previous.entry.clone())?;
            let bytes = postcard::to_stdvec(&forged)?;
            db.execute("INSERT INTO audit (sequence, record) VALUES ($1, $2)", &[&(last + 1), &bytes]).await?;
        }
        Case::Truncate => drop(db.execute("DELETE FROM audit WHERE sequence > $1", &[&(last - 2)]).await?),
        Case::ForgeCheckpoint => {
            let forged = postcard::to_stdvec(&Checkpoint::sign(&[9; 32], 1, [0; 32]))?;
            db.execute("UPDATE head SET checkpoint = $1", &[&forged]).await?;
        }
        Case::EditEvent => {
            let row = event(1).await?;
            let (plan, sequence): (uuid::Uuid, i64) = (row.get(0), row.get(1));
            let edited = edit_goal(row.get::<_, Vec<u8>>(3));
            db.execute(
                "UPDATE events SET event = $3 WHERE plan_id = $1 AND sequence = $2",
                &[&plan, &sequence, &edited],
            )
            .await?;
        }
        Case::DeleteEvent => {
            let row = event(2).await?;
            let (plan, sequence): (uuid::Uuid, i64) = (row.get(0), row.get(1));
            db.execute("DELETE FROM events WHERE plan_id = $1 AND sequence = $2", &[&plan, &sequence]).await?;
        }
        Case::InsertEvent => {
            let sql = "INSERT INTO events (plan_id, sequence, global_position, event)
                       SELECT plan_id, sequence + 1, (SELECT max(global_position) + 1 FROM events), event
                       FROM events ORDER BY global_position DESC LIMIT 1";
            db.execute(sql, &[]).await?;
        }
    }
    Ok(())
}

/// An event's bytes with its goal "bo selv" made "bo ikke".
fn edit_goal(mut bytes: Vec<u8>) -> Vec<u8> {
    let at = bytes.windows(7).position(|w| w == b"bo selv").expect("goal text in the event");
    bytes[at..at + 7].copy_from_slice(b"bo ikke");
    bytes
}
