//! [`Registry::with_defaults`]: every backend compiled in, one `register` line each.

use super::table::Registry;

impl Registry {
    /// A registry of every backend compiled in: a backend whose cargo feature is off is not
    /// registered (its kind is refused as not compiled in). With only a wire-format feature
    /// (`kiwisdr-protocol`, `openwebrx-protocol`), its kind and URLs are known and building is
    /// refused.
    pub fn with_defaults() -> Self {
        let mut reg = Registry::new();
        #[cfg(feature = "kiwisdr-protocol")]
        crate::kiwisdr::register(&mut reg);
        #[cfg(feature = "openwebrx-protocol")]
        crate::openwebrx::register(&mut reg);
        #[cfg(feature = "rtl_tcp")]
        crate::rtl_tcp::register(&mut reg);
        #[cfg(feature = "http_iq")]
        crate::http_iq::register(&mut reg);
        #[cfg(feature = "simulated")]
        crate::simulated::register(&mut reg);
        #[cfg(feature = "recording")]
        crate::recording::register(&mut reg);
        reg
    }
}
