//! A simulated patient, second by second: an ECG from the dynamical model of McSharry, Clifford,
//! Tarassenko and Smith ("A dynamical model for generating synthetic electrocardiogram signals",
//! IEEE Trans. Biomed. Eng. 50(3), 2003 — ECGSYN), driven by beat-to-beat (RR) intervals with
//! respiratory and low-frequency variability; heart rate, RR intervals, SpO2 and blood pressure
//! consistent with it; and episodes that change all of them.

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use std::f64::consts::PI;

/// ECGSYN's P, Q, R, S, T waves: angle on the limit cycle (rad), amplitude, width (rad).
const WAVES: [(f64, f64, f64); 5] = [
    (-PI / 3.0, 1.2, 0.25),
    (-PI / 12.0, -5.0, 0.1),
    (0.0, 30.0, 0.1),
    (PI / 12.0, -7.5, 0.1),
    (PI / 2.0, 0.75, 0.4),
];

/// What is happening to the patient.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Episode {
    Normal,
    /// Heart rate about 140 bpm.
    Tachycardia,
    /// Heart rate about 42 bpm.
    Bradycardia,
    /// SpO2 falling to about 84 %.
    Desaturation,
    /// Irregularly irregular RR intervals without P waves.
    AtrialFibrillation,
    /// The device sends nothing.
    Silent,
}

impl Episode {
    /// Every episode that can be scheduled, and the event type that labels it (`None`: no label).
    pub const ALL: [(Episode, &'static str, Option<&'static str>); 5] = [
        (Episode::Tachycardia, "tachy", Some("TACHY")),
        (Episode::Bradycardia, "brady", Some("BRADY")),
        (Episode::Desaturation, "desat", Some("DESAT")),
        (Episode::AtrialFibrillation, "af", Some("AFIB")),
        (Episode::Silent, "silent", None),
    ];

    /// The episode named `name` (`tachy`, `brady`, `desat`, `af`, `silent`).
    pub fn parse(name: &str) -> Option<Episode> {
        Self::ALL.iter().find(|e| e.1 == name).map(|e| e.0)
    }

    /// The ground-truth event type it is labelled with.
    pub fn event_type(self) -> Option<&'static str> {
        Self::ALL.iter().find(|e| e.0 == self).and_then(|e| e.2)
    }
}

/// One second of a patient's signals.
#[derive(Debug, Default)]
pub struct Second {
    pub heart_rate: f32,
    pub spo2: f32,
    /// Systolic, diastolic.
    pub blood_pressure: (f32, f32),
    /// The RR intervals (ms) of the beats that ended in this second.
    pub rr_ms: Vec<f32>,
    /// ECG, millivolts, at the generator's rate.
    pub ecg_mv: Vec<f32>,
}

/// A simulated patient.
pub struct Patient {
    rng: StdRng,
    rate_hz: u32,
    base_hr: f64,
    /// Seconds simulated so far.
    t: f64,
    /// Position on the limit cycle and the ECG's vertical state.
    theta: f64,
    z: f64,
    /// The current beat's RR interval (s) and the time left in it.
    rr: f64,
    left: f64,
    spo2: f64,
    pub episode: Episode,
}

