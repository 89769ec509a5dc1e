//! Online backup and restore.
//!
//! sled has no snapshot, but Samplan's primary data is append-only, so a
//! consistent backup needs only a cut: the writer, between two rounds, names
//! the last global position and audit sequence it applied and signs a
//! checkpoint of the audit chain there; once the syncer has made everything up
//! to the cut durable, the backup copies every primary key at or before it
//! while the writer goes on. Keys written after the cut are left out by what
//! they point to, never by when the scan met them.
//!
//! Primary keys are what nothing else can rebuild: the events (`e`), the
//! global log's rounds (`g`), the audit rounds (`a`), the citizen index (`c`,
//! whose pseudonyms appear nowhere else) and the idempotency records (`r`).
//! Everything else — projections, the clock, review and per-plan audit
//! indexes — is derived; `restore` rebuilds it from the log.
//!
//! The file: a magic line, a header (the cut and its signed checkpoint),
//! then length-prefixed key/value pairs, then an end marker, the number of
//! pairs and a SHA-256 over everything before the digest. The pseudonym key
//! is not in it: the checkpoint only verifies, and citizens are only found
//! by CPR, with the key the hub used.

use std::io::{Read, Write};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::audit::Checkpoint;
use super::decide::RequestRecord;
use super::{Error, decode, encode, keys, migrate, plan_audit};
use crate::domain::{PlanId, RecordedEvent, Timestamp};

const MAGIC: &[u8; 16] = b"samplan-backup1\n";
/// The folder, inside the data folder, a restore builds in; while it is
/// there the data folder is not whole and the store refuses to open it.
pub const STAGING: &str = ".restoring";
/// The length that marks the end of the pairs.
const END: u32 = u32::MAX;
/// No stored key or value comes near this; a longer frame is damage.
const MAX_FRAME: usize = 64 * 1024 * 1024;
/// Pairs written to sled per batch while restoring.
const RESTORE_BATCH: usize = 4096;

/// Where a backup cuts the logs, as the writer saw it between two rounds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cut {
    /// The last global position at or before the cut.
    pub position: u64,
    /// The last audit record at or before the cut, authenticated.
    pub checkpoint: Checkpoint,
}

#[derive(Debug, Serialize, Deserialize)]
struct Header {
    cut: Cut,
    taken_at: Timestamp,
}

/// What a backup holds, or what a restore rebuilt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Summary {
    pub cut: Cut,
    pub taken_at: Timestamp,
    pub plans: u64,
    /// Primary key/value pairs.
    pub pairs: u64,
    pub bytes: u64,
}

/// Writes the primary keys at or before `cut` to `out` (the cut must be durable).
pub(super) fn write(db: &sled::Db, cut: Cut, taken_at: Timestamp, out: impl Write) -> Result<Summary, Error> {
    let mut file = FileWriter::start(out, &cut, taken_at)?;
    for prefix in PRIMARY {
        for item in db.scan_prefix([prefix]) {
            let (key, value) = item?;
            let wanted = match prefix {
                keys::EVENT => decode::<RecordedEvent>(&value)?.global_position <= cut.position,
                keys::GLOBAL => number(&key)? <= cut.position,
                keys::AUDIT => number(&key)? <= cut.checkpoint.sequence,
                keys::CITIZEN => before(db, keys::decode_plan_id(&value)?, 1, cut.position)?,
                _ => {
                    let record: RequestRecord = decode(&value)?;
                    before(db, record.plan_id, record.version, cut.position)?
                }
            };
            if wanted {
                file.pair(&key, &value)?;
            }
        }
    }
    file.finish(cut, taken_at)
}

/// The prefixes of the primary keys, in the order a backup holds them.
pub(super) const PRIMARY: [u8; 5] = [keys::EVENT, keys::GLOBAL, keys::AUDIT, keys::CITIZEN, keys::REQUEST];

/// A backup file being written: the header, then pairs, then the end marker,
/// the number of pairs and the digest. Either engine writes it.
pub(super) struct FileWriter<W: Write> {
    out: Hashing<W>,
    pairs: u64,
    plans: u64,
    last_plan: Option<Vec<u8>>,
}

