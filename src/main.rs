//! `leakscope` command line: wires the stages; all logic lives in the library.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, CommandFactory, Parser, Subcommand};
use leakscope::flow::FlowConfig;
use leakscope::live::Handoff;
use leakscope::output::pcap::PcapKeep;
use leakscope::replay::{ReplayOptions, replay};

mod cli_capture;
mod cli_generate;

#[derive(Parser)]
#[command(
    name = "leakscope",
    version = cli_generate::VERSION,
    about = "See what WhatsApp and other Meta apps send to Meta, from the network alone"
)]
struct Cli {
    /// More log output (-v info, -vv debug); RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    /// No progress bar.
    #[arg(short, long, global = true)]
    quiet: bool,
    /// Log lines as plain text (never with colour codes) or as JSON objects, one a line (for
    /// journald or a log collector); messages follow the same format.
    #[arg(long, value_enum, global = true, default_value = "text", value_name = "FORMAT")]
    log_format: LogFormat,
    #[command(subcommand)]
    cmd: Command,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Replay pcap/pcapng files (or directories of them) through the pipeline.
    Replay(Box<ReplayArgs>),
    /// Measure replay throughput: prints packets/s and MB/s (median of several runs).
    Bench(BenchArgs),
    /// Capture live from an interface until SIGINT/SIGTERM (SIGHUP reopens outputs, reloads rules).
    Capture(Box<CaptureArgs>),
    /// `capture --live`: the devices and the Meta endpoints they talk to now, on the terminal.
    Watch(Box<CaptureArgs>),
    /// List capture interfaces, marking the ones that look like a hotspot.
    Interfaces,
    /// Summarise a replay's exposure map (OUT_DIR, events.jsonl or a --sqlite database).
    Report(ReportArgs),
    /// Rule files: validate them.
    Rules {
        #[command(subcommand)]
        cmd: RulesCmd,
    },
    /// How a host name or an address would be classified, and by which rule (file and line).
    Lookup {
        /// Host names or IP addresses.
        #[arg(required = true, value_name = "HOST|ADDRESS")]
        queries: Vec<String>,
        #[command(flatten)]
        classify: ClassifyArgs,
    },
    /// Check that the inputs (and outputs) recorded in DIR/manifest.json are unchanged.
    Verify {
        /// Output directory of `leakscope replay` or `capture`.
        dir: PathBuf,
    },
    /// Write man pages or shell completions (bash, zsh, fish) to a directory.
    Generate {
        #[command(subcommand)]
        cmd: cli_generate::GenerateCmd,
    },
    /// Country and ASN databases (for the public address Meta saw, and server enrichment).
    Geo {
        #[command(subcommand)]
        cmd: GeoCmd,
    },
}

