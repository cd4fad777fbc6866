//! The roster CSV upload (`PUT …/roster`, `text/csv`): any bytes. It must
//! never panic, a refusal must list at least one error, and a parsed roster
//! goes on through the same checks as a JSON upload and survives storage.
#![no_main]

use ferry_domain::Email;
use ferry_domain::licensing::{CsvFailure, CsvLimits, Roster, parse_roster_csv};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = CsvLimits {
        max_rows: 64,
        max_bytes: 64 * 1024,
        max_field_len: 256,
    };
    match parse_roster_csv(data, limits) {
        Ok(users) => {
            assert!(users.len() as u64 <= limits.max_rows);
            if let Ok(roster) = Roster::from_inputs(&users, &[]) {
                // A card may have no usable address (it still loads), but
                // each address is sorted right, and the stored form of the
                // roster reads back as the same roster.
                for u in roster.users() {
                    assert!(u.emails().iter().all(|e| Email::parse(e).is_ok()));
                    assert!(u.unusable_emails().iter().all(|e| Email::parse(e).is_err()));
                }
                let (again, _) = roster.to_inputs();
                let back = Roster::from_inputs(&again, &[]).expect("a stored roster reads back");
                assert_eq!(back.users(), roster.users());
            }
        }
        Err(CsvFailure::Invalid(errors)) => assert!(!errors.is_empty()),
        Err(CsvFailure::TooLarge { .. }) => {}
    }
});
