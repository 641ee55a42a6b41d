//! Sends sample JSON through the generated types: what must deserialize has to serialize back
//! to the same JSON, and what must be rejected has to fail to deserialize.
#![deny(warnings)]

mod cases;

use serde::de::DeserializeOwned;
use serde::Serialize;

/// One JSON text and what a generated type must do with it.
pub struct Case {
    /// The generated type, as a path (`qa::QAInput`).
    pub type_name: &'static str,
    /// What the case is about, for failure messages.
    pub about: &'static str,
    pub json: &'static str,
    /// `round_trip::<T>` or `rejects::<T>`.
    pub check: fn(&str) -> Result<(), String>,
}

/// `json` deserializes into `T`, and serializing that gives the same JSON back. Everything
/// goes through `serde_json::Value`, so each type is compiled against one deserializer and
/// one serializer only, which keeps this crate quick to build.
pub fn round_trip<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(
    json: &str,
) -> Result<(), String> {
    let sent: serde_json::Value =
        serde_json::from_str(json).map_err(|error| format!("sample is not JSON: {error}"))?;
    let value = T::deserialize(&sent).map_err(|error| format!("does not deserialize: {error}"))?;
    let returned =
        serde_json::to_value(&value).map_err(|error| format!("does not serialize: {error}"))?;
    if returned != sent {
        return Err(format!("came back different:\n    got  {returned}"));
    }
    let again = T::deserialize(&returned)
        .map_err(|error| format!("its own output does not deserialize: {error}"))?;
    if again != value {
        return Err(format!("reads back as {again:?}, not {value:?}"));
    }
    Ok(())
}

/// `json` must not deserialize into `T`.
pub fn rejects<T: DeserializeOwned + std::fmt::Debug>(json: &str) -> Result<(), String> {
    let sent: serde_json::Value =
        serde_json::from_str(json).map_err(|error| format!("sample is not JSON: {error}"))?;
    match T::deserialize(&sent) {
        Ok(value) => Err(format!("was accepted as {value:?}")),
        Err(_) => Ok(()),
    }
}

fn main() {
    let cases = cases::cases();
    let mut failures = 0;
    for case in &cases {
        if let Err(message) = (case.check)(case.json) {
            failures += 1;
            eprintln!(
                "FAIL {} ({}): {message}\n    json {}",
                case.type_name, case.about, case.json
            );
        }
    }
    println!("checked {} cases, {failures} failed", cases.len());
    if failures > 0 {
        std::process::exit(1);
    }
}