#[derive(Subcommand)]
enum GeoCmd {
    /// Which databases are in use, where they were looked for, and where to get them.
    Status {
        /// ASN database to check instead of the default search.
        #[arg(long, value_name = "FILE")]
        asn_db: Option<PathBuf>,
        /// Country database to check instead of the default search.
        #[arg(long, value_name = "FILE")]
        country_db: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum RulesCmd {
    /// Validate the built-in rules plus DIRs and print a summary; every problem is listed with
    /// its file and line.
    Check {
        /// Rule directories layered over the built-in rules.
        dirs: Vec<PathBuf>,
    },
}

#[derive(Args)]
struct ClassifyArgs {
    /// Directory of extra rule files (*.toml), layered over the built-in rules; repeatable.
    #[arg(long = "rules", value_name = "DIR")]
    rules: Vec<PathBuf>,
    /// ASN database (GeoLite2-ASN or compatible .mmdb). Default: searched in /usr/share/GeoIP
    /// and /var/lib/GeoIP.
    #[arg(long, value_name = "FILE")]
    asn_db: Option<PathBuf>,
    /// Country database (GeoLite2-Country or compatible .mmdb). Default: searched like --asn-db.
    #[arg(long, value_name = "FILE")]
    country_db: Option<PathBuf>,
}

/// `leakscope capture`. Every option can also come from `--config`; flags win.
#[derive(Args)]
struct CaptureArgs {
    /// Daemon configuration file (TOML), e.g. /etc/leakscope/leakscope.toml.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// BPF filter as trailing words, as with tcpdump (instead of -f).
    #[arg(value_name = "FILTER")]
    filter_words: Vec<String>,
    /// Show the devices and the Meta endpoints they talk to now on the terminal, redrawn
    /// every second (files are written as always).
    #[arg(long)]
    live: bool,
    #[command(flatten)]
    limit: LimitArgs,
    /// Interface to capture on (see `leakscope interfaces`).
    #[arg(short, long, value_name = "IFACE")]
    interface: Option<String>,
    /// Receive PCAPdroid's UDP export on [ADDR:]PORT instead of capturing on an interface (a
    /// phone without a hotspot; see docs/live.md).
    #[arg(long, value_name = "[ADDR:]PORT", conflicts_with = "interface")]
    udp: Option<String>,
    /// With --udp: senders allowed, CIDR (repeatable) [default: loopback, RFC 1918, link-local,
    /// unique-local].
    #[arg(long = "allow", value_name = "CIDR", requires = "udp")]
    allow: Vec<String>,
    /// With --udp: most senders streaming at once [default: 16].
    #[arg(long, value_name = "N", requires = "udp")]
    udp_max_senders: Option<usize>,
    /// With --udp: seconds of silence after which a sender's stream is forgotten [default: 1800].
    #[arg(long, value_name = "SECS", requires = "udp")]
    udp_sender_timeout: Option<u64>,
    /// Treat everything captured as one device of this name (a phone streaming with PCAPdroid).
    #[arg(long, value_name = "NAME")]
    device_name: Option<String>,
    /// BPF filter, tcpdump syntax (runs in the kernel).
    #[arg(short, long, value_name = "EXPR")]
    filter: Option<String>,
    /// Output directory (flows.jsonl, events.jsonl, stats.jsonl) [default: out].
    #[arg(short, long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Start a new timestamped file by size (100M) or by packet time (1h).
    #[arg(long, value_name = "SIZE|DURATION")]
    rotate: Option<String>,
    /// Gzip files closed by rotation.
    #[arg(long)]
    compress_rotated: bool,
    /// Bytes kept of each frame; also the kernel ring's slot size [default: 4096].
    #[arg(long, value_name = "BYTES")]
    snaplen: Option<u32>,
    /// Kernel capture buffer, e.g. 256M: absorbs bursts [default: 64M].
    #[arg(long, value_name = "SIZE")]
    buffer_size: Option<String>,
    /// Do not put the interface in promiscuous mode.
    #[arg(long)]
    no_promisc: bool,
    /// Seconds between stats lines (log and stats.jsonl) [default: 60].
    #[arg(long, value_name = "SECS")]
    stats_interval: Option<u64>,
    /// User to switch to once the interface is open [default: nobody when root; `root` stays].
    #[arg(long, value_name = "NAME")]
    user: Option<String>,
    /// Also save packets to this pcap file (holds payload!); `-w` as with tcpdump.
    #[arg(short = 'w', long, value_name = "FILE")]
    write_pcap: Option<PathBuf>,
    /// Which packets --write-pcap keeps [default: meta].
    #[arg(long, value_enum, value_name = "WHICH")]
    write_pcap_keep: Option<PcapKeep>,
    /// Extra rules directory over the builtin rules (repeatable; reloaded on SIGHUP).
    #[arg(long = "rules", value_name = "DIR")]
    rules_dir: Vec<PathBuf>,
    /// MaxMind ASN database (.mmdb).
    #[arg(long, value_name = "FILE")]
    asn_db: Option<PathBuf>,
    /// MaxMind country database (.mmdb).
    #[arg(long, value_name = "FILE")]
    country_db: Option<PathBuf>,
    /// Network of the watched devices, CIDR (repeatable), e.g. 10.42.0.0/24.
    #[arg(long = "local-net", value_name = "CIDR")]
    local_networks: Vec<String>,
    /// OUI registry for MAC vendor names [default: searched like `replay --oui-file`].
    #[arg(long, value_name = "FILE")]
    oui_file: Option<PathBuf>,
    #[command(flatten)]
    flow: FlowArgs,
    /// Flow tracking alone: no dissectors, no classification, no events.
    #[arg(long)]
    flows_only: bool,
    /// Quiet time (only keepalives) on the chat connections that ends a usage session, seconds
    /// [default: 300].
    #[arg(long, value_name = "SECS")]
    session_gap: Option<f64>,
    #[command(flatten)]
    files: OutputFiles,
    /// Policy catalogue to judge exposures by, instead of the built-in rules/policy.toml.
    #[arg(long, value_name = "FILE")]
    policy: Option<PathBuf>,
    #[command(flatten)]
    anonymize: AnonymizeArgs,
    /// Most devices held; the least recently seen are written and forgotten beyond
    /// [default: 10000].
    #[arg(long)]
    max_devices: Option<usize>,
    /// How frames reach the pipeline: inline on the capture thread, or batches over a channel
    /// (for benchmarks).
    #[arg(long, value_enum, default_value_t = Handoff::Inline, hide = true)]
    handoff: Handoff,
}

/// Where a replay or capture stops.
#[derive(Args)]
struct LimitArgs {
    /// Stop after N packets (counted after the filter), like tcpdump's -c.
    #[arg(short = 'c', long = "count", value_name = "N")]
    count: Option<u64>,
    /// Stop after this long: packet time from the first packet in replay, wall time in capture
    /// (90, 30s, 5m, 1h).
    #[arg(long, value_name = "DURATION", value_parser = leakscope::capture::limit::parse_duration)]
    duration: Option<std::time::Duration>,
}

impl LimitArgs {
    fn limit(&self) -> leakscope::capture::limit::Limit {
        leakscope::capture::limit::Limit::new(self.count, self.duration)
    }
}

#[derive(Args)]
struct FlowArgs {
    /// TCP idle timeout, seconds [default: 300].
    #[arg(long)]
    tcp_timeout: Option<u64>,
    /// UDP idle timeout, seconds [default: 60].
    #[arg(long)]
    udp_timeout: Option<u64>,
    /// ICMP and other protocols' idle timeout, seconds [default: 60].
    #[arg(long)]
    icmp_timeout: Option<u64>,
    /// Active timeout, seconds: a long flow writes a record this often and goes on [default:
    /// 1800].
    #[arg(long)]
    active_timeout: Option<u64>,
    /// Most live flows; the flow idle the longest is evicted (and written) beyond [default:
    /// 1000000].
    #[arg(long)]
    max_flows: Option<usize>,
}

impl ClassifyArgs {
    /// Replay options shared by `replay` and `bench`.
    fn options(
        &self,
        inputs: Vec<PathBuf>,
        out: Option<PathBuf>,
        flow: &FlowArgs,
        flows_only: bool,
    ) -> ReplayOptions {
        ReplayOptions {
            flow: flow.config(None),
            classify: !flows_only,
            rules_dirs: self.rules.clone(),
            asn_db: self.asn_db.clone(),
            country_db: self.country_db.clone(),
            ..ReplayOptions::new(inputs, out)
        }
    }
}

impl FlowArgs {
    /// Flags over the config file's `[flows]` over [`FlowConfig::default`], the one place of
    /// the defaults (the help texts repeat them; a test keeps them in step).
    fn config(&self, file: Option<&leakscope::live::config::FlowSection>) -> FlowConfig {
        const S: i64 = 1_000_000_000;
        let secs = |v: u64| (v.min(i64::MAX as u64 / S as u64) as i64) * S;
        let d = FlowConfig::default();
        let pick = |flag: Option<u64>, file: Option<u64>, default: i64| {
            flag.or(file).map_or(default, secs)
        };
        FlowConfig {
            tcp_idle: pick(self.tcp_timeout, file.and_then(|f| f.tcp_timeout), d.tcp_idle),
            udp_idle: pick(self.udp_timeout, file.and_then(|f| f.udp_timeout), d.udp_idle),
            other_idle: pick(self.icmp_timeout, file.and_then(|f| f.icmp_timeout), d.other_idle),
            active_timeout: pick(
                self.active_timeout,
                file.and_then(|f| f.active_timeout),
                d.active_timeout,
            ),
            max_flows: self
                .max_flows
                .or(file.and_then(|f| f.max_flows))
                .unwrap_or(d.max_flows)
                .max(1),
            ..d
        }
    }
}

#[derive(Args)]
struct ReplayArgs {
    /// Capture files or directories (searched recursively, in sorted order; `-` reads standard
    /// input), then optionally a BPF filter as the trailing words, as with tcpdump.
    #[arg(value_name = "CAPTURE... [FILTER]")]
    paths: Vec<PathBuf>,
    /// Capture file to read, like tcpdump's -r (repeatable); the positional words are then all
    /// filter.
    #[arg(short = 'r', long = "read", value_name = "FILE")]
    read: Vec<PathBuf>,
    /// BPF filter, tcpdump syntax.
    #[arg(short, long, value_name = "EXPR")]
    filter: Option<String>,
    #[command(flatten)]
    limit: LimitArgs,
    /// Output directory (writes flows.jsonl there); `-` for stdout.
    #[arg(short, long, value_name = "DIR", default_value = "out")]
    out: PathBuf,
    /// Flow tracking alone: no dissectors, no classification, no events.
    #[arg(long)]
    flows_only: bool,
    #[command(flatten)]
    flow: FlowArgs,
    #[command(flatten)]
    classify: ClassifyArgs,
    #[command(flatten)]
    exposure: ExposureArgs,
    #[command(flatten)]
    anonymize: AnonymizeArgs,
    /// Also save the packets of Meta-labelled flows to this pcap file (holds payload!); `-w`
    /// as with tcpdump.
    #[arg(short = 'w', long, value_name = "FILE")]
    write_pcap: Option<PathBuf>,
    /// Which packets --write-pcap keeps.
    #[arg(long, value_enum, value_name = "WHICH", default_value = "meta")]
    write_pcap_keep: PcapKeep,
    #[command(flatten)]
    threads: ThreadsArgs,
}

/// How many pipelines a replay runs.
#[derive(Args)]
struct ThreadsArgs {
    /// Worker threads, packets given out by device; the output is byte-identical whatever N
    /// (1: one pipeline on the reading thread; --write-pcap always uses one; 0: the number of
    /// cores). One by default: on two cores, two workers are faster only without output files
    /// (docs/scale.md).
    #[arg(long, value_name = "N", default_value_t = 1,
          value_parser = clap::value_parser!(u16).range(0..=leakscope::parallel::MAX_WORKERS as i64))]
    threads: u16,
}

