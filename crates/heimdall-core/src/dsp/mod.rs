//! DSP core (filled in by the DSP work): conversions, Welch PSD, metrics analyser.
