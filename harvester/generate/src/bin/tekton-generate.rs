//! Writes generated Tekton objects as kubectl `List` files, ready for `harvester` file replay or `kubectl apply`.
//!
//! ```sh
//! cargo run --release -p tekton-generate -- --pipeline-runs 1000 --out /tmp/tekton-gen [--seed 42] [--per-file 1000]
//! ```
//!
//! Other options: `--task-runs-per-build N`, `--namespaces N`, `--repositories N`, `--no-scan-every-build`,
//! `--pretty`. Files are `DIR/tekton-00000.json`, `DIR/tekton-00001.json`, …, each holding at most `--per-file`
//! objects; a build's TaskRuns may continue in the next file.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use serde_json::{Value, json};
use tekton_generate::{GenerateConfig, generate};

const USAGE: &str = "usage: tekton-generate --pipeline-runs N --out DIR [--seed S] [--per-file 1000] \
[--task-runs-per-build 9] [--namespaces 8] [--repositories 32] [--no-scan-every-build] [--pretty]";

struct Options {
    config: GenerateConfig,
    out: PathBuf,
    per_file: usize,
    pretty: bool,
}

fn parse(args: impl IntoIterator<Item = String>) -> Result<Options, String> {
    let mut config = GenerateConfig::default();
    let mut out = None;
    let mut per_file = 1000;
    let mut pretty = false;
    let mut pipeline_runs = None;
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        let mut value = |name: &str| -> Result<String, String> {
            inline.clone().or_else(|| args.next()).ok_or_else(|| format!("{name} needs a value"))
        };
        let mut number = |name: &str| -> Result<u64, String> {
            let v = value(name)?;
            v.parse().map_err(|_| format!("{name}: `{v}` is not a non-negative integer"))
        };
        match flag.as_str() {
            "--pipeline-runs" => pipeline_runs = Some(number("--pipeline-runs")? as usize),
            "--out" => out = Some(PathBuf::from(value("--out")?)),
            "--seed" => config.seed = number("--seed")?,
            "--per-file" => per_file = (number("--per-file")? as usize).max(1),
            "--task-runs-per-build" => config.task_runs_per_build = number("--task-runs-per-build")? as usize,
            "--namespaces" => config.namespaces = (number("--namespaces")? as usize).max(1),
            "--repositories" => config.repositories = (number("--repositories")? as usize).max(1),
            "--no-scan-every-build" => config.scan_every_build = false,
            "--pretty" => pretty = true,
            "-h" | "--help" => return Err(USAGE.to_string()),
            other => return Err(format!("unknown argument `{other}`\n{USAGE}")),
        }
    }
    config.pipeline_runs = pipeline_runs.ok_or_else(|| format!("--pipeline-runs is required\n{USAGE}"))?;
    let out = out.ok_or_else(|| format!("--out is required\n{USAGE}"))?;
    Ok(Options { config, out, per_file, pretty })
}

fn write_list(path: &Path, items: Vec<Value>, pretty: bool) -> std::io::Result<()> {
    let list = json!({"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": ""}, "items": items});
    let mut writer = BufWriter::new(File::create(path)?);
    if pretty {
        serde_json::to_writer_pretty(&mut writer, &list)?;
    } else {
        serde_json::to_writer(&mut writer, &list)?;
    }
    writer.write_all(b"\n")?;
    writer.flush()
}

fn run(options: Options) -> Result<(), String> {
    let out = &options.out;
    std::fs::create_dir_all(out).map_err(|e| format!("cannot create {}: {e}", out.display()))?;
    let (mut files, mut objects, mut pipeline_runs) = (0usize, 0usize, 0usize);
    let mut batch = Vec::with_capacity(options.per_file);
    let mut flush = |batch: &mut Vec<Value>| -> Result<(), String> {
        let path = out.join(format!("tekton-{files:05}.json"));
        write_list(&path, std::mem::take(batch), options.pretty).map_err(|e| format!("{}: {e}", path.display()))?;
        files += 1;
        Ok(())
    };
    for object in generate(&options.config) {
        objects += 1;
        pipeline_runs += usize::from(object["kind"] == "PipelineRun");
        batch.push(object);
        if batch.len() == options.per_file {
            flush(&mut batch)?;
        }
    }
    if !batch.is_empty() {
        flush(&mut batch)?;
    }
    eprintln!(
        "wrote {objects} objects ({pipeline_runs} PipelineRuns, {} TaskRuns) to {files} file(s) in {}",
        objects - pipeline_runs,
        out.display()
    );
    Ok(())
}

fn main() -> ExitCode {
    match parse(std::env::args().skip(1)).and_then(run) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("{message}");
            ExitCode::FAILURE
        }
    }
}