impl ThreadsArgs {
    fn threads(&self) -> usize {
        match self.threads {
            0 => std::thread::available_parallelism()
                .map_or(1, |n| n.get().min(leakscope::parallel::MAX_WORKERS)),
            n => usize::from(n),
        }
    }
}

/// Output files besides the output directory, for `replay` and `capture` alike: declared once,
/// so an output option added for one is there for the other.
#[derive(Args)]
struct OutputFiles {
    /// Also write a SQLite database (tables flows, events, devices, sessions, exposures).
    #[arg(long, value_name = "FILE")]
    sqlite: Option<PathBuf>,
    /// Also write the flow records as CSV, one row each, for spreadsheets.
    #[arg(long, value_name = "FILE")]
    csv: Option<PathBuf>,
    /// Also write Parquet datasets under DIR (flows/, events/KIND/; hive partitions by UTC date).
    #[arg(long, value_name = "DIR")]
    parquet: Option<PathBuf>,
}

#[derive(Args)]
struct ExposureArgs {
    /// Local network range (CIDR), besides private, CGNAT, link-local and ULA ones: its addresses
    /// are devices. Repeatable.
    #[arg(long = "local-net", value_name = "CIDR")]
    local_nets: Vec<ipnet::IpNet>,
    /// Quiet time (only keepalives) on the chat connections that ends a usage session, seconds
    /// [default: 300].
    #[arg(long, value_name = "SECS")]
    session_gap: Option<f64>,
    #[command(flatten)]
    files: OutputFiles,
    /// Policy catalogue to judge exposures by, instead of the built-in rules/policy.toml.
    #[arg(long, value_name = "FILE")]
    policy: Option<PathBuf>,
    /// Most devices held; the least recently seen are written (their `device` event) and
    /// forgotten beyond [default: 10000].
    #[arg(long, value_name = "N")]
    max_devices: Option<usize>,
    /// OUI registry for MAC vendor names (IEEE oui.txt, arp-scan's or nmap's list). Default: the
    /// first found of /usr/share/ieee-data/oui.txt, /usr/share/hwdata/oui.txt, arp-scan's, nmap's.
    #[arg(long, value_name = "FILE")]
    oui_file: Option<PathBuf>,
    /// Treat the whole input as one device of this name: a capture made on the phone itself
    /// (PCAPdroid), whatever addresses its tunnel used.
    #[arg(long, value_name = "NAME")]
    device_name: Option<String>,
}