impl<W: Write> FileWriter<W> {
    pub(super) fn start(out: W, cut: &Cut, taken_at: Timestamp) -> Result<Self, Error> {
        let mut out = Hashing { inner: out, digest: Sha256::new(), bytes: 0 };
        out.write_all(MAGIC)?;
        frame(&mut out, &encode(&Header { cut: cut.clone(), taken_at })?)?;
        Ok(Self { out, pairs: 0, plans: 0, last_plan: None })
    }

    /// Adds a primary key and its value (events grouped by plan, as sled orders them).
    pub(super) fn pair(&mut self, key: &[u8], value: &[u8]) -> Result<(), Error> {
        if key.first() == Some(&keys::EVENT) && self.last_plan.as_deref() != key.get(1..17) {
            self.last_plan = key.get(1..17).map(<[u8]>::to_vec);
            self.plans += 1;
        }
        frame(&mut self.out, key)?;
        frame(&mut self.out, value)?;
        self.pairs += 1;
        Ok(())
    }

    pub(super) fn finish(mut self, cut: Cut, taken_at: Timestamp) -> Result<Summary, Error> {
        self.out.write_all(&END.to_be_bytes())?;
        self.out.write_all(&self.pairs.to_be_bytes())?;
        let digest = self.out.digest.clone().finalize();
        self.out.write_all(&digest)?;
        self.out.inner.flush()?;
        Ok(Summary { cut, taken_at, plans: self.plans, pairs: self.pairs, bytes: self.out.bytes })
    }
}

/// Whether event `sequence` of `plan` exists at or before global position `position`.
fn before(db: &sled::Db, plan: PlanId, sequence: u64, position: u64) -> Result<bool, Error> {
    match db.get(keys::event(plan, sequence))? {
        Some(bytes) => Ok(decode::<RecordedEvent>(&bytes)?.global_position <= position),
        None => Ok(false),
    }
}

fn number(key: &[u8]) -> Result<u64, Error> {
    keys::decode_u64(&key[1..]).ok_or_else(|| Error::Storage("corrupt log key".into()))
}

fn frame(out: &mut impl Write, bytes: &[u8]) -> Result<(), Error> {
    let len = u32::try_from(bytes.len()).ok().filter(|len| *len as usize <= MAX_FRAME).ok_or_else(too_big)?;
    out.write_all(&len.to_be_bytes())?;
    out.write_all(bytes)?;
    Ok(())
}

fn too_big() -> Error {
    Error::Storage("a stored value is too large for a backup".into())
}

/// Rebuilds a store in `db` (empty) from the backup `input`: its primary
/// keys, then everything derived from them. Refuses a backup whose digest
/// does not match or whose checkpoint `checkpoint_key` does not authenticate.
pub(super) fn restore(db: &sled::Db, input: impl Read, checkpoint_key: &[u8; 32]) -> Result<Summary, Error> {
    let mut file = FileReader::open(input, checkpoint_key)?;
    let mut plans = Vec::<PlanId>::new();
    let mut batch = sled::Batch::default();
    let mut staged = 0;
    while let Some((key, value)) = file.pair()? {
        if key[0] == keys::EVENT {
            let plan = keys::decode_plan_id(key.get(1..17).ok_or_else(|| invalid("it holds a short event key"))?)?;
            if plans.last() != Some(&plan) {
                plans.push(plan);
            }
        }
        batch.insert(key, value);
        staged += 1;
        if staged == RESTORE_BATCH {
            db.apply_batch(std::mem::take(&mut batch))?;
            staged = 0;
        }
    }
    db.apply_batch(batch)?;
    let summary = file.finish(plans.len() as u64)?;
    migrate::rebuild(db, &plans)?;
    plan_audit::rebuild(db, summary.cut.checkpoint.sequence)?;
    db.insert([keys::CHECKPOINT], encode(&summary.cut.checkpoint)?)?;
    db.insert([keys::PROJECTION_FORMAT], encode(&migrate::PROJECTION_FORMAT)?)?;
    db.flush()?;
    Ok(summary)
}

