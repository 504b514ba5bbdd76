//! Running an emulator in a Docker container: QEMU (`--runner qemu
//! --docker`) or Renode (`--runner renode`).
//!
//! The images are built here from `docker/<name>/Dockerfile` (the folder is
//! the build context) and tagged `tflm/<name>:<hash>`, the hash covering the
//! folder's files and the base image, so a changed Dockerfile or base makes a
//! new image and an unchanged one is reused. `--base-image` replaces the
//! Dockerfile's `ARG BASE` (for machines that cannot reach a registry).
//!
//! Each test binary runs in its own container, named `tflm-<pid>-<n>`: no
//! network, the ELF mounted read-only, a non-root user, a memory limit. Its
//! output is streamed into the same [`Scanner`] as the other runners; on a
//! verdict or the host timeout the container is killed, and it is always
//! removed, on errors too, and on Ctrl-C through [`Containers::remove_all`]
//! (which [`crate::runner::Children::kill_all`] calls).
//!
//! The Docker API client is async (`bollard`); every call here runs it on a
//! small current-thread tokio runtime of its own, so the harness stays
//! synchronous and parallel jobs do not share a connection.

use crate::renode;
use crate::report::Attempt;
use crate::runner::{qemu_args, Children, Limits};
use crate::scan::{Decision, Exit, ScanConfig, Scanner, Verdict};
use bollard::models::{
    ContainerCreateBody, ContainerState, HostConfig, HostConfigLogConfig, Mount, MountType,
};
use bollard::query_parameters::{
    BuildImageOptionsBuilder, CreateContainerOptionsBuilder, InspectContainerOptions,
    ListContainersOptionsBuilder, ListImagesOptionsBuilder, LogsOptionsBuilder,
    RemoveContainerOptionsBuilder,
};
use futures_util::{Stream, StreamExt};
use sha2::{Digest, Sha256};
use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::pin::pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tflm_targets::{RunnerKind, Target};

/// The daemon asked when `DOCKER_HOST` is not set.
pub const DEFAULT_HOST: &str = "unix:///var/run/docker.sock";
/// The user the emulators run as in their container (`nobody:nogroup`).
pub const USER: &str = "65534:65534";
/// The memory limit of a QEMU container.
pub const QEMU_MEMORY: i64 = 512 << 20;
/// The memory limit of a Renode container (Renode runs on .NET and needs
/// more than QEMU).
pub const RENODE_MEMORY: i64 = 1 << 30;
/// Where the firmware is mounted in the container.
pub const FW_DIR: &str = "/fw";
/// The repository of the images built here (`tflm/qemu`, `tflm/renode`).
pub const IMAGE_REPO: &str = "tflm";
/// The label every container started here carries, with this process's id.
pub const PID_LABEL: &str = "tflm.pid";

/// How long to wait for the daemon to answer at all.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How often the scanner's clock is ticked while a container runs.
const TICK: Duration = Duration::from_millis(20);
/// The most each container may log to the daemon's disk.
const LOG_MAX_SIZE: &str = "16m";

#[derive(Debug, thiserror::Error)]
pub enum DockerError {
    #[error("no Docker daemon at {host} (set DOCKER_HOST or start dockerd)")]
    NoDaemon { host: String },
    #[error("the Docker daemon at {host} refused access: permission denied (join the docker group, or run as root)")]
    Denied { host: String },
    #[error("{path} not found (run tflm inside a tflm checkout, whose docker/ folder holds the Dockerfiles)")]
    NoDockerfile { path: PathBuf },
    #[error("building Docker image {tag} failed at {step}: {message}")]
    Build {
        tag: String,
        step: String,
        message: String,
    },
    #[error("the {runner} runner cannot run in Docker (only qemu and renode can)")]
    NotInDocker { runner: RunnerKind },
    #[error("target {target} has no {runner} settings")]
    NoSettings { target: String, runner: RunnerKind },
    #[error("{context}: {error}")]
    Io {
        context: String,
        error: std::io::Error,
    },
    #[error("Docker: {0}")]
    Api(String),
}

fn api(context: &str, e: bollard::errors::Error) -> DockerError {
    DockerError::Api(format!("{context}: {}", one_line(&e.to_string())))
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The daemon address: `DOCKER_HOST`, else [`DEFAULT_HOST`].
pub fn docker_host() -> String {
    std::env::var("DOCKER_HOST")
        .ok()
        .filter(|h| !h.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_HOST.to_string())
}

fn runtime() -> Result<tokio::runtime::Runtime, DockerError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|error| DockerError::Io {
            context: "cannot start the Docker client's runtime".into(),
            error,
        })
}

/// A connection to the Docker daemon, with the small runtime its calls run on.
pub struct Docker {
    rt: tokio::runtime::Runtime,
    client: bollard::Docker,
    host: String,
}

impl Docker {
    /// Connects to `DOCKER_HOST` (or the default socket) and agrees on an API
    /// version; one clear error when no daemon answers.
    pub fn connect() -> Result<Docker, DockerError> {
        Docker::connect_to(&docker_host())
    }

    /// Connects to the daemon at `host` (`unix://…`, `tcp://…`).
    pub fn connect_to(host: &str) -> Result<Docker, DockerError> {
        let host = host.to_string();
        let rt = runtime()?;
        let no_daemon = || DockerError::NoDaemon { host: host.clone() };
        let client = {
            // bollard's connectors need a runtime context (hyper's pool).
            let _guard = rt.enter();
            bollard::Docker::connect_with_host(&host).map_err(|_| no_daemon())?
        };
        let client = rt
            .block_on(async {
                tokio::time::timeout(CONNECT_TIMEOUT, client.negotiate_version()).await
            })
            .map_err(|_| no_daemon())?
            .map_err(|e| {
                if format!("{e:?}")
                    .to_lowercase()
                    .contains("permission denied")
                {
                    DockerError::Denied { host: host.clone() }
                } else {
                    no_daemon()
                }
            })?;
        Ok(Docker { rt, client, host })
    }

