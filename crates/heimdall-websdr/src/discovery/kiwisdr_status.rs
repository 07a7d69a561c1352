//! KiwiSDR `GET /status`: `key=value` lines, one per field (`users=2`, `fixes_min=12`,
//! `gps=(45.0, 7.6)`, `auth=password`...). The public KiwiSDR directory lists receivers with the
//! same keys. The one parser of these pages: the KiwiSDR source's `health()` and discovery both
//! use it.

use std::collections::BTreeMap;

use heimdall_core::{GeoPosition, ReceiverHealth};

/// A parsed KiwiSDR `/status` page (or directory entry). Unknown keys stay in [`KiwiStatus::fields`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct KiwiStatus {
    /// Every `key=value` pair as sent (last one wins).
    pub fields: BTreeMap<String, String>,
}

impl KiwiStatus {
    /// Parses `key=value` lines; lines without `=` are ignored. Never fails.
    pub fn parse(text: &str) -> KiwiStatus {
        let mut fields = BTreeMap::new();
        for line in text.lines() {
            if let Some((k, v)) = line.split_once('=') {
                let k = k.trim();
                if !k.is_empty() {
                    fields.insert(k.to_owned(), v.trim().to_owned());
                }
            }
        }
        KiwiStatus { fields }
    }

    /// Builds from already split pairs (directory entries).
    pub fn from_fields(fields: BTreeMap<String, String>) -> KiwiStatus {
        KiwiStatus { fields }
    }

    /// A raw field.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.fields.get(key).map(String::as_str).filter(|s| !s.is_empty())
    }

    fn num<T: std::str::FromStr>(&self, key: &str) -> Option<T> {
        self.get(key)?.trim().parse().ok()
    }

    /// `name`.
    pub fn name(&self) -> Option<&str> {
        self.get("name")
    }

    /// `loc` (free-text location).
    pub fn location(&self) -> Option<&str> {
        self.get("loc")
    }

    /// `status` (`active`, `private`, `offline`...).
    pub fn status(&self) -> Option<&str> {
        self.get("status")
    }

    /// Whether the Kiwi says it is offline (`offline=yes` or `status=offline`/`down`).
    pub fn offline(&self) -> bool {
        matches!(self.get("offline"), Some(v) if v.eq_ignore_ascii_case("yes") || v == "1" || v.eq_ignore_ascii_case("true"))
            || matches!(self.status(), Some(s) if s.eq_ignore_ascii_case("offline") || s.eq_ignore_ascii_case("down"))
    }

    /// Whether a password is required (`auth=password` present).
    pub fn auth_required(&self) -> bool {
        matches!(self.get("auth"), Some(a) if a.eq_ignore_ascii_case("password"))
    }

    /// `users`.
    pub fn users(&self) -> Option<u32> {
        self.num("users")
    }

    /// `users_max`.
    pub fn users_max(&self) -> Option<u32> {
        self.num("users_max")
    }

    /// `fixes` (GPS fixes since start).
    pub fn gps_fixes(&self) -> Option<u64> {
        self.num("fixes")
    }

    /// `fixes_min` (GPS fixes in the last minute).
    pub fn gps_fixes_min(&self) -> Option<u64> {
        self.num("fixes_min")
    }

    /// `gps_good` (satellites in the solution).
    pub fn gps_good(&self) -> Option<u32> {
        self.num("gps_good")
    }

    /// Whether GPS time is usable: fixes in the last minute when reported, else satellites in
    /// the solution (`gps_good`), else any fix since start.
    pub fn gps_locked(&self) -> Option<bool> {
        if let Some(m) = self.gps_fixes_min() {
            return Some(m > 0);
        }
        if let Some(g) = self.gps_good() {
            return Some(g > 0);
        }
        self.gps_fixes().map(|f| f > 0)
    }

    /// `freq_offset` in kHz (a Kiwi behind a down- or up-converter tunes this much higher).
    pub fn freq_offset_khz(&self) -> Option<f64> {
        self.num::<f64>("freq_offset").filter(|f| f.is_finite())
    }

    /// `sw_version`.
    pub fn version(&self) -> Option<&str> {
        self.get("sw_version")
    }

    /// `asl` (antenna height above sea level, m).
    pub fn altitude_m(&self) -> Option<f64> {
        self.num::<f64>("asl").filter(|a| a.is_finite())
    }

    /// `gps=(lat, lon)` with `asl` as altitude; `None` when absent, malformed or out of range
    /// (including the `(0.000000, 0.000000)` many Kiwis report when unset).
    pub fn position(&self) -> Option<GeoPosition> {
        let (lat, lon) = parse_gps_pair(self.get("gps")?)?;
        if lat == 0.0 && lon == 0.0 {
            return None;
        }
        let alt = self.altitude_m().filter(|a| (-500.0..=100_000.0).contains(a));
        GeoPosition::new(lat, lon, alt).ok()
    }

    /// As a [`ReceiverHealth`]: available when not offline, below `users_max`, and either open
    /// or `have_password` (the caller holds the receiver's password).
    pub fn to_health(&self, have_password: bool) -> ReceiverHealth {
        let users = self.users();
        let users_max = self.users_max();
        let full = matches!((users, users_max), (Some(u), Some(m)) if u >= m);
        let offline = self.offline();
        let mut detail = Vec::new();
        if offline {
            detail.push("offline".to_owned());
        }
        if full {
            detail.push("all channels in use".to_owned());
        }
        let locked_out = self.auth_required() && !have_password;
        if locked_out {
            detail.push("password required".to_owned());
        }
        if let Some(s) = self.status().filter(|s| !s.eq_ignore_ascii_case("active")) {
            detail.push(format!("status={s}"));
        }
        ReceiverHealth {
            available: !offline && !full && !locked_out,
            users,
            users_max,
            gps_locked: self.gps_locked(),
            version: self.version().map(str::to_owned),
            detail: detail.join("; "),
        }
    }
}