/// A stored key and its value.
pub(super) type Pair = (Vec<u8>, Vec<u8>);

/// A backup file being read: its header is checked on opening, its pairs
/// come one by one, and its end, count and digest are checked last — so
/// whatever was built from its pairs is kept only once `finish` passes.
pub(super) struct FileReader<R: Read> {
    input: Hashing<R>,
    header: Header,
    pairs: u64,
}

impl<R: Read> FileReader<R> {
    /// Opens a backup; refuses one whose checkpoint `checkpoint_key` does not authenticate.
    pub(super) fn open(input: R, checkpoint_key: &[u8; 32]) -> Result<Self, Error> {
        let mut input = Hashing { inner: input, digest: Sha256::new(), bytes: 0 };
        let mut magic = [0; MAGIC.len()];
        input.read_exact(&mut magic).map_err(|_| invalid("it does not start like a Samplan backup"))?;
        if &magic != MAGIC {
            return Err(invalid("it does not start like a Samplan backup"));
        }
        let header: Header = decode(&read_frame(&mut input)?.ok_or_else(|| invalid("it has no header"))?)?;
        if !header.cut.checkpoint.is_authentic(checkpoint_key) {
            return Err(invalid(
                "its audit checkpoint does not verify with this hub's key; restore with the pseudonym key of the hub that took it",
            ));
        }
        Ok(Self { input, header, pairs: 0 })
    }

    /// The next primary key and its value, or `None` after the last.
    pub(super) fn pair(&mut self) -> Result<Option<Pair>, Error> {
        let Some(key) = read_frame(&mut self.input)? else { return Ok(None) };
        let value = read_frame(&mut self.input)?.ok_or_else(|| invalid("it ends inside a pair"))?;
        if !key.first().is_some_and(|prefix| PRIMARY.contains(prefix)) {
            return Err(invalid("it holds a key a backup never holds"));
        }
        self.pairs += 1;
        Ok(Some((key, value)))
    }

    /// Checks the count and digest after the last pair; what the file held, with `plans` plans.
    pub(super) fn finish(mut self, plans: u64) -> Result<Summary, Error> {
        let mut count = [0; 8];
        self.input.read_exact(&mut count).map_err(|_| invalid("it is truncated"))?;
        let expected = self.input.digest.clone().finalize();
        let mut digest = [0; 32];
        self.input.inner.read_exact(&mut digest).map_err(|_| invalid("it is truncated"))?;
        if u64::from_be_bytes(count) != self.pairs || digest.as_slice() != expected.as_slice() {
            return Err(invalid("its digest does not match: the file is damaged"));
        }
        if self.input.inner.read(&mut [0; 1])? != 0 {
            return Err(invalid("it goes on after its digest"));
        }
        let Header { cut, taken_at } = self.header;
        Ok(Summary { cut, taken_at, plans, pairs: self.pairs, bytes: self.input.bytes + 32 })
    }
}

/// The next length-prefixed frame, or `None` at the end marker.
fn read_frame(input: &mut impl Read) -> Result<Option<Vec<u8>>, Error> {
    let mut len = [0; 4];
    input.read_exact(&mut len).map_err(|_| invalid("it is truncated"))?;
    let len = u32::from_be_bytes(len);
    if len == END {
        return Ok(None);
    }
    if len as usize > MAX_FRAME {
        return Err(invalid("it holds a value larger than any the hub stores: the file is damaged"));
    }
    let mut bytes = vec![0; len as usize];
    input.read_exact(&mut bytes).map_err(|_| invalid("it is truncated"))?;
    Ok(Some(bytes))
}

pub(super) fn invalid(why: &str) -> Error {
    Error::Storage(format!("not a usable backup: {why}"))
}

/// A reader or writer that hashes what passes through it.
struct Hashing<T> {
    inner: T,
    digest: Sha256,
    bytes: u64,
}

impl<T: Write> Write for Hashing<T> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.digest.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

impl<T: Read> Read for Hashing<T> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.digest.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
}
