//! OpenWebRX `GET /status.json` (served by OpenWebRX's `owrx/controllers/status.py`):
//! `receiver {name, admin, gps, asl, location}`, `max_clients`, `version`,
//! `sdrs[{name, type, profiles[{name, center_freq, sample_rate}]}]`.

use heimdall_core::{GeoPosition, ReceiverHealth};
use serde::{Deserialize, Serialize};

/// The whole `/status.json` document. Every field is optional: servers differ.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OpenWebRxStatus {
    /// Receiver description.
    #[serde(default)]
    pub receiver: OpenWebRxReceiver,
    /// Maximum simultaneous clients.
    #[serde(default)]
    pub max_clients: Option<u32>,
    /// Server version (`v1.2.0`, `1.2.121`...).
    #[serde(default, deserialize_with = "lenient_string")]
    pub version: Option<String>,
    /// SDR devices and their profiles.
    #[serde(default)]
    pub sdrs: Vec<OpenWebRxSdr>,
}

/// `receiver` of `/status.json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OpenWebRxReceiver {
    /// Receiver name.
    #[serde(default, deserialize_with = "lenient_string")]
    pub name: Option<String>,
    /// Admin contact.
    #[serde(default, deserialize_with = "lenient_string")]
    pub admin: Option<String>,
    /// `{lat, lon}`.
    #[serde(default)]
    pub gps: Option<LatLon>,
    /// Antenna height above sea level, m.
    #[serde(default)]
    pub asl: Option<f64>,
    /// Free-text location.
    #[serde(default, deserialize_with = "lenient_string")]
    pub location: Option<String>,
}

/// A `{lat, lon}` pair.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LatLon {
    /// Degrees north.
    pub lat: f64,
    /// Degrees east.
    pub lon: f64,
}

/// One SDR device.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OpenWebRxSdr {
    /// Device name.
    #[serde(default)]
    pub name: String,
    /// Device type (`rtl_sdr`, `sdrplay`...).
    #[serde(default, rename = "type", deserialize_with = "lenient_string")]
    pub kind: Option<String>,
    /// Its profiles.
    #[serde(default)]
    pub profiles: Vec<OpenWebRxProfile>,
}

/// One profile of an SDR.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OpenWebRxProfile {
    /// Profile name.
    #[serde(default)]
    pub name: String,
    /// Centre frequency, Hz.
    #[serde(default)]
    pub center_freq: Option<f64>,
    /// Sample rate (span), Hz.
    #[serde(default)]
    pub sample_rate: Option<f64>,
}

impl OpenWebRxProfile {
    /// Whether `[target + low, target + high]` lies inside this profile's span (1 % guard).
    pub fn covers(&self, target_hz: f64, low_hz: f64, high_hz: f64) -> bool {
        match (self.center_freq, self.sample_rate) {
            (Some(c), Some(sr)) => {
                let half = sr / 2.0 * 0.99;
                sr > 0.0 && target_hz + low_hz >= c - half && target_hz + high_hz <= c + half
            }
            _ => false,
        }
    }
}

fn lenient_string<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let v = Option::<serde_json::Value>::deserialize(d)?;
    Ok(match v {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(s)) => Some(s),
        Some(other) => Some(other.to_string()),
    })
}

impl OpenWebRxStatus {
    /// Parses the JSON document.
    pub fn parse(text: &str) -> Result<OpenWebRxStatus, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// The antenna position, if `receiver.gps` is valid (altitude from `asl`).
    pub fn position(&self) -> Option<GeoPosition> {
        let g = self.receiver.gps?;
        if g.lat == 0.0 && g.lon == 0.0 {
            return None;
        }
        let alt = self
            .receiver
            .asl
            .filter(|a| a.is_finite() && (-500.0..=100_000.0).contains(a));
        GeoPosition::new(g.lat, g.lon, alt).ok()
    }

    /// Every `(sdr, profile)` pair.
    pub fn profiles(&self) -> impl Iterator<Item = (&OpenWebRxSdr, &OpenWebRxProfile)> {
        self.sdrs.iter().flat_map(|s| s.profiles.iter().map(move |p| (s, p)))
    }

    /// As a [`ReceiverHealth`]: available when at least one SDR profile is listed. The
    /// document does not say how many clients are connected.
    pub fn to_health(&self) -> ReceiverHealth {
        let n_profiles = self.profiles().count();
        ReceiverHealth {
            available: n_profiles > 0,
            users: None,
            users_max: self.max_clients,
            gps_locked: None,
            version: self.version.clone(),
            detail: if n_profiles == 0 {
                "no SDR profile listed".to_owned()
            } else {
                format!("{} SDR(s), {} profile(s)", self.sdrs.len(), n_profiles)
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_status_json() {
        let s = OpenWebRxStatus::parse(
            r#"{"receiver":{"name":"Torino","admin":"x@y","gps":{"lat":45.044,"lon":7.672},"asl":250,"location":"Torino"},
                "max_clients":20,"version":"v1.2.0",
                "sdrs":[{"name":"RTL","type":"rtl_sdr","profiles":[{"name":"2m","center_freq":145000000,"sample_rate":2400000}]}]}"#,
        )
        .unwrap();
        assert_eq!(s.receiver.name.as_deref(), Some("Torino"));
        let p = s.position().unwrap();
        assert_eq!((p.latitude, p.longitude, p.altitude_m), (45.044, 7.672, Some(250.0)));
        let h = s.to_health();
        assert!(h.available);
        assert_eq!(h.users_max, Some(20));
        assert_eq!(h.version.as_deref(), Some("v1.2.0"));
        let (_, prof) = s.profiles().next().unwrap();
        assert!(prof.covers(145.5e6, -4000.0, 4000.0));
        assert!(!prof.covers(146.5e6, -4000.0, 4000.0));
    }

    #[test]
    fn tolerant_and_strict() {
        let s = OpenWebRxStatus::parse("{}").unwrap();
        assert!(!s.to_health().available);
        assert!(s.position().is_none());
        assert!(OpenWebRxStatus::parse("<html>").is_err());
        assert!(OpenWebRxStatus::parse(r#"{"version":1.2}"#).unwrap().version.is_some());
    }
}
