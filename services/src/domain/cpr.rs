//! Danish CPR numbers: validation and the keyed pseudonym that stands in for them.
//!
//! Rules (CPR-kontoret): ten characters `DDMMYY` + `SSSS`, optionally written
//! `DDMMYY-SSSS`. The date must be a real calendar date; the century follows
//! from the 7th digit and the year. The modulus-11 check is *not* applied:
//! numbers without it have been issued since 2007. eCPR replacement numbers
//! carry letters in positions 8-9 (e.g. `0203291WQ3`) and are accepted as such.

use chrono::NaiveDate;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// What kind of identifier a citizen was registered with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CprKind {
    Regular,
    Replacement,
}

/// Why a CPR number was refused. Never carries the number itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CprError {
    #[error("must be 10 characters, DDMMYYSSSS or DDMMYY-SSSS")]
    Length,
    #[error("positions 1-7 and 10 must be digits")]
    NotDigits,
    #[error("positions 8-9 must be two digits, or two letters for an eCPR replacement number")]
    SerialPart,
    #[error("positions 1-6 are not a real date of birth")]
    Date,
}

/// A validated CPR or eCPR number. Deliberately has no `Display` and a redacted
/// `Debug`, so it cannot end up in a log line by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct Cpr {
    normalized: [u8; 10],
    kind: CprKind,
    birth_date: NaiveDate,
}

impl std::fmt::Debug for Cpr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cpr").field("kind", &self.kind).finish_non_exhaustive()
    }
}

impl Cpr {
    pub fn parse(input: &str) -> Result<Self, CprError> {
        let bytes = input.trim().as_bytes();
        let mut normalized = [0u8; 10];
        match bytes.len() {
            10 => normalized.copy_from_slice(bytes),
            11 if bytes[6] == b'-' => {
                normalized[..6].copy_from_slice(&bytes[..6]);
                normalized[6..].copy_from_slice(&bytes[7..]);
            }
            _ => return Err(CprError::Length),
        }
        let digit_positions = [0, 1, 2, 3, 4, 5, 6, 9];
        if !digit_positions.iter().all(|&i| normalized[i].is_ascii_digit()) {
            return Err(CprError::NotDigits);
        }
        let kind = match (normalized[7], normalized[8]) {
            (a, b) if a.is_ascii_digit() && b.is_ascii_digit() => CprKind::Regular,
            (a, b) if a.is_ascii_alphabetic() && b.is_ascii_alphabetic() => {
                normalized[7] = a.to_ascii_uppercase();
                normalized[8] = b.to_ascii_uppercase();
                CprKind::Replacement
            }
            _ => return Err(CprError::SerialPart),
        };
        let num = |i: usize| u32::from(normalized[i] - b'0') * 10 + u32::from(normalized[i + 1] - b'0');
        let (day, month, yy) = (num(0), num(2), num(4));
        let century = century(normalized[6] - b'0', yy);
        let year = i32::try_from(century + yy).map_err(|_| CprError::Date)?;
        let birth_date = NaiveDate::from_ymd_opt(year, month, day).ok_or(CprError::Date)?;
        Ok(Self { normalized, kind, birth_date })
    }

    pub fn kind(&self) -> CprKind {
        self.kind
    }

    pub fn birth_date(&self) -> NaiveDate {
        self.birth_date
    }
}

/// Whether `text` holds something that parses as a CPR or eCPR number
/// anywhere in it, for refusing client-chosen identifiers that would carry one
/// into logs or storage keys.
pub fn contains_cpr(text: &str) -> bool {
    let bytes = text.as_bytes();
    (0..bytes.len()).any(|start| {
        [10, 11].iter().any(|len| {
            bytes
                .get(start..start + len)
                .and_then(|window| std::str::from_utf8(window).ok())
                .is_some_and(|window| !window.contains(char::is_whitespace) && Cpr::parse(window).is_ok())
        })
    })
}

/// Whether an identifier names a CPR or eCPR number: a run of letters and
/// digits that is one (`dr-0101304000`), two neighbouring runs that are one
/// when joined with a dash (`010130-4000`), or a run of exactly ten digits
/// that is one, wherever it stands (`ref0101304000x`). Whole runs, not every
/// window, and UUIDs are exempt from the digit-run rule, so that a UUID never
/// matches by chance (a window search refuses about one random UUID in 400).
pub fn names_cpr(identifier: &str) -> bool {
    let parts: Vec<&str> = identifier.split(|c: char| !c.is_ascii_alphanumeric()).collect();
    let is_cpr = |text: &str| Cpr::parse(text).is_ok();
    parts.iter().any(|part| part.len() == 10 && is_cpr(part))
        || parts
            .windows(2)
            .any(|pair| pair[0].len() == 6 && pair[1].len() == 4 && is_cpr(&format!("{}-{}", pair[0], pair[1])))
        || (uuid::Uuid::try_parse(identifier).is_err()
            && identifier.split(|c: char| !c.is_ascii_digit()).any(|run| run.len() == 10 && is_cpr(run)))
}

