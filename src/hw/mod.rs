//! The hardware catalog: chips, instances and host CPUs, read from `hw-profiles/*.toml` (embedded
//! at build time) and from any extra profile files a scenario names. Every number in those files
//! carries its source; see `hw-profiles/README.md`.

use crate::error::{Error, Result, did_you_mean};
use crate::input::parse_toml;
use serde::{Deserialize, Serialize};
use std::path::Path;

pub mod engine;
pub mod nitro;
mod peak;
pub mod power;
mod ranges;
pub mod storage;
pub use peak::PeakTflops;
pub(crate) use ranges::validate_instance;
use ranges::{check_power, check_ranges, check_shapes};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChipKind {
    Gpu,
    Neuron,
    Cpu,
}

impl ChipKind {
    pub fn name(self) -> &'static str {
        match self {
            ChipKind::Gpu => "gpu",
            ChipKind::Neuron => "neuron",
            ChipKind::Cpu => "cpu",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChipLink {
    pub name: String,
    /// Per chip, per direction, usable by a ring collective.
    pub bandwidth_gb_s: f64,
    pub latency_us: f64,
}

/// The cost model's efficiencies and fixed costs for one chip (and its software stack).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Efficiency {
    /// Asymptotic fraction of peak FLOP/s reached by large GEMMs.
    pub compute: f64,
    /// Tokens per step at which GEMM efficiency reaches half of `compute`.
    pub compute_half_tokens: f64,
    /// Fraction of HBM bandwidth reached streaming weights.
    pub memory: f64,
    /// Fraction of HBM bandwidth reached reading the KV cache in attention (scattered, small
    /// heads); defaults to `memory`.
    #[serde(default)]
    pub kv_memory: Option<f64>,
    /// Bytes of HBM traffic per attention score element in prefill: 0 for fused (flash)
    /// attention that keeps scores on chip; larger when scores are materialised.
    #[serde(default)]
    pub attention_score_bytes: f64,
    pub step_overhead_us: f64,
    pub layer_overhead_us: f64,
    pub collective_latency_us: f64,
    /// Fraction of the chip links' bandwidth a collective library achieves between chips (NCCL
    /// or a custom all-reduce: protocol overhead, kernel scheduling, imperfect overlap); a
    /// property of the engine's collectives as much as of the links. Default 1.
    #[serde(default = "default_collective_bandwidth")]
    pub collective_bandwidth: f64,
    /// Compiled static shapes: `pow2` when the software stack compiles one graph per power-of-two
    /// sequence bucket (Neuron), so a step computes up to the bucket, not the context. The
    /// default of both bucket lists below.
    #[serde(default)]
    pub shape_buckets: ShapeBuckets,
    /// Smallest bucket of the `pow2` lists, in tokens.
    #[serde(default = "default_bucket_min")]
    pub bucket_min_tokens: u32,
    /// Buckets of the context-encoding (prefill) graphs: `"pow2"`, `"none"` or a list of
    /// increasing token counts (NxD Inference `context_encoding_buckets`); default
    /// `shape_buckets`.
    #[serde(default)]
    pub context_buckets: Option<BucketList>,
    /// Buckets of the token-generation (decode) graphs, by context length (NxD Inference
    /// `token_generation_buckets`); default `shape_buckets`.
    #[serde(default)]
    pub token_buckets: Option<BucketList>,
    /// How the KV cache is laid out, which sets the KV bytes a decode step reads and the
    /// capacity they must fit in (see `src/perf/shape.rs`).
    #[serde(default)]
    pub kv_layout: KvLayout,
    /// Block layout: tokens per KV block; a sequence's reads are rounded up to whole blocks.
    /// 1 reads exactly the tokens held.
    #[serde(default = "default_kv_block_tokens")]
    pub kv_block_tokens: u32,
    /// The dtype the stack's matrix multiplies run in when weights are quantized to fp8 or int8
    /// (weight-only quantization dequantizes to it); none: the deployment's compute dtype.
    #[serde(default)]
    pub quantized_compute: Option<crate::dtype::Dtype>,
    /// When TP exceeds the KV heads, the stack keeps K/V per query head on each rank (as
    /// Transformers NeuronX does) instead of one shared KV head per rank.
    #[serde(default)]
    pub kv_per_query_head: bool,
    /// The stack's context-encoding graph takes one sequence per execution, so the prompts of a
    /// step run one after another, each paying its own weight reads, collectives and launch.
    #[serde(default)]
    pub sequential_prefill: bool,
    /// CPU chips: threads (one per core) the inference process uses; default all
    /// `physical_cores_per_chip`. Set it from a scenario with
    /// `[hardware.chip.efficiency] threads = 32`.
    #[serde(default)]
    pub threads: Option<u32>,
    /// CPU chips: the thread-scaling curve of compute. n threads reach
    /// `n / (1 + (n − 1) / thread_half_cores)` cores' worth of FLOP/s (barriers between
    /// operations and contention for the shared L3 and mesh cost each added thread a little), so
    /// per-thread efficiency falls to one half near `thread_half_cores` threads. 0: linear.
    #[serde(default)]
    pub thread_half_cores: f64,
    /// CPU chips: DRAM bandwidth one core can draw, GB/s (outstanding misses per core bound
    /// it). n threads reach `min(n × core_bandwidth_gb_s, hbm_bandwidth_gb_s)`: a few cores
    /// saturate the memory system. 0: no per-core limit.
    #[serde(default)]
    pub core_bandwidth_gb_s: f64,
    /// Which executions run as captured (CUDA graphs) or compiled (Neuron) graphs: one launch
    /// each instead of one launch per kernel (`src/perf/fixed.rs`).
    #[serde(default)]
    pub graphs: GraphMode,
    /// `graphs = "decode"`: the largest captured decode batch; larger batches run eagerly.
    /// 0: every decode batch is captured.
    #[serde(default)]
    pub graph_max_batch: u32,
    /// Host time to launch one captured graph, µs.
    #[serde(default)]
    pub graph_launch_us: f64,
    /// Host time to issue one kernel of an eager execution, µs.
    #[serde(default)]
    pub eager_launch_us: f64,
    /// Kernels one transformer layer launches in an eager execution.
    #[serde(default)]
    pub kernels_per_layer: f64,
    /// The sampler's fixed cost per step (its kernels run outside the graph), µs.
    #[serde(default)]
    pub sampling_us: f64,
    /// Per step: the step's inputs copied to the device, the sampled tokens copied back and the
    /// synchronisation between them (PCIe round trips), µs; the bytes go over the instance's
    /// `host_link_gb_s` on top.
    #[serde(default)]
    pub host_sync_us: f64,
}

/// Which executions of a step run as one captured or compiled graph.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GraphMode {
    /// Every execution launches its kernels one by one.
    #[default]
    None,
    /// Decode steps up to `graph_max_batch` replay a captured CUDA graph, padded to the next
    /// captured batch size; steps with a prompt run eagerly (vLLM, TensorRT-LLM).
    Decode,
    /// Every execution is a compiled graph (Neuron: context encoding and token generation).
    All,
}