#[derive(Args)]
struct ReportArgs {
    /// Output directory of `leakscope replay` or `capture` (every events*.jsonl in it, rotated and
    /// .gz ones included, and its flows), one events file, or a --sqlite database.
    input: PathBuf,
    /// Write a self-contained HTML report to FILE (instead of the terminal summary).
    #[arg(long, value_name = "FILE")]
    html: Option<PathBuf>,
    /// What to print: a summary (text), the report's events as one JSON document, or one CSV
    /// row per device with a column per policy field.
    #[arg(long, value_enum, default_value = "text")]
    format: ReportFormat,
    /// Only this device (id, MAC, DHCP host name or address); repeat for more.
    #[arg(long, value_name = "DEVICE")]
    device: Vec<String>,
    /// Only what happened from TIME on: epoch seconds or UTC `2026-12-01T10:00[:SS]`.
    #[arg(long, value_name = "TIME", value_parser = leakscope::report::parse_time)]
    since: Option<f64>,
    /// Only what happened until TIME (same forms as --since).
    #[arg(long, value_name = "TIME", value_parser = leakscope::report::parse_time)]
    until: Option<f64>,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum ReportFormat {
    Text,
    Json,
    Csv,
}

#[derive(Args)]
struct AnonymizeArgs {
    /// Replace device addresses, MACs and host names with pseudonyms keyed by this passphrase
    /// (the same key gives the same pseudonyms); server addresses stay. See docs/anonymize.md.
    #[arg(long, value_name = "KEY", conflicts_with = "anonymize_key_file")]
    anonymize: Option<String>,
    /// Like --anonymize, the key read from FILE (keeps it out of the process list).
    #[arg(long, value_name = "FILE")]
    anonymize_key_file: Option<PathBuf>,
    /// Keep the vendor part (OUI) of anonymised MACs: shows the device maker.
    #[arg(long)]
    anonymize_keep_oui: bool,
    /// More device prefixes to anonymise besides private/link-local ones (e.g. the home
    /// network's public IPv6 /64); repeatable.
    #[arg(long, value_name = "CIDR")]
    anonymize_local: Vec<ipnet::IpNet>,
}

impl AnonymizeArgs {
    fn config(&self) -> anyhow::Result<Option<leakscope::anonymize::AnonymizeConfig>> {
        let key = match (&self.anonymize, &self.anonymize_key_file) {
            (Some(k), _) => k.as_bytes().to_vec(),
            (None, Some(f)) => std::fs::read(f)
                .map_err(|e| anyhow::anyhow!("--anonymize-key-file {}: {e}", f.display()))?,
            (None, None) => return Ok(None),
        };
        anyhow::ensure!(!key.is_empty(), "the anonymisation key is empty");
        Ok(Some(leakscope::anonymize::AnonymizeConfig {
            key,
            keep_oui: self.anonymize_keep_oui,
            local_prefixes: self.anonymize_local.clone(),
        }))
    }
}

#[derive(Args)]
struct BenchArgs {
    /// Capture file(s) to replay.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Timed runs (after one warm-up run).
    #[arg(short, long, default_value_t = 5)]
    runs: usize,
    /// Flow tracking alone: no dissectors, no classification.
    #[arg(long)]
    flows_only: bool,
    #[command(flatten)]
    flow: FlowArgs,
    #[command(flatten)]
    classify: ClassifyArgs,
    #[command(flatten)]
    threads: ThreadsArgs,
    /// Alternates the runs with runs on this many threads (one pair per run, in turns: A B,
    /// B A, A B, …) and prints the throughput ratio pair by pair, which a machine's drift
    /// moves less than it moves either median.
    #[arg(long, value_name = "N",
          value_parser = clap::value_parser!(u16).range(1..=leakscope::parallel::MAX_WORKERS as i64))]
    against: Option<u16>,
}

