//! `heartguard detect-af`: runs the AF model on a recording file, offline — RR intervals in
//! milliseconds, or an ECG (millivolts) through the QRS detector — and prints each 60-beat window's
//! score and a summary. For evaluating the model on real recordings (bench/detection) without
//! putting them in the database or the repository.

use std::path::Path;

use hg_domain::detection::af::{self, MODEL, WINDOW};
use hg_domain::detection::qrs;

use super::Outcome;

/// What the file holds.
pub enum Input {
    /// One RR interval (ms) per line.
    RrMs,
    /// One ECG sample (mV) per line, at this rate.
    Ecg { rate_hz: f64 },
}

/// Reads `path` (numbers, one per line or separated by whitespace or commas) and prints one line per
/// window (`window <i> beats <a>-<b> score <s> cosen <c> nrmssd <n> tpr <t>`) and a summary line.
pub fn run(path: &Path, input: Input) -> Outcome {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => return Outcome::Failed(format!("{}: {e}", path.display())),
    };
    let mut values = Vec::new();
    for (i, token) in text
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|t| !t.is_empty())
        .enumerate()
    {
        match token.parse::<f64>() {
            Ok(v) if v.is_finite() => values.push(v),
            _ => {
                return Outcome::Failed(format!(
                    "{}: value {} ({token:?}) is not a number",
                    path.display(),
                    i + 1
                ));
            }
        }
    }
    let rr: Vec<f64> = match input {
        Input::RrMs => values,
        Input::Ecg { rate_hz } => {
            let ecg: Vec<f32> = values.iter().map(|v| *v as f32).collect();
            let peaks = qrs::r_peaks(&ecg, rate_hz);
            println!(
                "ecg {} samples at {rate_hz} Hz: {} beats detected",
                ecg.len(),
                peaks.len()
            );
            qrs::rr_ms(&peaks, rate_hz)
        }
    };
    let mut above = 0;
    let windows: Vec<&[f64]> = rr.chunks_exact(WINDOW).collect();
    for (i, w) in windows.iter().enumerate() {
        let f = af::features(w);
        let score = MODEL.score(&f);
        if score >= MODEL.threshold {
            above += 1;
        }
        println!(
            "window {i} beats {}-{} score {score:.3} cosen {:.3} nrmssd {:.3} tpr {:.3} mean_rr {:.0}",
            i * WINDOW,
            (i + 1) * WINDOW - 1,
            f.cosen,
            f.nrmssd,
            f.tpr,
            f.mean_rr_ms
        );
    }
    println!(
        "summary: {} RR intervals, {} windows, {above} at or above the threshold {} ({:.1} %)",
        rr.len(),
        windows.len(),
        MODEL.threshold,
        if windows.is_empty() {
            0.0
        } else {
            100.0 * above as f64 / windows.len() as f64
        }
    );
    Outcome::Ok
}
