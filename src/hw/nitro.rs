//! The infrastructure around the accelerators: the Nitro virtualization overhead and the host
//! CPU work of serving (tokenization, detokenization, per-step scheduling, the API front end).
//! Defaults live in `hw-profiles/infrastructure.toml` (`[nitro]`, `[host_software]`), each with
//! its provenance; a scenario overrides them under `[infrastructure]`.

use serde::{Deserialize, Serialize};

/// What the Nitro system adds over bare metal.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Nitro {
    /// Added to every request on the front-end path (ingress through the Nitro card).
    pub request_latency_us: f64,
    /// Added to every network message over EFA/ENA (collectives, KV transfers, pipeline hops).
    pub message_latency_us: f64,
    /// Fraction of the host's vCPUs not available to the serving process.
    pub host_cpu_share: f64,
}

impl Nitro {
    /// Bare metal: no overhead.
    pub const OFF: Nitro = Nitro {
        request_latency_us: 0.0,
        message_latency_us: 0.0,
        host_cpu_share: 0.0,
    };
}

/// Host CPU work of the serving engine and its front end, per core.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostSoftware {
    /// CPU time to tokenize one prompt token, µs per token on one core.
    pub tokenize_us_per_token: f64,
    /// CPU time to detokenize (and stream) one output token, µs per token on one core.
    pub detokenize_us_per_token: f64,
    /// Host CPU time of one batch step of a replica (scheduling, batch assembly, launch), µs.
    pub step_cpu_us: f64,
    /// The same with captured (CUDA graphs) or compiled (Neuron) graphs, µs.
    pub step_cpu_us_graphs: f64,
    /// CPU time of one request in the front-end tier (HTTP, auth, routing), µs on one core.
    pub frontend_us_per_request: f64,
}

impl Default for HostSoftware {
    fn default() -> Self {
        HostSoftware {
            tokenize_us_per_token: 0.0,
            detokenize_us_per_token: 0.0,
            step_cpu_us: 0.0,
            step_cpu_us_graphs: 0.0,
            frontend_us_per_request: 0.0,
        }
    }
}
