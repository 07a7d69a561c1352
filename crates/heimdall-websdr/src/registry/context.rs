//! What the sources built together share: values by type (the OpenWebRX host limiter, the
//! simulated transmitter), created on first use when a backend asks for a default.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use heimdall_core::GeoPosition;

/// Values shared by the sources built with one context, by type. Backends read the ones they
/// need ([`BuildContext::get`]) or share one default per context
/// ([`BuildContext::get_or_default`]); the caller may put its own first ([`BuildContext::with`]).
#[derive(Default)]
pub struct BuildContext {
    shared: Mutex<HashMap<TypeId, Arc<dyn Any + Send + Sync>>>,
}

impl fmt::Debug for BuildContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.shared.lock().unwrap_or_else(PoisonError::into_inner).len();
        f.debug_struct("BuildContext").field("shared_values", &n).finish()
    }
}

impl BuildContext {
    /// An empty context.
    pub fn new() -> Self {
        Self::default()
    }

    /// Shares `value` with every source built with this context (replacing one of its type).
    pub fn with<T: Any + Send + Sync>(self, value: Arc<T>) -> Self {
        self.insert(value);
        self
    }

    /// Like [`BuildContext::with`], in place.
    pub fn insert<T: Any + Send + Sync>(&self, value: Arc<T>) {
        self.lock().insert(TypeId::of::<T>(), value);
    }

    /// The shared value of type `T`, if any.
    pub fn get<T: Any + Send + Sync>(&self) -> Option<Arc<T>> {
        self.lock()
            .get(&TypeId::of::<T>())
            .cloned()
            .and_then(|v| v.downcast::<T>().ok())
    }

    /// The shared value of type `T`, made with `make` on first use.
    pub fn get_or_insert_with<T: Any + Send + Sync>(&self, make: impl FnOnce() -> T) -> Arc<T> {
        let mut map = self.lock();
        if let Some(v) = map
            .get(&TypeId::of::<T>())
            .cloned()
            .and_then(|v| v.downcast::<T>().ok())
        {
            return v;
        }
        let v = Arc::new(make());
        map.insert(TypeId::of::<T>(), v.clone());
        v
    }

    /// The shared value of type `T`, its default on first use.
    pub fn get_or_default<T: Any + Send + Sync + Default>(&self) -> Arc<T> {
        self.get_or_insert_with(T::default)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<TypeId, Arc<dyn Any + Send + Sync>>> {
        self.shared.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The transmitter every simulated receiver of a context hears (a receivers file's
/// `[simulation]` table).
#[derive(Debug, Clone, PartialEq)]
pub struct SimulationSpec {
    /// Seed of every random quantity (default 0).
    pub seed: u64,
    /// Transmitter position.
    pub position: GeoPosition,
    /// Carrier frequency, Hz.
    pub frequency_hz: f64,
    /// EIRP, dBm (default 30 dBm = 1 W).
    pub eirp_dbm: f64,
    /// `carrier` (default), `fm_tone` (3 kHz deviation, 1 kHz tone), `fm_voice` (3 kHz deviation),
    /// `am_voice` (80 % AM by three tones) or `time_code` (a DCF77-shaped keyed carrier).
    pub modulation: String,
    /// Line of the `[simulation]` table.
    pub line: usize,
}
