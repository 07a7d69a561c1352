//! The SQLite tables as diesel sees them (below both the row types and the SQLite store).

diesel::table! {
    measurements (id) {
        id -> BigInt,
        session_id -> Text,
        receiver_id -> Text,
        captured_at -> BigInt,
        time_source -> Text,
        frequency_hz -> Double,
        center_frequency_hz -> Double,
        sample_rate_hz -> Double,
        samples -> BigInt,
        duration_s -> Double,
        analysed_samples -> BigInt,
        analysed_sample_rate_hz -> Double,
        snr_db -> Nullable<Double>,
        frequency_offset_hz -> Nullable<Double>,
        peak_frequency_hz -> Nullable<Double>,
        signal_power_dbfs -> Nullable<Double>,
        noise_power_dbfs -> Nullable<Double>,
        noise_floor_dbfs_per_hz -> Nullable<Double>,
        total_power_dbfs -> Nullable<Double>,
        dc_power_dbfs -> Nullable<Double>,
        clipped_fraction -> Double,
        signal_power_dbm -> Nullable<Double>,
        rssi -> Nullable<Double>,
        rssi_unit -> Nullable<Text>,
        object_keys -> Text,
        extra -> Text,
    }
}