fn init_tracing(verbose: u8, format: LogFormat) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    // Escaped, never failing (see `term`): a closed stderr must not stop a daemon. Never
    // colour codes: the escaping would show them, and a journal or file has no use for them.
    let fmt = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_writer(|| leakscope::term::Stderr);
    match format {
        LogFormat::Text => fmt.init(),
        LogFormat::Json => {
            leakscope::term::set_json(true);
            fmt.json().init()
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // A daemon logs its stats lines (info) by default; not over the live screen.
    let is_capture = matches!(&cli.cmd, Command::Capture(a) if !a.live);
    init_tracing(cli.verbose + u8::from(is_capture), cli.log_format);
    let result = match &cli.cmd {
        Command::Replay(a) => run_replay(a, cli.quiet),
        Command::Bench(a) => run_bench(a),
        Command::Capture(a) => cli_capture::run(a, a.live),
        Command::Watch(a) => cli_capture::run(a, true),
        Command::Interfaces => cli_capture::interfaces(),
        Command::Report(a) => run_report(a),
        Command::Rules { cmd: RulesCmd::Check { dirs } } => rules_check(dirs),
        Command::Verify { dir } => verify(dir),
        Command::Lookup { queries, classify } => lookup(queries, classify),
        Command::Generate { cmd } => cli_generate::run(cmd, Cli::command()),
        Command::Geo { cmd: GeoCmd::Status { asn_db, country_db } } => {
            geo_status(asn_db.as_deref(), country_db.as_deref())
        }
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            // Each cause once (some errors already include their source), then one line per
            // failed output (a full disk fails several).
            let mut msg = e.to_string();
            for cause in e.chain().skip(1).map(ToString::to_string) {
                if !msg.contains(&cause) {
                    msg = format!("{msg}: {cause}");
                }
            }
            for line in msg.lines() {
                leakscope::term::say_at("ERROR", &format!("leakscope: {line}"));
            }
            ExitCode::FAILURE
        }
    }
}