    /// Where the daemon is.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The daemon's version, e.g. `Docker 20.10.24 (API 1.41)`.
    pub fn version(&self) -> Result<String, DockerError> {
        let v = self
            .rt
            .block_on(self.client.version())
            .map_err(|e| api("version", e))?;
        Ok(format!(
            "Docker {} (API {})",
            v.version.unwrap_or_else(|| "?".into()),
            v.api_version.unwrap_or_else(|| "?".into())
        ))
    }

    /// Whether an image is here (by name, tag or id).
    pub fn image_exists(&self, image: &str) -> Result<bool, DockerError> {
        Ok(self.image_id(image)?.is_some())
    }

    /// The id (`sha256:…`) of an image, if it is here.
    pub fn image_id(&self, image: &str) -> Result<Option<String>, DockerError> {
        match self.rt.block_on(self.client.inspect_image(image)) {
            Ok(info) => Ok(Some(info.id.unwrap_or_else(|| image.to_string()))),
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(None),
            Err(e) => Err(api(&format!("inspect image {image}"), e)),
        }
    }

    /// `spec` with the id of its base image, when that is here.
    pub fn with_base_id(&self, spec: &ImageSpec) -> Result<ImageSpec, DockerError> {
        let mut spec = spec.clone();
        spec.base_id = if spec.base.is_empty() {
            None
        } else {
            self.image_id(&spec.base)?
        };
        Ok(spec)
    }

    /// The tags of the images of `repository` that are here, sorted.
    pub fn image_tags(&self, repository: &str) -> Result<Vec<String>, DockerError> {
        let filters = HashMap::from([("reference", vec![format!("{repository}:*")])]);
        let options = ListImagesOptionsBuilder::new().filters(&filters).build();
        let images = self
            .rt
            .block_on(self.client.list_images(Some(options)))
            .map_err(|e| api("list images", e))?;
        let mut tags: Vec<String> = images
            .into_iter()
            .flat_map(|i| i.repo_tags)
            .filter(|t| t.starts_with(&format!("{repository}:")))
            .collect();
        tags.sort();
        tags.dedup();
        Ok(tags)
    }

    /// The names of the containers (running or not) whose name starts with
    /// `prefix`.
    pub fn containers_named(&self, prefix: &str) -> Result<Vec<String>, DockerError> {
        let filters = HashMap::from([("name", vec![prefix.to_string()])]);
        let options = ListContainersOptionsBuilder::new()
            .all(true)
            .filters(&filters)
            .build();
        let list = self
            .rt
            .block_on(self.client.list_containers(Some(options)))
            .map_err(|e| api("list containers", e))?;
        Ok(list
            .into_iter()
            .flat_map(|c| c.names.unwrap_or_default())
            .map(|n| n.trim_start_matches('/').to_string())
            .filter(|n| n.starts_with(prefix))
            .collect())
    }

    /// Builds `spec`'s image unless it is here already; returns its tag
    /// (which covers the base image's id when the base is here, see
    /// [`Docker::with_base_id`]). `on_build` is called once, with the tag,
    /// before a build starts.
    pub fn ensure_image(
        &self,
        spec: &ImageSpec,
        on_build: impl FnOnce(&str),
    ) -> Result<String, DockerError> {
        // One build at a time in this process: parallel jobs asking for the
        // same image wait for the first to build it.
        static BUILDING: Mutex<()> = Mutex::new(());
        let _one = BUILDING.lock().unwrap_or_else(|e| e.into_inner());
        let spec = &self.with_base_id(spec)?;
        let tag = spec.tag();
        if self.image_exists(&tag)? {
            return Ok(tag);
        }
        on_build(&tag);
        self.rt.block_on(build_image(&self.client, spec, &tag))?;
        Ok(tag)
    }

    /// Force-removes a container (killing it if it runs); a container that
    /// is not there is no error.
    pub fn remove_container(&self, name: &str) -> Result<(), DockerError> {
        self.rt.block_on(remove(&self.client, name))
    }

    /// Runs one container to a verdict; see [`run_binary`].
    pub fn run(
        &self,
        spec: &ContainerSpec,
        limits: Limits,
        containers: &Containers,
        on_output: &mut dyn FnMut(&[u8]),
    ) -> Result<Attempt, DockerError> {
        containers.add(&spec.name);
        let result = self.rt.block_on(async {
            let result = run_container(&self.client, spec, limits, on_output).await;
            // Always removed: after a verdict, a timeout or an error.
            let removed = remove(&self.client, &spec.name).await;
            match (result, removed) {
                (Ok(attempt), Ok(())) => Ok(attempt),
                (Err(e), _) => Err(e),
                (Ok(_), Err(e)) => Err(e),
            }
        });
        containers.remove(&spec.name);
        result
    }
}

async fn remove(client: &bollard::Docker, name: &str) -> Result<(), DockerError> {
    let options = RemoveContainerOptionsBuilder::new()
        .force(true)
        .v(true)
        .build();
    match client.remove_container(name, Some(options)).await {
        Ok(()) => Ok(()),
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 404, ..
        }) => Ok(()),
        // Removal already under way (e.g. from the Ctrl-C handler).
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 409, ..
        }) => Ok(()),
        Err(e) => Err(api(&format!("remove container {name}"), e)),
    }
}

// ---------------------------------------------------------------------------
// Images

/// An image built from a folder with a Dockerfile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageSpec {
    /// `qemu` or `renode`: the folder's name and the image's.
    pub name: String,
    /// The folder's files (path relative to it, contents), sorted by path.
    pub files: Vec<(String, Vec<u8>)>,
    /// The base image: `--base-image`, else the Dockerfile's `ARG BASE`.
    pub base: String,
    /// The base image's id, when it is here: a base rebuilt under the same
    /// name (e.g. by docker/base-image.sh) then makes a new image. (A base
    /// pulled by the first build is counted from the next run on, which
    /// rebuilds once, from the build cache.)
    pub base_id: Option<String>,
}

