//! Receiver descriptions: identity, kind, URL and WGS84 position.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::ids::ReceiverId;

/// The protocol family of a receiver.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ReceiverKind {
    /// KiwiSDR (IQ over WebSocket, 0-30 MHz).
    #[serde(rename = "kiwisdr", alias = "kiwi")]
    KiwiSdr,
    /// OpenWebRX (demodulated audio, S-meter and spectra over WebSocket; no IQ).
    #[serde(rename = "openwebrx", alias = "owrx")]
    OpenWebRx,
    /// osmocom rtl_tcp server (unsigned 8-bit IQ over TCP).
    RtlTcp,
    /// The old service's HTTP IQ contract: `GET {base}/iq?tune=&rate=` returning int16 LE IQ.
    HttpIq,
    /// Heimdall's simulated receiver.
    Simulated,
    /// A recording replayed from a file (`file://` URL): a kiwirecorder IQ WAV with GNSS time
    /// stamps, or a SigMF recording.
    Recording,
}

impl ReceiverKind {
    /// All kinds, in declaration order.
    pub const ALL: [ReceiverKind; 6] = [
        ReceiverKind::KiwiSdr,
        ReceiverKind::OpenWebRx,
        ReceiverKind::RtlTcp,
        ReceiverKind::HttpIq,
        ReceiverKind::Simulated,
        ReceiverKind::Recording,
    ];

    /// The snake_case name used in files, URLs and database rows.
    pub fn as_str(&self) -> &'static str {
        match self {
            ReceiverKind::KiwiSdr => "kiwisdr",
            ReceiverKind::OpenWebRx => "openwebrx",
            ReceiverKind::RtlTcp => "rtl_tcp",
            ReceiverKind::HttpIq => "http_iq",
            ReceiverKind::Simulated => "simulated",
            ReceiverKind::Recording => "recording",
        }
    }
}

impl fmt::Display for ReceiverKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for ReceiverKind {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let l = s.to_ascii_lowercase();
        Ok(match l.as_str() {
            "kiwisdr" | "kiwi" => ReceiverKind::KiwiSdr,
            "openwebrx" | "owrx" => ReceiverKind::OpenWebRx,
            "rtl_tcp" | "rtltcp" => ReceiverKind::RtlTcp,
            "http_iq" | "http" => ReceiverKind::HttpIq,
            "simulated" | "sim" => ReceiverKind::Simulated,
            "recording" | "file" => ReceiverKind::Recording,
            _ => {
                return Err(Error::invalid(
                    "receiver kind",
                    format!("{s:?} is not one of kiwisdr, openwebrx, rtl_tcp, http_iq, simulated, recording"),
                ));
            }
        })
    }
}

/// A WGS84 position: latitude and longitude in degrees, optional altitude in metres.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GeoPosition {
    /// Degrees north, -90..=90.
    pub latitude: f64,
    /// Degrees east, -180..=180.
    pub longitude: f64,
    /// Metres above the WGS84 ellipsoid, if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub altitude_m: Option<f64>,
}

impl GeoPosition {
    /// A validated position.
    pub fn new(latitude: f64, longitude: f64, altitude_m: Option<f64>) -> Result<Self> {
        let p = GeoPosition {
            latitude,
            longitude,
            altitude_m,
        };
        p.validate()?;
        Ok(p)
    }

    /// Checks ranges and finiteness.
    pub fn validate(&self) -> Result<()> {
        if !self.latitude.is_finite() || !(-90.0..=90.0).contains(&self.latitude) {
            return Err(Error::invalid(
                "latitude",
                format!("{} is not within -90..=90 degrees", self.latitude),
            ));
        }
        if !self.longitude.is_finite() || !(-180.0..=180.0).contains(&self.longitude) {
            return Err(Error::invalid(
                "longitude",
                format!("{} is not within -180..=180 degrees", self.longitude),
            ));
        }
        if let Some(a) = self.altitude_m
            && (!a.is_finite() || !(-500.0..=100_000.0).contains(&a))
        {
            return Err(Error::invalid(
                "altitude_m",
                format!("{a} is not within -500..=100000 m"),
            ));
        }
        Ok(())
    }

    /// Great-circle distance in metres (haversine on a 6371 km sphere), ignoring altitude.
    pub fn distance_m(&self, other: &GeoPosition) -> f64 {
        const R: f64 = 6_371_000.0;
        let (p1, p2) = (self.latitude.to_radians(), other.latitude.to_radians());
        let dp = p2 - p1;
        let dl = (other.longitude - self.longitude).to_radians();
        let a = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
        2.0 * R * a.sqrt().asin()
    }

    /// Straight-line distance in metres including altitude difference (ECEF chord on a sphere).
    pub fn slant_distance_m(&self, other: &GeoPosition) -> f64 {
        let ground = self.distance_m(other);
        let dh = other.altitude_m.unwrap_or(0.0) - self.altitude_m.unwrap_or(0.0);
        (ground * ground + dh * dh).sqrt()
    }
}

/// Everything Heimdall knows about a receiver that is not protocol configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReceiverInfo {
    /// Stable slug id, used in object keys and rows.
    pub id: ReceiverId,
    /// Human-readable name.
    pub name: String,
    /// Protocol family.
    pub kind: ReceiverKind,
    /// Endpoint URL (never contains a password).
    pub url: String,
    /// Antenna position, if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position: Option<GeoPosition>,
}

impl ReceiverInfo {
    /// A receiver description with no position.
    pub fn new(id: ReceiverId, name: impl Into<String>, kind: ReceiverKind, url: impl Into<String>) -> Self {
        ReceiverInfo {
            id,
            name: name.into(),
            kind,
            url: url.into(),
            position: None,
        }
    }

    /// Sets the position.
    pub fn with_position(mut self, position: GeoPosition) -> Self {
        self.position = Some(position);
        self
    }
}

/// The result of a receiver health check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReceiverHealth {
    /// Whether the receiver can take a capture now.
    pub available: bool,
    /// Users connected, when the receiver says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub users: Option<u32>,
    /// Maximum users, when the receiver says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub users_max: Option<u32>,
    /// Whether its clock is GPS-disciplined, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gps_locked: Option<bool>,
    /// Software version or banner, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Free-form detail.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub detail: String,
}

impl ReceiverHealth {
    /// A healthy receiver with nothing more to say.
    pub fn up() -> Self {
        ReceiverHealth {
            available: true,
            users: None,
            users_max: None,
            gps_locked: None,
            version: None,
            detail: String::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_validate() {
        assert!(GeoPosition::new(45.0, 7.0, Some(600.0)).is_ok());
        assert!(GeoPosition::new(f64::NAN, 7.0, None).is_err());
        assert!(GeoPosition::new(91.0, 7.0, None).is_err());
        assert!(GeoPosition::new(45.0, 181.0, None).is_err());
        assert!(GeoPosition::new(45.0, 7.0, Some(f64::INFINITY)).is_err());
    }

    #[test]
    fn distance_torino_genova() {
        let torino = GeoPosition::new(45.044, 7.672, None).unwrap();
        let genova = GeoPosition::new(44.395, 8.956, None).unwrap();
        let d = torino.distance_m(&genova);
        assert!((d - 123_000.0).abs() < 3_000.0, "{d}");
    }

    #[test]
    fn kinds_parse_and_serialise() {
        for k in ReceiverKind::ALL {
            assert_eq!(k.as_str().parse::<ReceiverKind>().unwrap(), k);
            assert_eq!(serde_json::to_string(&k).unwrap(), format!("\"{}\"", k.as_str()));
        }
        assert!("soapy".parse::<ReceiverKind>().is_err());
    }
}
