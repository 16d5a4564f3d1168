//! Signal types (catalog `signal_types`) and what a sample of each may hold.

hg_platform::code_enum! {
    /// What a stream carries (spec/02 "signal_types").
    pub enum SignalType {
        /// Electrocardiogram: waveform blocks, millivolts.
        Ecg => "ECG",
        /// Heart rate, beats per minute.
        Hr => "HR",
        /// Oxygen saturation, percent.
        Spo2 => "SpO2",
        /// Beat-to-beat (RR) intervals, milliseconds: one sample per beat.
        Hrv => "HRV",
        /// Blood pressure: systolic in `value`, diastolic in `value2`, mmHg.
        Bp => "BP",
        /// Body temperature, degrees Celsius.
        Temp => "TEMP",
        /// Respiratory rate, breaths per minute.
        Resp => "RESP",
    }
}

impl SignalType {
    /// Whether samples come as waveform blocks rather than scalar samples.
    pub fn is_waveform(self) -> bool {
        self == SignalType::Ecg
    }

    /// The physiologically possible range of a sample (`value`; for BP the systolic), with its
    /// unit: wide enough for any patient alive, narrow enough to catch unit and sensor errors.
    pub fn range(self) -> (f32, f32, &'static str) {
        match self {
            SignalType::Ecg => (-20.0, 20.0, "mV"),
            SignalType::Hr => (20.0, 300.0, "bpm"),
            SignalType::Spo2 => (50.0, 100.0, "%"),
            SignalType::Hrv => (200.0, 3000.0, "ms"),
            SignalType::Bp => (40.0, 300.0, "mmHg"),
            SignalType::Temp => (25.0, 45.0, "°C"),
            SignalType::Resp => (2.0, 80.0, "breaths/min"),
        }
    }

    /// The range of the diastolic pressure (`value2` of BP).
    pub const DIASTOLIC: (f32, f32) = (20.0, 200.0);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_catalog_holds_exactly_these_signal_types() {
        let table = crate::catalog::CATALOGS
            .iter()
            .find(|c| c.table == "signal_types")
            .unwrap();
        let codes: Vec<&str> = table.entries.iter().map(|e| e.0).collect();
        assert_eq!(codes, SignalType::CODES);
    }
}