fn run_replay(a: &ReplayArgs, quiet: bool) -> anyhow::Result<ExitCode> {
    let (inputs, filter) = leakscope::cli::inputs::split(&a.read, &a.paths, a.filter.as_deref())
        .map_err(anyhow::Error::msg)?;
    let opts = ReplayOptions {
        filter,
        limit: a.limit.limit(),
        progress: !quiet,
        exposure: a.exposure.config()?,
        sqlite: a.exposure.files.sqlite.clone(),
        csv: a.exposure.files.csv.clone(),
        parquet: a.exposure.files.parquet.clone(),
        anonymize: a.anonymize.config()?,
        write_pcap: a.write_pcap.clone().map(|p| (p, a.write_pcap_keep)),
        threads: a.threads.threads(),
        ..a.classify.options(inputs, Some(a.out.clone()), &a.flow, a.flows_only)
    };
    // Provenance for an output directory (not for a stream on stdout).
    let dir = (a.out != std::path::Path::new("-")).then_some(a.out.as_path());
    let dir_existed = a.out.exists();
    let recorder = dir.map(|_| {
        leakscope::manifest::Recorder::replay(
            &opts.inputs,
            &opts.rules_dirs,
            a.exposure.policy.as_deref(),
        )
    });
    stop_on_signals()?;
    let o = replay(&opts)?;
    if let (Some(dir), Some(r)) = (dir, recorder) {
        let extra = [opts.csv.as_deref(), opts.sqlite.as_deref()];
        let outputs = leakscope::manifest::replay_outputs(dir, &extra);
        r.finish(dir, leakscope::manifest::replay_counts(&o), &outputs)?;
    }
    // Under sudo: what this run created goes to the invoking user.
    if let Some(dir) = dir {
        let mut made: Vec<PathBuf> =
            ["flows.jsonl", "events.jsonl", "manifest.json"].iter().map(|f| dir.join(f)).collect();
        made.extend([&opts.csv, &opts.sqlite].into_iter().flatten().cloned());
        made.extend(opts.write_pcap.as_ref().map(|(p, _)| p.clone()));
        if !dir_existed {
            made.push(dir.to_owned());
        }
        leakscope::output::owner::give_to_sudo_user(made.iter().map(PathBuf::as_path));
    }
    let s = &o.stats;
    leakscope::term::say(&format!(
        "leakscope: {} file(s), {} packets ({:.1} MB), {} flow records ({} to Meta), {} evicted, {} decode errors, {} damaged input(s), {:.2} s",
        o.files,
        s.packets.packets,
        s.packets.bytes as f64 / 1e6,
        s.records,
        s.meta_records,
        s.table.evicted,
        s.packets.decode_errors.total(),
        o.faults.len(),
        o.elapsed.as_secs_f64()
    ));
    if let Some(p) = &o.pcap {
        leakscope::term::say(&format!("leakscope: {}", leakscope::output::pcap::summary(p)));
    }
    if s.certs_capped > 0 {
        leakscope::term::say(&format!(
            "leakscope: {} TLS server certificates were not read: the leaf lay past the per-flow byte cap",
            s.certs_capped
        ));
    }
    if s.carried_evicted > 0 {
        leakscope::term::say(&format!(
            "leakscope: {} server addresses were dropped from the carried-name table (full)",
            s.carried_evicted
        ));
    }
    let refused = leakscope::dissect::stream::refused();
    if refused > 0 {
        leakscope::term::say(&format!(
            "leakscope: {refused} TCP segments were not reassembled: the reassembly memory cap was reached"
        ));
    }
    if let Some(sig) = o.interrupted {
        let name = leakscope::manifest::signal_name(sig);
        leakscope::term::say(&format!(
            "leakscope: stopped by {name}: the outputs hold the packets read before it"
        ));
        // The shell's convention for a command ended by a signal.
        return Ok(ExitCode::from((128 + sig).clamp(0, 255) as u8));
    }
    Ok(if o.faults.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

/// SIGINT or SIGTERM stops a replay as if its input ended there (flows written, outputs closed,
/// Parquet footers written, the manifest saying so); a second one ends the process at once.
/// The handlers are in place when this returns.
fn stop_on_signals() -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<std::io::Result<()>>();
    std::thread::Builder::new().name("leakscope-signals".into()).spawn(move || {
        let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
            Ok(rt) => rt,
            Err(e) => return drop(ready_tx.send(Err(e))),
        };
        rt.block_on(async move {
            let (mut int, mut term) =
                match (signal(SignalKind::interrupt()), signal(SignalKind::terminate())) {
                    (Ok(i), Ok(t)) => (i, t),
                    (Err(e), _) | (_, Err(e)) => return drop(ready_tx.send(Err(e))),
                };
            let _ = ready_tx.send(Ok(()));
            let mut asked = false;
            loop {
                let sig = tokio::select! {
                    _ = int.recv() => libc::SIGINT,
                    _ = term.recv() => libc::SIGTERM,
                };
                if asked {
                    std::process::exit(128 + sig);
                }
                asked = true;
                leakscope::replay::request_stop(sig);
                leakscope::term::say(
                    "leakscope: stopping after the packet being read (again to stop at once)",
                );
            }
        });
    })?;
    ready_rx.recv().map_err(|_| anyhow::anyhow!("the signal thread did not start"))??;
    Ok(())
}

