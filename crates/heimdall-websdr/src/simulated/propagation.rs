//! Propagation from the transmitter to a receiver: the speed of light and the path-loss models.

/// Speed of light in vacuum, m/s (used for propagation delays).
pub const SPEED_OF_LIGHT_M_S: f64 = 299_792_458.0;

/// How received power falls with distance.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum PathLoss {
    /// Free-space path loss, `20·log10(4π·d·f/c)`.
    FreeSpace,
    /// Free space up to `reference_m`, then `10·exponent·log10(d/reference_m)` more.
    LogDistance {
        /// Path-loss exponent (2 = free space, 3-4 = urban / obstructed).
        exponent: f64,
        /// Reference distance, m.
        reference_m: f64,
    },
}

impl PathLoss {
    /// Loss in dB over `distance_m` at `frequency_hz` (distances below 1 m count as 1 m).
    pub fn loss_db(&self, distance_m: f64, frequency_hz: f64) -> f64 {
        let fspl =
            |d: f64| 20.0 * (4.0 * std::f64::consts::PI * d.max(1.0) * frequency_hz / SPEED_OF_LIGHT_M_S).log10();
        match *self {
            PathLoss::FreeSpace => fspl(distance_m),
            PathLoss::LogDistance { exponent, reference_m } => {
                let r = reference_m.max(1.0);
                if distance_m <= r {
                    fspl(distance_m)
                } else {
                    fspl(r) + 10.0 * exponent * (distance_m / r).log10()
                }
            }
        }
    }
}