impl ImageSpec {
    /// Reads `dir` (with a `Dockerfile`); `base` overrides its `ARG BASE`.
    pub fn from_dir(dir: &Path, base: Option<&str>) -> Result<ImageSpec, DockerError> {
        let dockerfile = dir.join("Dockerfile");
        if !dockerfile.is_file() {
            return Err(DockerError::NoDockerfile { path: dockerfile });
        }
        let mut files = Vec::new();
        collect_files(dir, dir, &mut files)?;
        files.sort();
        let text = files
            .iter()
            .find(|(p, _)| p == "Dockerfile")
            .map(|(_, c)| String::from_utf8_lossy(c).into_owned())
            .unwrap_or_default();
        let base = match base {
            Some(b) => b.to_string(),
            None => default_base(&text).unwrap_or_default(),
        };
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        Ok(ImageSpec {
            name,
            files,
            base,
            base_id: None,
        })
    }

    /// `tflm/<name>:<first 12 hex digits of a SHA-256 over the files and the
    /// base image (its name, and its id when known)>`.
    pub fn tag(&self) -> String {
        let mut h = Sha256::new();
        h.update(b"tflm-image-v1\0");
        for (path, contents) in &self.files {
            h.update(path.as_bytes());
            h.update([0]);
            h.update((contents.len() as u64).to_le_bytes());
            h.update(contents);
        }
        h.update(b"base\0");
        h.update(self.base.as_bytes());
        if let Some(id) = &self.base_id {
            h.update(b"\0id\0");
            h.update(id.as_bytes());
        }
        let hex: String = h
            .finalize()
            .iter()
            .take(6)
            .map(|b| format!("{b:02x}"))
            .collect();
        format!("{IMAGE_REPO}/{}:{hex}", self.name)
    }

    /// The build context: the folder's files as a tar, with fixed owners and
    /// times so that the same files make the same archive.
    pub fn context_tar(&self) -> Result<Vec<u8>, DockerError> {
        let mut tar = tar::Builder::new(Vec::new());
        for (path, contents) in &self.files {
            let mut header = tar::Header::new_gnu();
            header.set_size(contents.len() as u64);
            header.set_mode(0o644);
            header.set_uid(0);
            header.set_gid(0);
            header.set_mtime(0);
            header.set_entry_type(tar::EntryType::Regular);
            tar.append_data(&mut header, path, contents.as_slice())
                .map_err(|error| DockerError::Io {
                    context: format!("cannot tar {path}"),
                    error,
                })?;
        }
        tar.into_inner().map_err(|error| DockerError::Io {
            context: "cannot tar the build context".into(),
            error,
        })
    }
}

fn collect_files(
    root: &Path,
    dir: &Path,
    out: &mut Vec<(String, Vec<u8>)>,
) -> Result<(), DockerError> {
    let io = |context: String| move |error| DockerError::Io { context, error };
    let entries = std::fs::read_dir(dir).map_err(io(format!("cannot read {}", dir.display())))?;
    for entry in entries {
        let path = entry
            .map_err(io(format!("cannot read {}", dir.display())))?
            .path();
        if path.is_dir() {
            collect_files(root, &path, out)?;
        } else if path.is_file() {
            let contents =
                std::fs::read(&path).map_err(io(format!("cannot read {}", path.display())))?;
            let rel = path
                .strip_prefix(root)
                .unwrap_or(&path)
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("/");
            out.push((rel, contents));
        }
    }
    Ok(())
}

/// The default of `ARG BASE=...` in a Dockerfile.
pub fn default_base(dockerfile: &str) -> Option<String> {
    dockerfile.lines().find_map(|line| {
        let rest = line.trim().strip_prefix("ARG")?;
        let value = rest.trim_start().strip_prefix("BASE=")?;
        Some(value.trim().trim_matches('"').to_string())
    })
}

/// The folder that holds `qemu/` and `renode/` with their Dockerfiles: the
/// `docker/` folder of the checkout around the current directory, else the
/// one this tflm was built from.
pub fn dockerfiles_dir() -> Result<PathBuf, DockerError> {
    let has = |d: &Path| d.join("qemu").join("Dockerfile").is_file();
    if let Ok(cwd) = std::env::current_dir() {
        if let Some(d) = cwd.ancestors().map(|a| a.join("docker")).find(|d| has(d)) {
            return Ok(d);
        }
    }
    let built_from = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docker");
    if has(&built_from) {
        return Ok(built_from);
    }
    Err(DockerError::NoDockerfile {
        path: PathBuf::from("docker/qemu/Dockerfile"),
    })
}

/// The image folder for a runner: `qemu` or `renode`.
pub fn image_name(runner: RunnerKind) -> Result<&'static str, DockerError> {
    match runner {
        RunnerKind::Qemu => Ok("qemu"),
        RunnerKind::Renode => Ok("renode"),
        other => Err(DockerError::NotInDocker { runner: other }),
    }
}

async fn build_image(
    client: &bollard::Docker,
    spec: &ImageSpec,
    tag: &str,
) -> Result<(), DockerError> {
    let context = spec.context_tar()?;
    let mut args = HashMap::new();
    if !spec.base.is_empty() {
        args.insert("BASE".to_string(), spec.base.clone());
    }
    let labels = HashMap::from([("tflm.image".to_string(), spec.name.clone())]);
    let options = BuildImageOptionsBuilder::new()
        .t(tag)
        .rm(true)
        .forcerm(true)
        .buildargs(&args)
        .labels(&labels)
        .build();
    let mut stream = pin!(client.build_image(
        options,
        None,
        Some(bollard::body_full(bytes::Bytes::from(context)))
    ));
    let mut step = String::from("the start");
    let mut last_output = String::new();
    while let Some(item) = stream.next().await {
        match item {
            Ok(info) => {
                let text = strip_ansi(info.stream.as_deref().unwrap_or(""));
                for line in text.lines() {
                    let line = line.trim();
                    if line.starts_with("Step ") {
                        step = line.to_string();
                    } else if !line.is_empty()
                        && !line.starts_with("--->")
                        && !line.starts_with("Removing intermediate container")
                    {
                        last_output = line.to_string();
                    }
                }
            }
            Err(bollard::errors::Error::DockerStreamError { error }) => {
                return Err(build_error(spec, tag, &step, &last_output, &error));
            }
            Err(e) => {
                return Err(build_error(spec, tag, &step, &last_output, &e.to_string()));
            }
        }
    }
    match client.inspect_image(tag).await {
        Ok(_) => Ok(()),
        Err(_) => Err(build_error(
            spec,
            tag,
            &step,
            &last_output,
            "the build ended without an image",
        )),
    }
}

