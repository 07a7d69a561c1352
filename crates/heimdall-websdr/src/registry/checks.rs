//! Checks of the protocol options shared by several backends, with the reasons the receivers
//! file and the registry give (the caller adds the field, and the line when it has one).

use std::path::Path;

use heimdall_core::Passband;

/// Largest `ca_file` read (a bundle of a few hundred certificates is well below it).
pub const MAX_CA_FILE_BYTES: u64 = 1 << 20;

/// A check that failed: the field it concerns and why.
pub type FieldError = (&'static str, String);

/// Both passband edges or neither; finite, low below high.
pub fn passband(low: Option<f64>, high: Option<f64>) -> Result<Option<Passband>, FieldError> {
    match (low, high) {
        (None, None) => Ok(None),
        (Some(lv), Some(hv)) if !lv.is_finite() || !hv.is_finite() || lv >= hv => Err((
            "passband_low_hz",
            format!("{lv} Hz must be finite and below passband_high_hz {hv} Hz"),
        )),
        (Some(lv), Some(hv)) => Ok(Some(Passband {
            low_hz: lv,
            high_hz: hv,
        })),
        (Some(_), None) => Err(("passband_high_hz", "missing: give both passband edges".into())),
        (None, Some(_)) => Err(("passband_low_hz", "missing: give both passband edges".into())),
    }
}

/// A demodulator name: `^[a-z0-9-]+$`.
pub fn mode(v: &str) -> Result<(), String> {
    if v.is_empty()
        || !v
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err(format!("{v:?} must match ^[a-z0-9-]+$ (usb, am, nfm...)"));
    }
    Ok(())
}

/// A gain within -50..=150 dB.
pub fn gain_db(v: f64) -> Result<(), String> {
    if !v.is_finite() || !(-50.0..=150.0).contains(&v) {
        return Err(format!("{v} dB is not within -50..=150"));
    }
    Ok(())
}

/// A positive sample rate of at most 1 GHz.
pub fn sample_rate_hz(v: f64) -> Result<(), String> {
    if !v.is_finite() || v <= 0.0 || v > heimdall_core::request::MAX_SAMPLE_RATE_HZ {
        return Err(format!("{v} Hz must be positive and at most 1e9"));
    }
    Ok(())
}

/// Reads a `ca_file`: a regular file of at most [`MAX_CA_FILE_BYTES`] holding a PEM
/// certificate. A device or a FIFO (`/dev/zero`, `/dev/stdin`) would make an unbounded read or
/// block for ever, so it is refused before any read.
pub fn read_ca_file(path: &Path) -> Result<Vec<u8>, String> {
    use std::io::Read;
    let cannot = |err: std::io::Error| format!("cannot read {}: {err}", path.display());
    let file = std::fs::File::open(path).map_err(cannot)?;
    let meta = file.metadata().map_err(cannot)?;
    if !meta.is_file() {
        return Err(format!("{} is not a regular file", path.display()));
    }
    let mut pem = Vec::new();
    file.take(MAX_CA_FILE_BYTES + 1).read_to_end(&mut pem).map_err(cannot)?;
    if pem.len() as u64 > MAX_CA_FILE_BYTES {
        return Err(format!(
            "{} is larger than {MAX_CA_FILE_BYTES} bytes, too large for a CA bundle",
            path.display()
        ));
    }
    if !pem.windows(27).any(|w| w == b"-----BEGIN CERTIFICATE-----") {
        return Err(format!(
            "{} holds no PEM certificate (`-----BEGIN CERTIFICATE-----`)",
            path.display()
        ));
    }
    Ok(pem)
}

/// A failed check as the registry reports it: `field: why`.
pub fn config_error((field, why): FieldError) -> heimdall_core::Error {
    heimdall_core::Error::config(format!("{field}: {why}"))
}

/// [`config_error`] of a check of one field.
pub fn field(name: &'static str) -> impl FnOnce(String) -> heimdall_core::Error {
    move |why| config_error((name, why))
}

/// The PEM of `ca_file` (read) and of `ca_certificates_pem` (inline), those given.
pub fn ca_pems(ca_file: Option<&Path>, inline: Option<String>) -> Result<Vec<Vec<u8>>, heimdall_core::Error> {
    let mut pems = Vec::new();
    if let Some(p) = ca_file {
        pems.push(read_ca_file(p).map_err(field("ca_file"))?);
    }
    if let Some(pem) = inline {
        pems.push(pem.into_bytes());
    }
    Ok(pems)
}
