//! Synthetic vital signs for demos, the seed and the simulator: a deterministic generator (seeded, so
//! the same patient always gets the same series) of heart rate, SpO2, blood pressure and an ECG
//! waveform built from Gaussian P-QRS-T waves at a slowly varying heart rate.

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

/// A seeded source of plausible vitals for one patient.
pub struct VitalsGenerator {
    rng: StdRng,
    base_hr: f64,
}

/// One scalar reading: value and, for blood pressure, the diastolic value.
pub type Reading = (f32, Option<f32>);

impl VitalsGenerator {
    /// A generator for the patient numbered `seed`; equal seeds give equal series.
    pub fn new(seed: u64) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let base_hr = rng.random_range(62.0..80.0);
        Self { rng, base_hr }
    }

    fn noise(&mut self, amplitude: f64) -> f64 {
        self.rng.random_range(-amplitude..amplitude)
    }

    /// Heart rate (bpm) at `minute_of_day` (0–1439): a circadian swing plus noise.
    pub fn heart_rate(&mut self, minute_of_day: u32) -> Reading {
        let phase = f64::from(minute_of_day) / 1440.0 * std::f64::consts::TAU;
        let v = self.base_hr + 7.0 * (phase - 2.0).sin() + self.noise(3.0);
        (v as f32, None)
    }

    /// SpO2 (%), 94–100.
    pub fn spo2(&mut self) -> Reading {
        let v = (97.5 + self.noise(1.8)).min(100.0);
        (v as f32, None)
    }

    /// Systolic and diastolic pressure (mmHg).
    pub fn blood_pressure(&mut self, minute_of_day: u32) -> Reading {
        let phase = f64::from(minute_of_day) / 1440.0 * std::f64::consts::TAU;
        let sys = 122.0 + 8.0 * (phase - 2.5).sin() + self.noise(6.0);
        let dia = 78.0 + 5.0 * (phase - 2.5).sin() + self.noise(4.0);
        (sys as f32, Some(dia as f32))
    }

    /// `seconds` of single-lead ECG (mV) at `rate_hz`, beat after beat with slight RR variability.
    pub fn ecg(&mut self, seconds: u32, rate_hz: u32) -> Vec<f32> {
        let n = (seconds * rate_hz) as usize;
        let mut out = vec![0f32; n];
        let dt = 1.0 / f64::from(rate_hz);
        let mut beat_start = 0.0f64;
        let total = f64::from(seconds);
        // (offset within the beat as a fraction of RR, amplitude mV, width s)
        const WAVES: [(f64, f64, f64); 5] = [
            (0.16, 0.12, 0.025),  // P
            (0.27, -0.10, 0.010), // Q
            (0.30, 1.10, 0.012),  // R
            (0.33, -0.22, 0.012), // S
            (0.58, 0.30, 0.045),  // T
        ];
        while beat_start < total {
            let rr = 60.0 / (self.base_hr + self.noise(4.0));
            for (frac, amp, width) in WAVES {
                let centre = beat_start + frac * rr;
                let lo = ((centre - 4.0 * width) / dt).max(0.0) as usize;
                let hi = (((centre + 4.0 * width) / dt) as usize).min(n);
                for (i, sample) in out.iter_mut().enumerate().take(hi).skip(lo) {
                    let t = i as f64 * dt - centre;
                    *sample += (amp * (-(t * t) / (2.0 * width * width)).exp()) as f32;
                }
            }
            beat_start += rr;
        }
        for s in &mut out {
            *s += self.noise(0.02) as f32;
        }
        out
    }
}

/// Packs samples as little-endian f32, the storage format of waveform blocks.
pub fn pack_f32_le(samples: &[f32]) -> Vec<u8> {
    samples.iter().flat_map(|s| s.to_le_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_series() {
        let a: Vec<_> = (0..10)
            .map(|m| VitalsGenerator::new(7).heart_rate(m))
            .collect();
        let b: Vec<_> = (0..10)
            .map(|m| VitalsGenerator::new(7).heart_rate(m))
            .collect();
        assert_eq!(a, b);
    }

    #[test]
    fn vitals_stay_in_plausible_ranges() {
        let mut g = VitalsGenerator::new(1);
        for m in 0..1440 {
            let (hr, _) = g.heart_rate(m);
            assert!((45.0..100.0).contains(&hr), "{hr}");
            let (spo2, _) = g.spo2();
            assert!((94.0..=100.0).contains(&spo2), "{spo2}");
            let (sys, dia) = g.blood_pressure(m);
            assert!(sys > dia.unwrap());
        }
    }

    #[test]
    fn ecg_has_one_r_peak_per_beat() {
        let ecg = VitalsGenerator::new(3).ecg(10, 250);
        assert_eq!(ecg.len(), 2500);
        let peaks = ecg
            .windows(3)
            .filter(|w| w[1] > 0.7 && w[1] >= w[0] && w[1] > w[2])
            .count();
        assert!((9..=15).contains(&peaks), "{peaks} R peaks in 10 s");
        assert_eq!(pack_f32_le(&ecg[..2]).len(), 8);
    }
}