/// Parses `(lat, lon)` (parentheses optional, comma separated).
pub fn parse_gps_pair(s: &str) -> Option<(f64, f64)> {
    let s = s.trim().trim_start_matches('(').trim_end_matches(')');
    let (a, b) = s.split_once(',')?;
    let lat: f64 = a.trim().parse().ok()?;
    let lon: f64 = b.trim().parse().ok()?;
    (lat.is_finite() && lon.is_finite()).then_some((lat, lon))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_status_page() {
        let s = KiwiStatus::parse(
            "status=active\noffline=no\nname=Kiwi Torino\nusers=2\nusers_max=4\ngps=(45.044000, 7.672000)\n\
             gps_good=7\nfixes=1234\nfixes_min=12\nasl=250\nloc=Torino, Italy\nsw_version=KiwiSDR_v1.711\nbogus\n",
        );
        assert_eq!(s.name(), Some("Kiwi Torino"));
        assert_eq!(s.location(), Some("Torino, Italy"));
        let p = s.position().unwrap();
        assert_eq!((p.latitude, p.longitude, p.altitude_m), (45.044, 7.672, Some(250.0)));
        let h = s.to_health(false);
        assert!(h.available);
        assert_eq!((h.users, h.users_max, h.gps_locked), (Some(2), Some(4), Some(true)));
        assert_eq!(h.version.as_deref(), Some("KiwiSDR_v1.711"));
        assert!(!s.auth_required());
    }

    #[test]
    fn full_offline_auth() {
        let s =
            KiwiStatus::parse("offline=yes\nusers=4\nusers_max=4\nauth=password\nfixes=0\ngps=(0.000000, 0.000000)");
        let h = s.to_health(false);
        assert!(!h.available);
        assert!(!s.to_health(true).available, "offline and full, password or not");
        assert_eq!(h.gps_locked, Some(false));
        assert!(h.detail.contains("offline") && h.detail.contains("all channels") && h.detail.contains("password"));
        assert!(s.position().is_none());
        assert!(KiwiStatus::parse("gps=(95, 7)").position().is_none());
        assert!(KiwiStatus::parse("gps=garbage").position().is_none());
    }

    #[test]
    fn a_password_protected_kiwi_is_available_only_with_the_password() {
        let s = KiwiStatus::parse(
            "status=active
offline=no
users=2
users_max=4
fixes_min=12
auth=password
bad line
",
        );
        let anonymous = s.to_health(false);
        assert!(!anonymous.available);
        assert_eq!(anonymous.detail, "password required");
        let with_password = s.to_health(true);
        assert!(with_password.available, "{with_password:?}");
        assert_eq!(with_password.detail, "", "status=active is not worth a word");
    }

    #[test]
    fn gps_lock_from_fixes_min_then_satellites_then_any_fix() {
        for (text, locked) in [
            ("fixes_min=0\ngps_good=7\nfixes=9", Some(false)),
            ("gps_good=7\nfixes=0", Some(true)),
            ("gps_good=0\nfixes=9", Some(false)),
            ("fixes=9", Some(true)),
            ("users=1", None),
        ] {
            assert_eq!(KiwiStatus::parse(text).gps_locked(), locked, "{text}");
        }
        assert_eq!(
            KiwiStatus::parse("freq_offset=100000.000").freq_offset_khz(),
            Some(100_000.0)
        );
        assert_eq!(KiwiStatus::parse("freq_offset=NaN").freq_offset_khz(), None);
    }
}