impl Patient {
    /// A patient numbered `seed` (equal seeds, equal signals) with ECG at `rate_hz`.
    pub fn new(seed: u64, rate_hz: u32) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let base_hr = rng.random_range(60.0..82.0);
        Self {
            rng,
            rate_hz,
            base_hr,
            t: 0.0,
            theta: -PI,
            z: 0.0,
            rr: 60.0 / base_hr,
            left: 60.0 / base_hr,
            spo2: 97.5,
            episode: Episode::Normal,
        }
    }

    /// The next beat's RR interval (s): respiratory sinus arrhythmia (0.25 Hz) and a slower
    /// (0.1 Hz, Mayer wave) swing on the episode's mean, or irregular in atrial fibrillation.
    fn next_rr(&mut self) -> f64 {
        let mean_hr = match self.episode {
            Episode::Tachycardia => 140.0,
            Episode::Bradycardia => 42.0,
            Episode::AtrialFibrillation => self.base_hr + 25.0,
            _ => self.base_hr,
        };
        let mean = 60.0 / mean_hr;
        if self.episode == Episode::AtrialFibrillation {
            return (mean * self.rng.random_range(0.6..1.45)).clamp(0.3, 2.0);
        }
        let rsa = 0.04 * (2.0 * PI * 0.25 * self.t).sin();
        let mayer = 0.03 * (2.0 * PI * 0.1 * self.t).sin();
        (mean * (1.0 + rsa + mayer) + self.rng.random_range(-0.01..0.01)).clamp(0.3, 2.0)
    }

    /// Simulates the next second.
    pub fn second(&mut self) -> Second {
        let mut out = Second {
            ecg_mv: Vec::with_capacity(self.rate_hz as usize),
            ..Second::default()
        };
        let dt = 1.0 / f64::from(self.rate_hz);
        let steps = 4;
        let h = dt / f64::from(steps);
        let af = self.episode == Episode::AtrialFibrillation;
        for _ in 0..self.rate_hz {
            for _ in 0..steps {
                let omega = 2.0 * PI / self.rr;
                // dz/dt = −Σ aᵢ Δθᵢ exp(−Δθᵢ² / 2bᵢ²) · ω − (z − z₀), ECGSYN's third equation
                // written on the phase θ (the first two keep the state on the unit circle).
                let mut dz = 0.0;
                for (k, (theta_i, a, b)) in WAVES.iter().enumerate() {
                    if af && k == 0 {
                        continue; // no P wave
                    }
                    let d = (self.theta - theta_i + PI).rem_euclid(2.0 * PI) - PI;
                    dz -= a * d * (-(d * d) / (2.0 * b * b)).exp() * omega;
                }
                let baseline = 0.015 * (2.0 * PI * 0.25 * self.t).sin();
                dz -= self.z - baseline;
                self.z += h * dz;
                self.theta += h * omega;
                if self.theta >= PI {
                    self.theta -= 2.0 * PI;
                }
                self.t += h;
                self.left -= h;
                if self.left <= 0.0 {
                    out.rr_ms.push((self.rr * 1000.0) as f32);
                    self.rr = self.next_rr();
                    self.left += self.rr;
                }
            }
            let fibrillation = if af {
                0.05 * (2.0 * PI * 6.0 * self.t).sin()
            } else {
                0.0
            };
            // z peaks near a_R·b_R² = 0.3 at the R wave; ECGSYN scales the output to about
            // −0.4 to 1.2 mV.
            let mv = self.z * 4.0 + fibrillation + self.rng.random_range(-0.01..0.01);
            out.ecg_mv.push(mv.clamp(-5.0, 5.0) as f32);
        }
        out.heart_rate = (60.0 / self.rr) as f32;
        let target = if self.episode == Episode::Desaturation {
            84.0
        } else {
            97.5
        };
        self.spo2 += (target - self.spo2) * 0.08 + self.rng.random_range(-0.3..0.3);
        out.spo2 = self.spo2.clamp(70.0, 100.0) as f32;
        let hr_excess = f64::from(out.heart_rate) - self.base_hr;
        out.blood_pressure = (
            (121.0 + 0.3 * hr_excess + self.rng.random_range(-4.0..4.0)) as f32,
            (78.0 + 0.15 * hr_excess + self.rng.random_range(-3.0..3.0)) as f32,
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn beats_per_minute(p: &mut Patient) -> f64 {
        let rr: Vec<f32> = (0..60).flat_map(|_| p.second().rr_ms).collect();
        60_000.0 / (rr.iter().map(|v| f64::from(*v)).sum::<f64>() / rr.len() as f64)
    }

    #[test]
    fn the_ecg_has_one_r_peak_a_beat_and_episodes_change_the_rate() {
        let mut p = Patient::new(7, 250);
        let s = p.second();
        assert_eq!(s.ecg_mv.len(), 250);
        let ten: Vec<f32> = (0..10).flat_map(|_| p.second().ecg_mv).collect();
        let max = ten.iter().cloned().fold(f32::MIN, f32::max);
        assert!((0.6..2.0).contains(&max), "R peaks near 1 mV: {max}");
        // R peaks: local maxima above half the largest.
        let peaks = (1..ten.len() - 1)
            .filter(|&i| ten[i] > max * 0.5 && ten[i] >= ten[i - 1] && ten[i] > ten[i + 1])
            .count();
        let expected = 10.0 * p.base_hr / 60.0;
        assert!(
            (peaks as f64 - expected).abs() <= 3.0,
            "{peaks} peaks, about {expected} beats"
        );
        let normal = beats_per_minute(&mut p);
        p.episode = Episode::Tachycardia;
        beats_per_minute(&mut p);
        let tachy = beats_per_minute(&mut p);
        assert!(tachy > 125.0 && normal < 90.0, "{normal} → {tachy}");
    }

    #[test]
    fn atrial_fibrillation_is_irregular_and_desaturation_lowers_spo2() {
        let cv = |p: &mut Patient| {
            let rr: Vec<f64> = (0..60)
                .flat_map(|_| p.second().rr_ms)
                .map(f64::from)
                .collect();
            let mean = rr.iter().sum::<f64>() / rr.len() as f64;
            (rr.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / rr.len() as f64).sqrt() / mean
        };
        let mut p = Patient::new(3, 250);
        let regular = cv(&mut p);
        p.episode = Episode::AtrialFibrillation;
        let irregular = cv(&mut p);
        assert!(
            irregular > 2.0 * regular && irregular > 0.12,
            "{regular} vs {irregular}"
        );
        p.episode = Episode::Desaturation;
        let spo2 = (0..90).map(|_| p.second().spo2).last().unwrap();
        assert!(spo2 < 88.0, "{spo2}");
        let s = Patient::new(3, 250).second();
        let a = Patient::new(3, 250).second();
        assert_eq!(s.ecg_mv, a.ecg_mv, "a seed makes a run reproducible");
    }
}