fn run_bench(a: &BenchArgs) -> anyhow::Result<ExitCode> {
    let opts = ReplayOptions {
        threads: a.threads.threads(),
        ..a.classify.options(a.paths.clone(), None, &a.flow, a.flows_only)
    };
    let against = a.against.map(|n| ReplayOptions { threads: usize::from(n), ..opts.clone() });
    let mut rates = Vec::new();
    let mut other = Vec::new();
    let mut last = None;
    let time = |o: &ReplayOptions| replay(o).map(|r| r.elapsed.as_secs_f64().max(1e-9));
    for run in 0..=a.runs.max(1) {
        // The pair's other run goes first every other pair: a run right after another is
        // slower by about 1 % on this project's machine (`--threads 1 --against 1`).
        let before = match &against {
            Some(b) if run % 2 == 1 => Some(time(b)?),
            _ => None,
        };
        let o = replay(&opts)?;
        let secs = o.elapsed.as_secs_f64().max(1e-9);
        let (p, b) = (o.stats.packets.packets as f64, o.stats.packets.bytes as f64);
        let vs = match &against {
            Some(b) if before.is_none() => Some(time(b)?),
            _ => before,
        };
        if run > 0 {
            let pair = match (vs, a.against) {
                (Some(v), Some(n)) => format!("; on {n} thread(s): {v:.6} s"),
                _ => String::new(),
            };
            leakscope::term::say(&format!(
                "run {run}: {secs:.6} s, {:.0} packets/s, {:.1} MB/s{pair}",
                p / secs,
                b / secs / 1e6
            ));
            rates.push((secs, p / secs, b / secs / 1e6));
            other.extend(vs);
        }
        last = Some(o);
    }
    // The ratios pair by pair, before the sorting below loses the pairs.
    let mut ratios: Vec<f64> = other.iter().zip(&rates).map(|(v, r)| v / r.0).collect();
    rates.sort_by(|x, y| x.0.total_cmp(&y.0));
    let (secs, pps, mbps) = rates[rates.len() / 2];
    let o = last.expect("at least one run");
    println!(
        "median of {} runs ({}, {} thread(s)): {:.3} s, {:.0} packets/s, {:.1} MB/s ({} packets, {:.1} MB, {} flow records, {} to Meta)",
        rates.len(),
        if a.flows_only { "flow tracking only" } else { "dissection and classification" },
        opts.threads,
        secs,
        pps,
        mbps,
        o.stats.packets.packets,
        o.stats.packets.bytes as f64 / 1e6,
        o.stats.records,
        o.stats.meta_records
    );
    if let Some(n) = a.against {
        other.sort_by(f64::total_cmp);
        ratios.sort_by(f64::total_cmp);
        let median = |v: &[f64]| v[v.len() / 2];
        println!(
            "median of {} runs on {n} thread(s): {:.3} s; throughput of {} thread(s) against {n}, median of the {} pairs: {:.3}x (from {:.3} to {:.3})",
            other.len(),
            median(&other),
            opts.threads,
            ratios.len(),
            median(&ratios),
            ratios[0],
            ratios[ratios.len() - 1]
        );
    }
    Ok(ExitCode::SUCCESS)
}

impl ExposureArgs {
    fn config(&self) -> anyhow::Result<leakscope::exposure::ExposureConfig> {
        exposure_config(
            self.local_nets.clone(),
            self.max_devices,
            self.oui_file.clone(),
            self.session_gap,
            self.policy.as_deref(),
            self.device_name.clone(),
        )
    }
}