fn default_collective_bandwidth() -> f64 {
    1.0
}

fn default_bucket_min() -> u32 {
    128
}

fn default_kv_block_tokens() -> u32 {
    1
}

/// The KV cache layout of a serving stack.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KvLayout {
    /// Blocks (paged): a step reads the blocks its sequences hold. NxD Inference with a block
    /// KV layout, vLLM, TensorRT-LLM.
    #[default]
    Block,
    /// One contiguous region per batch slot (Transformers NeuronX): a decode step reads every
    /// row up to the token bucket of the longest context, and a slot owns the largest bucket.
    Contiguous,
}

/// A list of compiled shape buckets: `"pow2"` (powers of two from `bucket_min_tokens`),
/// `"none"` (no padding) or explicit increasing token counts.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum BucketList {
    Named(ShapeBuckets),
    Tokens(Vec<u32>),
}

impl<'de> Deserialize<'de> for BucketList {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        const EXPECTED: &str = "\"pow2\", \"none\" or a list of increasing token counts like [128, 512, 2048]";
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = BucketList;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str(EXPECTED)
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> std::result::Result<BucketList, E> {
                match v {
                    "pow2" => Ok(BucketList::Named(ShapeBuckets::Pow2)),
                    "none" => Ok(BucketList::Named(ShapeBuckets::None)),
                    _ => Err(E::custom(format!("unknown bucket list `{v}`; accepted: {EXPECTED}"))),
                }
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut a: A) -> std::result::Result<BucketList, A::Error> {
                let mut v = Vec::new();
                while let Some(t) = a.next_element::<u32>()? {
                    v.push(t);
                }
                Ok(BucketList::Tokens(v))
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ShapeBuckets {
    #[default]
    None,
    Pow2,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Chip {
    pub name: String,
    pub display_name: String,
    pub kind: ChipKind,
    pub ranks_per_chip: u32,
    /// NeuronCores per chip; a GPU counts 1; a CPU chip counts the cores its instance has.
    pub physical_cores_per_chip: u32,
    /// Device memory. A CPU chip (`kind = "cpu"`, the whole instance as one device) has no HBM:
    /// this is the instance's DRAM, and `hbm_bandwidth_gb_s` the instance's share of the
    /// socket's DRAM bandwidth.
    pub hbm_gib: f64,
    pub hbm_bandwidth_gb_s: f64,
    /// GPU L2, Neuron SBUF; a CPU chip's L2 + L3.
    pub sram_mib: f64,
    pub tdp_w: f64,
    pub idle_w: f64,
    pub peak_tflops: PeakTflops,
    pub link: ChipLink,
    pub efficiency: Efficiency,
    /// `[chip.power]`: fractions of the dynamic range (TDP − idle) drawn in each phase of a step
    /// (`hw::power`); a key left out takes its chip kind's default.
    #[serde(default, skip_serializing_if = "power::PowerSpec::is_empty")]
    pub power: power::PowerSpec,
}

impl Chip {
    pub fn hbm_bytes(&self) -> f64 {
        self.hbm_gib * GIB
    }
    pub fn hbm_bytes_per_s(&self) -> f64 {
        self.hbm_bandwidth_gb_s * 1e9
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Topology {
    Switch,
    Ring,
    Torus2d,
    None,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Price {
    pub on_demand_usd_per_hour: f64,
    pub reserved_usd_per_hour: Option<f64>,
    pub spot_usd_per_hour: Option<f64>,
    pub price_date: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Instance {
    pub name: String,
    pub display_name: String,
    pub chip: String,
    pub chips: u32,
    pub topology: Topology,
    pub efa_gbps: f64,
    pub efa_latency_us: f64,
    pub host: String,
    pub host_vcpus: u32,
    pub host_memory_gib: f64,
    pub host_link_gb_s: f64,
    /// Member of an instance group joined by chip links (Trn2 UltraServer): tensor parallel
    /// across up to `instances` members uses those links instead of EFA.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ultraserver: Option<UltraServer>,
    pub price: Price,
    /// How long a new instance takes before it serves (autoscaling): boot, engine warm-up and a
    /// full compile when no compiled artifacts are cached.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub startup: Option<Startup>,
    /// How often an instance fails (`[fleet.failures]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reliability: Option<Reliability>,
}

/// `[instance.reliability]`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reliability {
    /// Mean time between failures of one instance, hours.
    pub mtbf_h: f64,
}

/// `[instance.startup]`: the parts of a cold start that are not a weight load, seconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Startup {
    /// From the launch request to the OS, drivers and serving container up.
    pub boot_s: f64,
    /// The engine's warm-up with its compiled artifacts cached (CUDA graph capture and
    /// torch.compile cache load; Neuron: loading the cached NEFFs onto the cores).
    pub warmup_s: f64,
    /// Added when the compile cache is cold (torch.compile from scratch; a Neuron model compile).
    pub compile_s: f64,
}

/// An instance group whose members' chips are linked directly, a scale-up domain larger than
/// one instance: a Trn2 UltraServer (the chips at the same coordinate of 4 instances form a ring
/// over NeuronLink), a GB200 NVL72 (18 instances, 72 GPUs on one NVLink switch fabric), a Trn3
/// UltraServer (NeuronSwitch). A tensor- or expert-parallel group within `instances` members
/// uses these links instead of EFA.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UltraServer {
    /// Instances in the group.
    pub instances: u32,
    /// Inter-instance link per chip, per direction, GB/s.
    pub link_gb_s: f64,
    pub link_latency_us: f64,
    /// How the members are joined (default `ring`).
    #[serde(default)]
    pub fabric: DomainFabric,
}

/// The wiring of a scale-up domain across instances.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DomainFabric {
    /// Each chip reaches its peers at the same position of the other members over its own link
    /// (Trn2 UltraServer): the group's collectives are hierarchical, chips of an instance first,
    /// then instances.
    #[default]
    Ring,
    /// Every chip of every member reaches every other through the domain's switches at
    /// `link_gb_s` (NVLink Switch in a GB200 NVL72, NeuronSwitch in a Trn3 UltraServer): a group
    /// within the domain is one flat switched group, as the chips of one NVSwitch instance are.
    Switch,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Host {
    pub name: String,
    pub display_name: String,
    pub arch: String,
    pub cores: u32,
    pub sockets: u32,
    pub clock_ghz: f64,
    pub memory_bandwidth_gb_s: f64,
    pub tdp_w: f64,
}

pub const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

/// The shape of one `hw-profiles/*.toml` file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProfileFile {
    #[serde(default)]
    chip: Vec<Chip>,
    #[serde(default)]
    instance: Vec<Instance>,
    #[serde(default)]
    host: Vec<Host>,
    #[serde(default)]
    nitro: Option<nitro::Nitro>,
    #[serde(default)]
    host_software: Option<nitro::HostSoftware>,
    #[serde(default)]
    storage: Vec<storage::StorageTier>,
}

#[derive(Debug, Clone, Default)]
pub struct Catalog {
    pub chips: Vec<Chip>,
    pub instances: Vec<Instance>,
    pub hosts: Vec<Host>,
    /// Nitro overhead defaults (`hw-profiles/infrastructure.toml`; none: bare metal).
    pub nitro: Option<nitro::Nitro>,
    /// Host CPU costs of serving (`hw-profiles/infrastructure.toml`; none: free).
    pub host_software: Option<nitro::HostSoftware>,
    /// Storage tiers (`hw-profiles/storage.toml`).
    pub storage: Vec<storage::StorageTier>,
    /// The profile file each chip, instance and host was read from (keys `chip NAME`,
    /// `instance NAME`, `host NAME`): where every number's source comment is.
    pub profile_files: std::collections::BTreeMap<String, String>,
}

/// A chip, the instance that carries it and the instance's host, resolved and with any scenario
/// overrides applied.
#[derive(Debug, Clone, PartialEq)]
pub struct Hardware {
    pub chip: Chip,
    pub instance: Instance,
    pub host: Host,
}

impl Hardware {
    /// Tensor-parallel ranks in one instance.
    pub fn ranks_per_instance(&self) -> u32 {
        self.instance.chips * self.chip.ranks_per_chip
    }
}

impl Catalog {
    /// The catalog as one JSON object (`codesim hw list --json`, `codesim.hw()` in Python): its
    /// chips, instances and hosts.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({"chips": self.chips, "instances": self.instances, "hosts": self.hosts})
    }

    /// The catalog shipped with codesim (`hw-profiles/`, embedded at build time).
    /// Parsed once per process (a sweep resolves a scenario per run), then cloned.
    pub fn builtin() -> Result<Catalog> {
        static BUILTIN: std::sync::OnceLock<std::result::Result<Catalog, String>> = std::sync::OnceLock::new();
        let parsed = BUILTIN.get_or_init(|| {
            let mut c = Catalog::default();
            for (name, text) in crate::assets::HW_PROFILES {
                c.add_text(text, Path::new(&format!("hw-profiles/{name}")))
                    .map_err(|e| e.to_string())?;
            }
            c.check().map_err(|e| e.to_string())?;
            Ok(c)
        });
        match parsed {
            Ok(c) => Ok(c.clone()),
            // The embedded profiles are checked by the tests; should one ever fail to parse, every
            // call reports it the same way.
            Err(m) => Err(Error::input(Path::new("hw-profiles"), "", m.clone())),
        }
    }

    /// Adds (or replaces, by name) the entries of a profile file the user gives.
    pub fn add_file(&mut self, path: &Path) -> Result<()> {
        let text = crate::input::read_text(path)?;
        self.add_text(&text, path)?;
        self.check_in(path)
    }

    fn add_text(&mut self, text: &str, file: &Path) -> Result<()> {
        let f: ProfileFile = parse_toml(text, file)?;
        for chip in &f.chip {
            validate_chip(chip, file)?;
        }
        for t in &f.storage {
            storage::validate(t, file)?;
        }
        let origin = file.display().to_string();
        let names = f.chip.iter().map(|c| format!("chip {}", c.name));
        let names = names.chain(f.instance.iter().map(|i| format!("instance {}", i.name)));
        for k in names.chain(f.host.iter().map(|h| format!("host {}", h.name))) {
            self.profile_files.insert(k, origin.clone());
        }
        upsert(&mut self.chips, f.chip, |c| c.name.clone());
        upsert(&mut self.instances, f.instance, |i| i.name.clone());
        upsert(&mut self.hosts, f.host, |h| h.name.clone());
        upsert(&mut self.storage, f.storage, |t| t.name.clone());
        if f.nitro.is_some() {
            self.nitro = f.nitro;
        }
        if f.host_software.is_some() {
            self.host_software = f.host_software;
        }
        Ok(())
    }

    fn check(&self) -> Result<()> {
        self.check_in(Path::new("hw-profiles"))
    }

    /// Every instance names a chip and a host that exist.
    fn check_in(&self, file: &Path) -> Result<()> {
        for i in &self.instances {
            if self.chip(&i.chip).is_err() {
                return Err(Error::input(
                    file,
                    format!("instance `{}`.chip", i.name),
                    format!("unknown chip `{}`", i.chip),
                ));
            }
            if self.host(&i.host).is_err() {
                return Err(Error::input(
                    file,
                    format!("instance `{}`.host", i.name),
                    format!("unknown host `{}`", i.host),
                ));
            }
            validate_instance(i, file, &|k| format!("instance `{}`.{k}", i.name))?;
            if i.chips == 0 {
                return Err(Error::input(
                    file,
                    format!("instance `{}`.chips", i.name),
                    "must be at least 1",
                ));
            }
        }
        Ok(())
    }

    pub fn chip(&self, name: &str) -> Result<&Chip, String> {
        find(&self.chips, name, |c| &c.name, "chip")
    }
    pub fn instance(&self, name: &str) -> Result<&Instance, String> {
        find(&self.instances, name, |i| &i.name, "instance")
    }
    pub fn host(&self, name: &str) -> Result<&Host, String> {
        find(&self.hosts, name, |h| &h.name, "host")
    }
    pub fn storage(&self, name: &str) -> Result<&storage::StorageTier, String> {
        find(&self.storage, name, |t| &t.name, "storage tier")
    }
    /// The profile file an entry came from (`kind`: chip, instance or host), `-` if unknown.
    pub fn profile_file(&self, kind: &str, name: &str) -> &str {
        self.profile_files
            .get(&format!("{kind} {name}"))
            .map_or("-", |s| s.as_str())
    }

    /// The hardware of an instance type, by name; the error lists the known instances.
    pub fn hardware(&self, instance: &str) -> Result<Hardware, String> {
        let instance = self.instance(instance)?.clone();
        let chip = self.chip(&instance.chip)?.clone();
        let host = self.host(&instance.host)?.clone();
        Ok(Hardware { chip, instance, host })
    }
}

pub(crate) fn validate_chip(c: &Chip, file: &Path) -> Result<()> {
    let at = |k: &str| format!("chip `{}`.{k}", c.name);
    let positive = [
        ("hbm_gib", c.hbm_gib),
        ("hbm_bandwidth_gb_s", c.hbm_bandwidth_gb_s),
        ("tdp_w", c.tdp_w),
        ("efficiency.compute", c.efficiency.compute),
        ("efficiency.memory", c.efficiency.memory),
    ];
    for (k, v) in positive {
        if !(v.is_finite() && v > 0.0) {
            return Err(Error::input(
                file,
                at(k),
                format!("must be a finite number > 0, got {}", crate::error::given(v)),
            ));
        }
    }
    for (k, v) in [
        ("efficiency.compute", c.efficiency.compute),
        ("efficiency.memory", c.efficiency.memory),
        ("efficiency.collective_bandwidth", c.efficiency.collective_bandwidth),
    ] {
        if !(v > 0.0 && v <= 1.0) {
            return Err(Error::input(
                file,
                at(k),
                format!(
                    "is a fraction of peak: must be in (0, 1], got {}",
                    crate::error::given(v)
                ),
            ));
        }
    }
    check_ranges(c, file)?;
    check_power(c, file)?;
    check_shapes(c, file)?;
    if c.ranks_per_chip == 0 {
        return Err(Error::input(file, at("ranks_per_chip"), "must be at least 1"));
    }
    if c.kind == ChipKind::Cpu && c.physical_cores_per_chip == 0 {
        return Err(Error::input(
            file,
            at("physical_cores_per_chip"),
            "a CPU chip counts its cores: must be at least 1",
        ));
    }
    Ok(())
}

fn upsert<T>(v: &mut Vec<T>, new: Vec<T>, key: impl Fn(&T) -> String) {
    for item in new {
        let k = key(&item);
        match v.iter().position(|x| key(x) == k) {
            Some(p) => v[p] = item,
            None => v.push(item),
        }
    }
}

fn find<'a, T>(v: &'a [T], name: &str, key: impl Fn(&T) -> &String, what: &str) -> Result<&'a T, String> {
    v.iter().find(|x| key(x) == name).ok_or_else(|| {
        let names: Vec<&str> = v.iter().map(|x| key(x).as_str()).collect();
        format!(
            "unknown {what} `{name}`{}; known: {}",
            did_you_mean(name, names.iter().copied()),
            names.join(", ")
        )
    })
}

#[cfg(test)]
mod tests;