/// The century of a birth year, from the 7th digit and the two-digit year.
fn century(seventh: u8, yy: u32) -> u32 {
    match seventh {
        0..=3 => 1900,
        4 | 9 if yy <= 36 => 2000,
        4 | 9 => 1900,
        _ if yy <= 57 => 2000,
        _ => 1800,
    }
}

/// A keyed pseudonym of a citizen: HMAC-SHA256 of the normalized CPR number
/// under the hub's secret key. Unkeyed hashes of CPR numbers are trivially
/// reversed (there are only a few million per birth year), so the key matters.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CitizenKey(pub [u8; 32]);

impl std::fmt::Debug for CitizenKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CitizenKey({})", hex::encode(&self.0[..6]))
    }
}

/// The secret that keys citizen pseudonyms. Losing it makes every plan
/// unfindable by CPR number; leaking it makes pseudonyms reversible.
#[derive(Clone)]
pub struct PseudonymKey([u8; 32]);

impl std::fmt::Debug for PseudonymKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PseudonymKey(..)")
    }
}

impl PseudonymKey {
    pub fn new(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    pub fn citizen_key(&self, cpr: &Cpr) -> CitizenKey {
        // HMAC accepts keys of any length; 32 bytes never fails.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.0).unwrap_or_else(|_| unreachable!());
        mac.update(b"samplan.v1.citizen\0");
        mac.update(&cpr.normalized);
        CitizenKey(mac.finalize().into_bytes().into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_numbers_failing_modulus_11() {
        // 010190-1235 fails the modulus-11 check and is still valid since 2007.
        let cpr = Cpr::parse("0101901235").expect("valid");
        assert_eq!(cpr.kind(), CprKind::Regular);
        assert_eq!(cpr.birth_date(), NaiveDate::from_ymd_opt(1990, 1, 1).expect("date"));
    }

    #[test]
    fn accepts_dash_and_replacement_numbers() {
        assert!(Cpr::parse("010190-1234").is_ok());
        let ecpr = Cpr::parse("0203291WQ3").expect("ecpr");
        assert_eq!(ecpr.kind(), CprKind::Replacement);
        assert_eq!(ecpr.birth_date(), NaiveDate::from_ymd_opt(1929, 3, 2).expect("date"));
        let lower = Cpr::parse("0203291wq3").expect("lowercase ecpr");
        let key = PseudonymKey::new([7; 32]);
        assert_eq!(key.citizen_key(&lower), key.citizen_key(&ecpr));
    }

    #[test]
    fn century_follows_the_seventh_digit() {
        let year = |s: &str| chrono::Datelike::year(&Cpr::parse(s).expect("valid").birth_date());
        assert_eq!(year("0101370000"), 1937);
        assert_eq!(year("0101364000"), 2036);
        assert_eq!(year("0101374000"), 1937);
        assert_eq!(year("0101575000"), 2057);
        assert_eq!(year("0101585000"), 1858);
        assert_eq!(year("0101369000"), 2036);
        assert_eq!(year("0101379000"), 1937);
    }

    #[test]
    fn rejects_malformed_numbers() {
        assert_eq!(Cpr::parse("123"), Err(CprError::Length));
        assert_eq!(Cpr::parse("01019012345"), Err(CprError::Length));
        assert_eq!(Cpr::parse("01a1901234"), Err(CprError::NotDigits));
        assert_eq!(Cpr::parse("0101901A34"), Err(CprError::SerialPart));
        assert_eq!(Cpr::parse("3102901234"), Err(CprError::Date));
        assert_eq!(Cpr::parse("2902011234"), Err(CprError::Date)); // 1901 was no leap year
        assert_eq!(Cpr::parse("2902001234"), Err(CprError::Date)); // 1900 was no leap year
        assert!(Cpr::parse("2902004234").is_ok()); // 2000 was
    }

    #[test]
    fn finds_numbers_inside_identifiers() {
        assert!(contains_cpr("corr-0101901234-x"));
        assert!(contains_cpr("010190-1234"));
        assert!(contains_cpr("id0203291WQ3"));
        assert!(!contains_cpr("7c9e6679-7425-40de-944b-e07fc1f90ae7"));
        assert!(!contains_cpr("demo-psykiatri-amager-12"));
    }

    #[test]
    fn finds_numbers_named_as_parts_of_identifiers_and_never_in_random_uuids() {
        assert!(names_cpr("dr-0101304000"));
        assert!(names_cpr("0101304000"));
        assert!(names_cpr("req.010130-4000.1"));
        assert!(names_cpr("cpr:0203291WQ3"));
        assert!(names_cpr("ref0101304000x"), "a ten-digit run anywhere");
        assert!(!names_cpr("ref01013040001"), "eleven digits are no CPR number");
        assert!(!names_cpr("demo-psykiatri-amager-12"));
        assert!(!names_cpr("aut-4471"));
        // A window search finds "numbers" in about one random UUID in 400; parts never do.
        for _ in 0..20_000 {
            let uuid = uuid::Uuid::new_v4().to_string();
            assert!(!names_cpr(&uuid), "{uuid}");
        }
    }

    #[test]
    fn debug_never_shows_the_number() {
        let cpr = Cpr::parse("0101901234").expect("valid");
        assert!(!format!("{cpr:?}").contains("0101901234"));
    }
}