/// `text` without ANSI escape sequences (the builder colours a step's
/// stderr).
fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            if chars.next() == Some('[') {
                for d in chars.by_ref() {
                    if d.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn build_error(spec: &ImageSpec, tag: &str, step: &str, output: &str, error: &str) -> DockerError {
    let error = one_line(error);
    let output = one_line(output);
    // "The command '/bin/sh -c …' returned a non-zero code: N": the step
    // names the command already; say what it printed last and its status.
    let status = error
        .strip_prefix("The command '")
        .and_then(|rest| rest.rsplit_once("returned a non-zero code: "))
        .map(|(_, code)| code.trim().to_string());
    let mut message = match status {
        Some(code) if output.is_empty() => format!("the command exited with status {code}"),
        Some(code) => format!("{output} (exit status {code})"),
        None if output.is_empty() || error.contains(&output) => error,
        None => format!("{output}; {error}"),
    };
    if step.contains("FROM") {
        message.push_str(&format!(
            " (the base image {} is not on this machine and could not be pulled: pull it, \
             or pass --base-image IMAGE with one that is here)",
            spec.base
        ));
    }
    let mut step = one_line(step);
    if step.chars().count() > 100 {
        step = step.chars().take(99).collect::<String>() + "…";
    }
    DockerError::Build {
        tag: tag.to_string(),
        step,
        message,
    }
}

// ---------------------------------------------------------------------------
// Containers

/// The containers this process has running, so that Ctrl-C can remove them.
#[derive(Clone, Default)]
pub struct Containers {
    names: Arc<Mutex<BTreeSet<String>>>,
    used: Arc<AtomicBool>,
}

impl Containers {
    /// A fresh container name: `tflm-<pid>-<n>`.
    pub fn next_name(&self) -> String {
        static NEXT: AtomicUsize = AtomicUsize::new(1);
        format!(
            "tflm-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        )
    }

    fn add(&self, name: &str) {
        self.used.store(true, Ordering::SeqCst);
        if let Ok(mut n) = self.names.lock() {
            n.insert(name.to_string());
        }
    }

    fn remove(&self, name: &str) {
        if let Ok(mut n) = self.names.lock() {
            n.remove(name);
        }
    }

    /// The names registered now.
    pub fn names(&self) -> Vec<String> {
        self.names
            .lock()
            .map(|n| n.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Force-removes every container of this process (used on Ctrl-C):
    /// those registered, and any other `tflm-<pid>-*` (one being created
    /// while Ctrl-C came). Does nothing if no container was ever started.
    pub fn remove_all(&self) {
        if !self.used.load(Ordering::SeqCst) {
            return;
        }
        let Ok(docker) = Docker::connect() else {
            return;
        };
        let mut names: BTreeSet<String> = self.names().into_iter().collect();
        let prefix = format!("tflm-{}-", std::process::id());
        if let Ok(more) = docker.containers_named(&prefix) {
            names.extend(more);
        }
        for name in names {
            let _ = docker.remove_container(&name);
            self.remove(&name);
        }
    }
}

/// What to run in one container.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContainerSpec {
    pub name: String,
    pub image: String,
    /// The command (program and arguments), run as the entry point.
    pub argv: Vec<String>,
    /// Host file → path in the container, mounted read-only.
    pub mounts: Vec<(PathBuf, String)>,
    pub memory_bytes: i64,
    pub user: String,
}

/// The container's configuration: no network, read-only mounts, a non-root
/// user, a memory limit (no swap), no capabilities, few processes.
pub fn container_config(spec: &ContainerSpec) -> ContainerCreateBody {
    let mounts = spec
        .mounts
        .iter()
        .map(|(host, target)| Mount {
            target: Some(target.clone()),
            source: Some(host.display().to_string()),
            typ: Some(MountType::BIND),
            read_only: Some(true),
            ..Default::default()
        })
        .collect();
    let host_config = HostConfig {
        network_mode: Some("none".into()),
        mounts: Some(mounts),
        memory: Some(spec.memory_bytes),
        memory_swap: Some(spec.memory_bytes),
        pids_limit: Some(256),
        cap_drop: Some(vec!["ALL".into()]),
        security_opt: Some(vec!["no-new-privileges".into()]),
        auto_remove: Some(false),
        log_config: Some(HostConfigLogConfig {
            typ: Some("json-file".into()),
            config: Some(HashMap::from([(
                "max-size".to_string(),
                LOG_MAX_SIZE.to_string(),
            )])),
        }),
        ..Default::default()
    };
    ContainerCreateBody {
        image: Some(spec.image.clone()),
        entrypoint: Some(spec.argv.clone()),
        cmd: Some(Vec::new()),
        user: Some(spec.user.clone()),
        env: Some(vec!["HOME=/tmp".into()]),
        working_dir: Some("/tmp".into()),
        network_disabled: Some(true),
        attach_stdin: Some(false),
        attach_stdout: Some(true),
        attach_stderr: Some(true),
        open_stdin: Some(false),
        tty: Some(false),
        labels: Some(HashMap::from([
            (PID_LABEL.to_string(), std::process::id().to_string()),
            (
                "tflm.elf".to_string(),
                spec.argv.last().cloned().unwrap_or_default(),
            ),
        ])),
        host_config: Some(host_config),
        ..Default::default()
    }
}

/// How a container ended, as the scanner sees it: the emulator's exit
/// status, or a crash when the container itself died (out of memory, a
/// signal, a runtime error).
pub fn container_exit(state: &ContainerState, memory_bytes: i64) -> Exit {
    if state.oom_killed == Some(true) {
        return Exit::Crashed(format!(
            "the container ran out of memory ({} MiB) and was killed",
            memory_bytes >> 20
        ));
    }
    if let Some(error) = state.error.as_deref().filter(|e| !e.trim().is_empty()) {
        return Exit::Crashed(format!("the container failed: {}", one_line(error)));
    }
    match state.exit_code {
        // 128 + N: the emulator was killed by signal N.
        Some(code) if code > 128 && code < 160 => Exit::Crashed(format!(
            "the emulator in the container was killed by signal {} (status {code})",
            code - 128
        )),
        Some(code) => Exit::Code(code as i32),
        None => Exit::Crashed("the container ended without an exit status".into()),
    }
}

/// A piece of a container's output.
pub enum Chunk {
    Out(bytes::Bytes),
    Err(bytes::Bytes),
}

/// How following a container's output ended.
pub enum Followed {
    /// The scanner decided (a marker, a fault, the grace period) or the host
    /// timeout hit: the container must be killed.
    Verdict(Verdict),
    /// The output ended: the container stopped.
    Ended,
    /// The output stream broke (the daemon went away).
    Broken(String),
}

/// Feeds a container's output stream to `scanner` until a verdict, the end
/// of the output or the host timeout (counted from `start`).
pub async fn follow<S>(
    stream: S,
    scanner: &mut Scanner,
    start: Instant,
    limits: Limits,
    on_output: &mut dyn FnMut(&[u8]),
) -> Followed
where
    S: Stream<Item = Result<Chunk, String>>,
{
    let mut stream = pin!(stream);
    let deadline = tokio::time::Instant::from_std(start + limits.timeout);
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            item = stream.next() => match item {
                Some(Ok(chunk)) => {
                    let decision = match chunk {
                        Chunk::Out(b) => {
                            on_output(&b);
                            scanner.feed(&b, start.elapsed())
                        }
                        Chunk::Err(b) => {
                            on_output(&b);
                            scanner.feed_stderr(&b, start.elapsed())
                        }
                    };
                    if let Some(Decision::Stop(v)) = decision {
                        return Followed::Verdict(v);
                    }
                }
                Some(Err(e)) => return Followed::Broken(e),
                None => return Followed::Ended,
            },
            _ = tick.tick() => {
                if let Some(Decision::Stop(v)) = scanner.tick(start.elapsed()) {
                    return Followed::Verdict(v);
                }
            }
            _ = tokio::time::sleep_until(deadline) => {
                return Followed::Verdict(scanner.timed_out(start.elapsed()));
            }
        }
    }
}

async fn run_container(
    client: &bollard::Docker,
    spec: &ContainerSpec,
    limits: Limits,
    on_output: &mut dyn FnMut(&[u8]),
) -> Result<Attempt, DockerError> {
    let options = CreateContainerOptionsBuilder::new()
        .name(&spec.name)
        .build();
    client
        .create_container(Some(options), container_config(spec))
        .await
        .map_err(|e| {
            api(
                &format!("create container {} from {}", spec.name, spec.image),
                e,
            )
        })?;
    client
        .start_container(&spec.name, None)
        .await
        .map_err(|e| api(&format!("start container {}", spec.name), e))?;
    let start = Instant::now();
    let logs = client
        .logs(
            &spec.name,
            Some(
                LogsOptionsBuilder::new()
                    .follow(true)
                    .stdout(true)
                    .stderr(true)
                    .build(),
            ),
        )
        .map(|item| match item {
            Ok(bollard::container::LogOutput::StdErr { message }) => Ok(Chunk::Err(message)),
            Ok(other) => Ok(Chunk::Out(other.into_bytes())),
            Err(e) => Err(one_line(&e.to_string())),
        });
    let mut scanner = Scanner::new(ScanConfig {
        grace: limits.grace,
        ..ScanConfig::default()
    });
    let verdict = match follow(logs, &mut scanner, start, limits, on_output).await {
        Followed::Verdict(v) => v,
        Followed::Broken(e) => scanner.exited(
            Exit::Crashed(format!("lost the container's output: {e}")),
            start.elapsed(),
        ),
        Followed::Ended => {
            let exit = ended_state(client, &spec.name, limits, start)
                .await
                .map(|s| container_exit(&s, spec.memory_bytes))
                .unwrap_or_else(|e| Exit::Crashed(e.to_string()));
            scanner.exited(exit, start.elapsed())
        }
    };
    Ok(Attempt::from_scanner(&scanner, verdict, start.elapsed()))
}

/// The state of a container whose output ended, once it has stopped.
async fn ended_state(
    client: &bollard::Docker,
    name: &str,
    limits: Limits,
    start: Instant,
) -> Result<ContainerState, DockerError> {
    let give_up = Instant::now() + Duration::from_secs(10);
    loop {
        let info = client
            .inspect_container(name, None::<InspectContainerOptions>)
            .await
            .map_err(|e| api(&format!("inspect container {name}"), e))?;
        let state = info.state.unwrap_or_default();
        if state.running != Some(true) {
            return Ok(state);
        }
        if Instant::now() > give_up || start.elapsed() > limits.timeout {
            return Err(DockerError::Api(format!(
                "container {name} closed its output but kept running"
            )));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

// ---------------------------------------------------------------------------
// The runner

/// How test binaries run in Docker in a session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    /// The image to run (`tflm/qemu:…` or `tflm/renode:…`).
    pub image: String,
    /// The image it was built from (decides Renode's semihosting set-up).
    pub base: String,
    pub memory_bytes: i64,
    pub user: String,
}

/// Connects to Docker and makes sure the image for `runner` is here
/// (building it from `docker/<name>/` if not); `on_build` is told the tag
/// before a build starts.
pub fn prepare(
    runner: RunnerKind,
    base_image: Option<&str>,
    on_build: impl FnOnce(&str),
) -> Result<Settings, DockerError> {
    let name = image_name(runner)?;
    let docker = Docker::connect()?;
    let spec = ImageSpec::from_dir(&dockerfiles_dir()?.join(name), base_image)?;
    let image = docker.ensure_image(&spec, on_build)?;
    Ok(Settings {
        image,
        base: spec.base,
        memory_bytes: match runner {
            RunnerKind::Renode => RENODE_MEMORY,
            _ => QEMU_MEMORY,
        },
        user: USER.to_string(),
    })
}

/// Whether `runner` could run `target`'s binaries in Docker here: the
/// target has its settings and a daemon answers. (The image may still have
/// to be built.)
pub fn check(target: &Target, runner: RunnerKind) -> Result<(), DockerError> {
    match runner {
        RunnerKind::Qemu if target.qemu.is_none() => Err(DockerError::NoSettings {
            target: target.name.clone(),
            runner,
        }),
        RunnerKind::Renode if target.renode.is_none() => Err(DockerError::NoSettings {
            target: target.name.clone(),
            runner,
        }),
        RunnerKind::Qemu | RunnerKind::Renode => Docker::connect().map(|_| ()),
        other => Err(DockerError::NotInDocker { runner: other }),
    }
}

/// Whether `runner`'s image is ready without a registry: Docker answers
/// and the image is built already, or (with the Dockerfile's own base) that
/// base image is here to build it from. (With `--base-image`, only a built
/// image counts: any base would otherwise look ready.)
pub fn image_ready(runner: RunnerKind, base_image: Option<&str>) -> bool {
    let ready = || -> Result<bool, DockerError> {
        let docker = Docker::connect()?;
        let spec = ImageSpec::from_dir(&dockerfiles_dir()?.join(image_name(runner)?), base_image)?;
        let spec = docker.with_base_id(&spec)?;
        Ok(docker.image_exists(&spec.tag())?
            || (base_image.is_none()
                && !spec.base.is_empty()
                && docker.image_exists(&spec.base)?))
    };
    ready().unwrap_or(false)
}

/// A name usable as a file name in the container.
fn container_file_name(path: &Path) -> String {
    let name: String = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    if name.is_empty() || name.starts_with('.') {
        format!("fw{name}")
    } else {
        name
    }
}

/// The container that runs `elf` with `runner`, and the host files it
/// needs that must be deleted afterwards.
pub fn container_for(
    settings: &Settings,
    target: &Target,
    runner: RunnerKind,
    elf: &Path,
    name: &str,
) -> Result<(ContainerSpec, Vec<PathBuf>), DockerError> {
    let elf = std::fs::canonicalize(elf).map_err(|error| DockerError::Io {
        context: format!("cannot read {}", elf.display()),
        error,
    })?;
    let in_container = format!("{FW_DIR}/{}", container_file_name(&elf));
    let mut mounts = vec![(elf.clone(), in_container.clone())];
    let mut temporary = Vec::new();
    let argv = match runner {
        RunnerKind::Qemu => {
            let q = target
                .qemu
                .as_ref()
                .ok_or_else(|| DockerError::NoSettings {
                    target: target.name.clone(),
                    runner,
                })?;
            let mut argv = vec![q.system.clone()];
            argv.extend(qemu_args(target, Path::new(&in_container)).unwrap_or_default());
            argv
        }
        RunnerKind::Renode => {
            let semihosting = renode::Semihosting::for_image(&settings.base);
            let script = renode::script(target, &in_container, semihosting).ok_or_else(|| {
                DockerError::NoSettings {
                    target: target.name.clone(),
                    runner,
                }
            })?;
            let host_script = std::env::temp_dir().join(format!("{name}.resc"));
            std::fs::write(&host_script, script).map_err(|error| DockerError::Io {
                context: format!("cannot write {}", host_script.display()),
                error,
            })?;
            temporary.push(host_script.clone());
            mounts.push((host_script, renode::SCRIPT.to_string()));
            renode::command(renode::SCRIPT)
        }
        other => return Err(DockerError::NotInDocker { runner: other }),
    };
    Ok((
        ContainerSpec {
            name: name.to_string(),
            image: settings.image.clone(),
            argv,
            mounts,
            memory_bytes: settings.memory_bytes,
            user: settings.user.clone(),
        },
        temporary,
    ))
}

/// Runs `elf` with `runner` in a container of `settings.image`, feeding its
/// output to a scanner until a verdict; the container is killed on a
/// verdict or the host timeout, and always removed. Registered in
/// `children` while it exists, for Ctrl-C.
pub fn run_binary(
    settings: &Settings,
    target: &Target,
    runner: RunnerKind,
    elf: &Path,
    limits: Limits,
    children: &Children,
    mut on_output: impl FnMut(&[u8]),
) -> Result<Attempt, DockerError> {
    let containers = children.containers();
    let name = containers.next_name();
    let (spec, temporary) = container_for(settings, target, runner, elf, &name)?;
    let result =
        Docker::connect().and_then(|docker| docker.run(&spec, limits, containers, &mut on_output));
    for file in temporary {
        let _ = std::fs::remove_file(file);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scan::Outcome;
    use tflm_targets::Targets;

    fn spec(files: &[(&str, &str)], base: &str) -> ImageSpec {
        ImageSpec {
            name: "qemu".into(),
            files: files
                .iter()
                .map(|(p, c)| (p.to_string(), c.as_bytes().to_vec()))
                .collect(),
            base: base.into(),
            base_id: None,
        }
    }

    #[test]
    fn image_tags_are_stable_and_change_with_content_and_base() {
        let a = spec(&[("Dockerfile", "FROM x\n")], "debian:bookworm-slim");
        let tag = a.tag();
        assert_eq!(tag, a.clone().tag());
        let (repo, hash) = tag.split_once(':').unwrap();
        assert_eq!(repo, "tflm/qemu");
        assert_eq!(hash.len(), 12);
        assert!(hash
            .chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        // Pinned (checked with Python's hashlib): the tag must not drift.
        assert_eq!(tag, "tflm/qemu:5b0273511b36", "update only with intent");
        assert_ne!(
            spec(&[("Dockerfile", "FROM y\n")], "debian:bookworm-slim").tag(),
            tag
        );
        assert_ne!(
            spec(&[("Dockerfile", "FROM x\n")], "tflm/debian-base:bookworm").tag(),
            tag
        );
        assert_ne!(
            spec(
                &[("Dockerfile", "FROM x\n"), ("entry.sh", "")],
                "debian:bookworm-slim"
            )
            .tag(),
            tag
        );
        // So does the base's id (a base rebuilt under the same name).
        let mut with_id = a.clone();
        with_id.base_id = Some("sha256:5c8a9132603e".into());
        assert_ne!(with_id.tag(), tag);
        assert_eq!(with_id.tag(), with_id.clone().tag());
        // Moving bytes between a name and its contents changes the hash.
        assert_ne!(
            spec(&[("ab", "c")], "").tag(),
            spec(&[("a", "bc")], "").tag()
        );
    }

    #[test]
    fn the_checkouts_dockerfiles_make_images() {
        let dir = dockerfiles_dir().unwrap();
        for name in ["qemu", "renode"] {
            let s = ImageSpec::from_dir(&dir.join(name), None).unwrap();
            assert!(s.files.iter().any(|(p, _)| p == "Dockerfile"));
            assert!(s.tag().starts_with(&format!("tflm/{name}:")));
            let over = ImageSpec::from_dir(&dir.join(name), Some("tflm/debian-base:bookworm"));
            assert_ne!(over.unwrap().tag(), s.tag());
            // The same base given explicitly is the same image.
            let same = ImageSpec::from_dir(&dir.join(name), Some(&s.base)).unwrap();
            assert_eq!(same.tag(), s.tag());
        }
        let q = ImageSpec::from_dir(&dir.join("qemu"), None).unwrap();
        assert_eq!(q.base, "debian:bookworm-slim");
        let r = ImageSpec::from_dir(&dir.join("renode"), None).unwrap();
        assert!(r.base.starts_with("antmicro/renode:"), "{}", r.base);
        let e = ImageSpec::from_dir(Path::new("/nonexistent"), None).unwrap_err();
        assert!(e.to_string().contains("Dockerfile not found"), "{e}");
    }

    #[test]
    fn the_build_context_is_a_reproducible_tar() {
        let s = spec(&[("Dockerfile", "FROM x\n"), ("sub/a.txt", "hello")], "b");
        let tar1 = s.context_tar().unwrap();
        assert_eq!(tar1, s.context_tar().unwrap());
        let mut archive = tar::Archive::new(tar1.as_slice());
        let names: Vec<String> = archive
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().display().to_string())
            .collect();
        assert_eq!(names, ["Dockerfile", "sub/a.txt"]);
    }

    #[test]
    fn build_errors_name_the_step_and_what_it_printed() {
        let s = spec(&[("Dockerfile", "")], "tflm/debian-base:bookworm");
        let printed = strip_ansi("\u{1b}[91mno renode here\n\u{1b}[0m");
        assert_eq!(printed, "no renode here\n");
        let e = build_error(
            &s,
            "tflm/renode:0123456789ab",
            "Step 3/7 : RUN command -v renode >/dev/null",
            printed.trim(),
            "The command '/bin/sh -c command -v renode >/dev/null' returned a non-zero code: 1",
        );
        assert_eq!(
            e.to_string(),
            "building Docker image tflm/renode:0123456789ab failed at Step 3/7 : RUN command -v \
             renode >/dev/null: no renode here (exit status 1)"
        );
        let e = build_error(&s, "t", "Step 2/7 : FROM ${BASE}", "", "pull access denied");
        assert!(
            e.to_string().ends_with(
                "failed at Step 2/7 : FROM ${BASE}: pull access denied (the base image \
                 tflm/debian-base:bookworm is not on this machine and could not be pulled: \
                 pull it, or pass --base-image IMAGE with one that is here)"
            ),
            "{e}"
        );
    }

    #[test]
    fn the_default_base_comes_from_arg_base() {
        assert_eq!(
            default_base("# x\nARG BASE=debian:bookworm-slim\nFROM ${BASE}\n").as_deref(),
            Some("debian:bookworm-slim")
        );
        assert_eq!(default_base("FROM debian\n"), None);
    }

    fn bluepill() -> Target {
        Targets::builtin().get("bluepill").unwrap().clone()
    }

    fn settings() -> Settings {
        Settings {
            image: "tflm/qemu:0123456789ab".into(),
            base: "debian:bookworm-slim".into(),
            memory_bytes: QEMU_MEMORY,
            user: USER.into(),
        }
    }

    #[test]
    fn containers_have_no_network_a_read_only_elf_a_user_and_a_memory_limit() {
        let elf = std::env::temp_dir().join(format!("tflm docker test {}", std::process::id()));
        std::fs::write(&elf, b"\x7fELF").unwrap();
        let (spec, temporary) =
            container_for(&settings(), &bluepill(), RunnerKind::Qemu, &elf, "tflm-1-2").unwrap();
        assert!(temporary.is_empty());
        let file = format!("/fw/tflm_docker_test_{}", std::process::id());
        assert_eq!(spec.argv[0], "qemu-system-arm");
        assert_eq!(spec.argv[1..3], ["-machine", "netduino2"]);
        assert_eq!(spec.argv.last().unwrap(), &file);
        let c = container_config(&spec);
        assert_eq!(c.image.as_deref(), Some("tflm/qemu:0123456789ab"));
        assert_eq!(c.entrypoint.as_ref(), Some(&spec.argv));
        assert_eq!(c.user.as_deref(), Some("65534:65534"));
        assert_eq!(c.network_disabled, Some(true));
        assert_eq!(c.tty, Some(false));
        let h = c.host_config.unwrap();
        assert_eq!(h.network_mode.as_deref(), Some("none"));
        assert_eq!(h.memory, Some(512 << 20));
        assert_eq!(h.memory_swap, Some(512 << 20));
        assert_eq!(h.auto_remove, Some(false));
        assert_eq!(h.cap_drop, Some(vec!["ALL".to_string()]));
        let mounts = h.mounts.unwrap();
        assert_eq!(mounts.len(), 1);
        assert_eq!(mounts[0].typ, Some(MountType::BIND));
        assert_eq!(mounts[0].read_only, Some(true));
        assert_eq!(mounts[0].target.as_deref(), Some(file.as_str()));
        let source = PathBuf::from(mounts[0].source.as_deref().unwrap());
        assert!(source.is_absolute());
        assert_eq!(source, std::fs::canonicalize(&elf).unwrap());
        let labels = c.labels.unwrap();
        assert_eq!(labels[PID_LABEL], std::process::id().to_string());
        std::fs::remove_file(elf).unwrap();
    }

    #[test]
    fn renode_containers_mount_the_script_too() {
        let elf = std::env::temp_dir().join(format!("tflm-renode-elf-{}", std::process::id()));
        std::fs::write(&elf, b"\x7fELF").unwrap();
        let s = Settings {
            image: "tflm/renode:0123456789ab".into(),
            base: "antmicro/renode:1.16.1".into(),
            memory_bytes: RENODE_MEMORY,
            user: USER.into(),
        };
        let name = format!("tflm-{}-test", std::process::id());
        let (spec, temporary) =
            container_for(&s, &bluepill(), RunnerKind::Renode, &elf, &name).unwrap();
        assert_eq!(spec.argv, renode::command(renode::SCRIPT));
        assert_eq!(spec.mounts.len(), 2);
        assert_eq!(spec.mounts[1].1, "/fw/test.resc");
        assert_eq!(temporary, [spec.mounts[1].0.clone()]);
        let script = std::fs::read_to_string(&temporary[0]).unwrap();
        assert!(script.contains(&format!(
            "sysbus LoadELF @/fw/tflm-renode-elf-{}",
            std::process::id()
        )));
        assert_eq!(
            container_config(&spec).host_config.unwrap().memory,
            Some(1 << 30)
        );
        for f in temporary {
            std::fs::remove_file(f).unwrap();
        }
        std::fs::remove_file(elf).unwrap();
        let e = container_for(&s, &bluepill(), RunnerKind::Native, Path::new("/"), "x");
        assert!(e.is_err());
    }

    #[test]
    fn a_dead_container_crashes_and_a_status_is_the_emulators() {
        let state = |code: i64, oom: bool| ContainerState {
            exit_code: Some(code),
            oom_killed: Some(oom),
            ..Default::default()
        };
        assert_eq!(container_exit(&state(0, false), QEMU_MEMORY), Exit::Code(0));
        assert_eq!(container_exit(&state(3, false), QEMU_MEMORY), Exit::Code(3));
        let Exit::Crashed(why) = container_exit(&state(137, true), QEMU_MEMORY) else {
            panic!("an OOM kill is a crash");
        };
        assert!(why.contains("out of memory (512 MiB)"), "{why}");
        let Exit::Crashed(why) = container_exit(&state(139, false), QEMU_MEMORY) else {
            panic!("a signal is a crash");
        };
        assert!(why.contains("signal 11"), "{why}");
        let failed = ContainerState {
            exit_code: Some(127),
            error: Some("exec: \"qemu-system-arm\": not found".into()),
            ..Default::default()
        };
        assert!(matches!(container_exit(&failed, 1), Exit::Crashed(_)));
        // Through the scanner: a crash without a marker is Crashed.
        let mut sc = Scanner::new(ScanConfig::default());
        let v = sc.exited(
            container_exit(&state(137, true), QEMU_MEMORY),
            Duration::ZERO,
        );
        assert_eq!(v.outcome, Outcome::Crashed);
    }

    #[test]
    fn no_daemon_is_one_clear_line() {
        // A unix socket nobody listens on, and a path with no socket at all.
        let dir = std::env::temp_dir().join(format!("tflm-dead-docker-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let sock = dir.join("docker.sock");
        let _ = std::fs::remove_file(&sock);
        drop(std::os::unix::net::UnixListener::bind(&sock).unwrap());
        for host in [
            format!("unix://{}", sock.display()),
            "unix:///nonexistent/docker.sock".to_string(),
        ] {
            let e = Docker::connect_to(&host).err().expect("no daemon there");
            assert_eq!(
                e.to_string(),
                format!("no Docker daemon at {host} (set DOCKER_HOST or start dockerd)")
            );
        }
        std::fs::remove_dir_all(dir).unwrap();
        assert_eq!(
            DockerError::NoDaemon {
                host: DEFAULT_HOST.into()
            }
            .to_string(),
            "no Docker daemon at unix:///var/run/docker.sock (set DOCKER_HOST or start dockerd)"
        );
    }

    fn chunks(parts: &[&str]) -> Vec<Result<Chunk, String>> {
        parts
            .iter()
            .map(|p| Ok(Chunk::Out(bytes::Bytes::from(p.to_string()))))
            .collect()
    }

    fn follow_now(
        items: Vec<Result<Chunk, String>>,
        then_wait: bool,
        limits: Limits,
    ) -> (Followed, Scanner) {
        let rt = runtime().unwrap();
        let mut scanner = Scanner::new(ScanConfig {
            grace: limits.grace,
            ..ScanConfig::default()
        });
        let stream = futures_util::stream::iter(items);
        let followed = rt.block_on(async {
            let start = Instant::now();
            if then_wait {
                let s = stream.chain(futures_util::stream::pending());
                follow(s, &mut scanner, start, limits, &mut |_| {}).await
            } else {
                follow(stream, &mut scanner, start, limits, &mut |_| {}).await
            }
        });
        (followed, scanner)
    }

    fn limits(timeout_ms: u64, grace_ms: u64) -> Limits {
        Limits {
            timeout: Duration::from_millis(timeout_ms),
            grace: Duration::from_millis(grace_ms),
        }
    }

    #[test]
    fn following_stops_at_the_fail_marker_and_at_the_timeout() {
        let (f, _) = follow_now(
            chunks(&["Testing A\nA:1: boom\n~~~SOME TES", "TS FAILED~~~\n"]),
            true,
            limits(20_000, 200),
        );
        let Followed::Verdict(v) = f else {
            panic!("the fail marker decides at once")
        };
        assert_eq!(v.outcome, Outcome::Failed);
        let t0 = Instant::now();
        let (f, _) = follow_now(Vec::new(), true, limits(300, 200));
        let Followed::Verdict(v) = f else {
            panic!("silence times out")
        };
        assert_eq!(v.outcome, Outcome::TimedOut);
        assert!(t0.elapsed() < Duration::from_secs(5));
        let (f, _) = follow_now(chunks(&["Testing A\n"]), false, limits(20_000, 200));
        assert!(matches!(f, Followed::Ended));
        let (f, _) = follow_now(vec![Err("gone".into())], true, limits(20_000, 200));
        assert!(matches!(f, Followed::Broken(e) if e == "gone"));
    }
}