/// The exposure map's settings from the options `replay` and `capture` share.
fn exposure_config(
    local_nets: Vec<ipnet::IpNet>,
    max_devices: Option<usize>,
    oui_file: Option<PathBuf>,
    session_gap: Option<f64>,
    policy: Option<&std::path::Path>,
    device_name: Option<String>,
) -> anyhow::Result<leakscope::exposure::ExposureConfig> {
    if let Some(p) = &oui_file {
        let f = std::fs::File::open(p).and_then(|f| f.metadata());
        let f = f.map_err(|e| anyhow::anyhow!("--oui-file {}: {e}", p.display()))?;
        anyhow::ensure!(f.is_file(), "--oui-file {}: not a file", p.display());
    }
    let mut cfg = leakscope::exposure::ExposureConfig {
        local_nets,
        max_devices: max_devices.unwrap_or(leakscope::exposure::DEFAULT_MAX_DEVICES).max(1),
        oui_file,
        device_name,
        ..Default::default()
    };
    if let Some(gap) = session_gap {
        cfg.heuristics.session_gap_secs = gap.max(0.0);
    }
    if let Some(p) = policy {
        cfg.catalogue =
            leakscope::policy::Catalogue::load(p).map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    Ok(cfg)
}

fn run_report(a: &ReportArgs) -> anyhow::Result<ExitCode> {
    let filter =
        leakscope::report::Filter { devices: a.device.clone(), since: a.since, until: a.until };
    let report = filter.apply(leakscope::report::load(&a.input)?)?;
    match &a.html {
        Some(path) => {
            use leakscope::output::create;
            use std::io::Write;
            // Like every output: never written through a link.
            let mut f = create::open(path, create::Mode::Truncate)?;
            f.write_all(leakscope::report::html::render(&report).as_bytes())
                .map_err(|e| anyhow::anyhow!("{}: write failed: {e}", path.display()))?;
            leakscope::term::say(&format!("leakscope: wrote {}", path.display()));
        }
        None => {
            use std::io::Write;
            let text = match a.format {
                ReportFormat::Text => leakscope::report::text::render(&report),
                ReportFormat::Json => leakscope::report::json(&report),
                ReportFormat::Csv => leakscope::report::csv::render(&report),
            };
            // `report | head` closes the pipe early: not an error.
            match std::io::stdout().lock().write_all(text.as_bytes()) {
                Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => return Err(e.into()),
                _ => {}
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn geo_status(
    asn: Option<&std::path::Path>,
    country: Option<&std::path::Path>,
) -> anyhow::Result<ExitCode> {
    use leakscope::classify::geo::{ASN_NAMES, COUNTRY_NAMES, DEFAULT_DIRS};
    let geo = leakscope::classify::Geo::open(asn, country)?;
    let [asn_meta, country_meta] = geo.describe();
    let lines = [
        ("ASN", geo.asn_path(), asn_meta, ASN_NAMES),
        ("country", geo.country_path(), country_meta, COUNTRY_NAMES),
    ];
    for (what, path, meta, names) in lines {
        match (path, meta) {
            (Some(p), Some((kind, built))) => {
                let day = leakscope::report::time(built as f64);
                let day = day.split(' ').next().unwrap_or("");
                println!("{what} database: {} ({kind}, built {day})", p.display());
            }
            _ => println!(
                "{what} database: none found (looked for {} in {})",
                names.join(", "),
                DEFAULT_DIRS.join(", ")
            ),
        }
    }
    if geo.asn_path().is_some() || geo.country_path().is_some() {
        let probe: std::net::IpAddr = "157.240.0.1".parse().expect("address");
        let g = geo.lookup(probe);
        println!(
            "check: {probe} -> AS{} {}, country {}",
            g.asn.map_or_else(|| "?".into(), |a| a.to_string()),
            g.as_org.as_deref().unwrap_or("?"),
            g.cc.as_deref().unwrap_or("?")
        );
    }
    if geo.asn_path().is_none() || geo.country_path().is_none() {
        println!(
            "Without them the exposure map shows no country for the public address and no mobile carrier.\n\
             Get one (see docs/exposure.md, \"Country and ASN databases\"):\n\
             - DB-IP Lite (CC BY 4.0): https://db-ip.com/db/lite.php -> dbip-country-lite.mmdb, dbip-asn-lite.mmdb\n\
             - ip-location-db (CC BY 4.0): https://github.com/sapics/ip-location-db (npm @ip-location-db/*-mmdb)\n\
             - MaxMind GeoLite2 (free account): geoipupdate -> /var/lib/GeoIP/GeoLite2-Country.mmdb, GeoLite2-ASN.mmdb\n\
             Put them in /usr/share/GeoIP or /var/lib/GeoIP, or pass --asn-db/--country-db."
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn rules_check(dirs: &[PathBuf]) -> anyhow::Result<ExitCode> {
    // The policy catalogue beside the rules is checked too.
    let mut policy_ok = true;
    for dir in dirs {
        let p = dir.join(leakscope::policy::CATALOGUE_FILE);
        if p.is_file()
            && let Err(errors) = leakscope::policy::Catalogue::load(&p)
        {
            errors.0.iter().for_each(|e| leakscope::term::say(&format!("leakscope: {e}")));
            policy_ok = false;
        }
    }
    if !policy_ok {
        return Ok(ExitCode::FAILURE);
    }
    match leakscope::classify::check(dirs) {
        Ok(summary) => {
            println!("{summary}");
            Ok(ExitCode::SUCCESS)
        }
        Err(errors) => {
            for e in &errors.0 {
                leakscope::term::say(&format!("leakscope: {e}"));
            }
            leakscope::term::say(&format!("leakscope: {} problem(s) in the rules", errors.0.len()));
            Ok(ExitCode::FAILURE)
        }
    }
}

fn verify(dir: &std::path::Path) -> anyhow::Result<ExitCode> {
    let (lines, all) = leakscope::manifest::verify(dir)?;
    lines.iter().for_each(|l| println!("{l}"));
    if all {
        println!(
            "all {} recorded file(s) match {}",
            lines.len(),
            dir.join("manifest.json").display()
        );
        Ok(ExitCode::SUCCESS)
    } else {
        leakscope::term::say("leakscope: some files differ from the manifest");
        Ok(ExitCode::FAILURE)
    }
}

fn lookup(queries: &[String], c: &ClassifyArgs) -> anyhow::Result<ExitCode> {
    let rules = leakscope::classify::Ruleset::load_with_origins(&c.rules, true)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let geo = leakscope::classify::Geo::open(c.asn_db.as_deref(), c.country_db.as_deref())?;
    let mut any = false;
    for q in queries {
        let (lines, hit) = leakscope::lookup::explain(&rules, &geo, q);
        lines.iter().for_each(|l| println!("{l}"));
        any |= hit;
    }
    // Like grep: 1 when nothing matched, so scripts can test it.
    Ok(if any { ExitCode::SUCCESS } else { ExitCode::from(1) })
}
