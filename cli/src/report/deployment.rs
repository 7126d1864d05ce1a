//! The images of the workloads in the YAML files given to `roxctl deployment check -f`.
//!
//! roxctl never names the image that failed a deployment check, so each image of each workload
//! is reported, with the workload's namespace and name. Bounded: files past
//! [`MAX_FILE_BYTES`], and images past [`MAX_IMAGES`] in all, are not read.

use std::path::{Path, PathBuf};

use serde_yaml_ng::Value;
use thiserror::Error;

use super::yaml_loose;
use super::yaml_size::{self, Size};

/// The largest YAML file read.
pub const MAX_FILE_BYTES: u64 = 1024 * 1024;
/// The most images reported for one deployment check (one event each).
pub const MAX_IMAGES: usize = 100;
/// What a file's YAML may come to with its aliases followed: no file within
/// [`MAX_FILE_BYTES`] comes near it without aliases (a node takes at least 2 bytes), and a
/// `Value` of it takes at most about 100 MB.
pub const MAX_EXPANDED: Size = Size { nodes: MAX_FILE_BYTES, text_bytes: 2 * MAX_FILE_BYTES };

/// One container image of one workload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeployedImage {
    pub image: String,
    pub namespace: String,
    pub name: String,
}

#[derive(Debug, Error)]
pub enum DeploymentError {
    #[error("cannot read {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is larger than {MAX_FILE_BYTES} bytes")]
    TooLarge { path: PathBuf },
    #[error("{path} is not a regular file (a pipe, a terminal): roxctl has read it, and it cannot be read again; give the deployment files by their paths")]
    NotAFile { path: PathBuf },
    #[error("{path} is not YAML")]
    Yaml {
        path: PathBuf,
        #[source]
        source: serde_yaml_ng::Error,
    },
    #[error("{path} comes to more than {} nodes or {} bytes of text once its YAML aliases are followed", MAX_EXPANDED.nodes, MAX_EXPANDED.text_bytes)]
    Expands { path: PathBuf },
    #[error("no workload image (Deployment, StatefulSet, DaemonSet, ReplicaSet, Job, CronJob, Pod) in {}", files.iter().map(|f| f.display().to_string()).collect::<Vec<_>>().join(", "))]
    NoImages { files: Vec<PathBuf> },
}

/// The images of the workloads of a run's deployment files.
#[derive(Debug, Default)]
pub struct Found {
    /// In file and document order, without repeats, at most [`MAX_IMAGES`].
    pub images: Vec<DeployedImage>,
    /// Whether images past [`MAX_IMAGES`] were left out.
    pub cut: bool,
    /// Pipes roxctl drained ([`DeploymentError::NotAFile`]), whose images are not reported while
    /// the other files' are.
    pub unread: Vec<PathBuf>,
}

/// The images of every workload in `files`. A file that cannot be read, is not YAML or is past a
/// bound fails them all (roxctl's failure may be that file's); a pipe roxctl drained is named in
/// [`Found::unread`] and the other files' images are found, unless it was the only source of
/// images (then its error).
pub fn images_of_files(files: &[PathBuf], default_namespace: &str) -> Result<Found, DeploymentError> {
    let mut out = Found::default();
    for path in files {
        // Every file is read and checked, as roxctl read it, even once the images are enough.
        let text = match read(path) {
            Ok(text) => text,
            // A pipe (`-f <(…)`, stdin) roxctl read; a directory or a device, which roxctl's
            // failure may be about, fails them all as a file that is not YAML does.
            Err(DeploymentError::NotAFile { path }) if is_pipe(&path) => {
                out.unread.push(path);
                continue;
            }
            Err(e) => return Err(e),
        };
        let found = images(&text, default_namespace).map_err(|e| match e {
            Unread::Yaml(source) => DeploymentError::Yaml { path: path.clone(), source },
            Unread::Expands => DeploymentError::Expands { path: path.clone() },
        })?;
        for image in found {
            // One past the bound says that images were left out; the rest need not be compared.
            if out.cut {
                break;
            }
            if !out.images.contains(&image) {
                out.images.push(image);
            }
            if out.images.len() > MAX_IMAGES {
                out.images.truncate(MAX_IMAGES);
                out.cut = true;
            }
        }
    }
    if let (true, Some(path)) = (out.images.is_empty(), out.unread.first()) {
        return Err(DeploymentError::NotAFile { path: path.clone() });
    }
    Ok(out)
}

fn is_pipe(path: &Path) -> bool {
    use std::os::unix::fs::FileTypeExt as _;
    std::fs::metadata(path).is_ok_and(|m| m.file_type().is_fifo())
}

/// Why [`images`] read no image.
#[derive(Debug, Error)]
pub enum Unread {
    #[error("not YAML")]
    Yaml(#[source] serde_yaml_ng::Error),
    #[error("past the bound once its aliases are followed")]
    Expands,
}

/// The text of `path`, read after roxctl has run. Only a regular file can be read again: a pipe
/// (`-f <(…)`, `-f /dev/stdin` from a pipe) is empty by then, which read as "no workload image",
/// and a terminal would wait for input. At most [`MAX_FILE_BYTES`], even of a file that grows.
fn read(path: &Path) -> Result<String, DeploymentError> {
    use std::io::Read as _;
    let failed = |source| DeploymentError::Read { path: path.to_owned(), source };
    let meta = std::fs::metadata(path).map_err(failed)?;
    if !meta.is_file() {
        return Err(DeploymentError::NotAFile { path: path.to_owned() });
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(DeploymentError::TooLarge { path: path.to_owned() });
    }
    let mut text = String::new();
    std::fs::File::open(path).map_err(failed)?.take(MAX_FILE_BYTES + 1).read_to_string(&mut text).map_err(failed)?;
    if text.len() as u64 > MAX_FILE_BYTES {
        return Err(DeploymentError::TooLarge { path: path.to_owned() });
    }
    Ok(text)
}

/// The images of every workload in the YAML stream `yaml` (several documents, `kind: List`),
/// which is read only if it fits [`MAX_EXPANDED`].
pub fn images(yaml: &str, default_namespace: &str) -> Result<Vec<DeployedImage>, Unread> {
    if !yaml_size::fits(yaml, MAX_EXPANDED).map_err(Unread::Yaml)? {
        return Err(Unread::Expands);
    }
    let mut found = Vec::new();
    for document in serde_yaml_ng::Deserializer::from_str(yaml) {
        let value = yaml_loose::document(document).map_err(Unread::Yaml)?;
        collect(&value, default_namespace, &mut found);
    }
    Ok(found)
}

fn collect(object: &Value, default_namespace: &str, found: &mut Vec<DeployedImage>) {
    let kind = object.get("kind").and_then(Value::as_str).unwrap_or_default();
    if kind == "List" {
        for item in object.get("items").and_then(Value::as_sequence).into_iter().flatten() {
            collect(item, default_namespace, found);
        }
        return;
    }
    let Some(pod) = pod_spec(object, kind) else { return };
    let metadata = object.get("metadata");
    let text = |key: &str| metadata.and_then(|m| m.get(key)).and_then(Value::as_str).map(str::to_owned);
    let Some(name) = text("name") else { return };
    let namespace = text("namespace").unwrap_or_else(|| default_namespace.to_owned());
    for list in ["initContainers", "containers"] {
        for container in pod.get(list).and_then(Value::as_sequence).into_iter().flatten() {
            if let Some(image) = container.get("image").and_then(Value::as_str).filter(|i| !i.trim().is_empty()) {
                found.push(DeployedImage {
                    image: image.trim().to_owned(),
                    namespace: namespace.clone(),
                    name: name.clone(),
                });
            }
        }
    }
}

/// Where a workload of `kind` keeps its pod spec.
fn pod_spec<'a>(object: &'a Value, kind: &str) -> Option<&'a Value> {
    let spec = object.get("spec")?;
    match kind {
        "Pod" => Some(spec),
        "CronJob" => spec.get("jobTemplate")?.get("spec")?.get("template")?.get("spec"),
        "Deployment"
        | "StatefulSet"
        | "DaemonSet"
        | "ReplicaSet"
        | "ReplicationController"
        | "Job"
        | "DeploymentConfig" => spec.get("template")?.get("spec"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(image: &str, namespace: &str, name: &str) -> DeployedImage {
        DeployedImage { image: image.to_owned(), namespace: namespace.to_owned(), name: name.to_owned() }
    }

    #[test]
    fn every_container_and_init_container_of_every_workload_is_an_image() {
        let yaml = r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  template:
    spec:
      initContainers: [{name: migrate, image: quay.io/acme/migrate:3}]
      containers:
        - {name: web, image: "quay.io/acme/web:1.4"}
        - {name: sidecar, image: envoyproxy/envoy:v1.30}
---
kind: CronJob
metadata: {name: report}
spec: {jobTemplate: {spec: {template: {spec: {containers: [{name: r, image: busybox}]}}}}}
---
kind: Service
metadata: {name: web}
spec: {ports: [{port: 80}]}
---
kind: List
items:
  - {kind: Pod, metadata: {name: debug, namespace: ops}, spec: {containers: [{name: d, image: alpine:3}]}}
"#;
        assert_eq!(
            images(yaml, "default").map_err(|e| e.to_string()),
            Ok(vec![
                image("quay.io/acme/migrate:3", "shop", "web"),
                image("quay.io/acme/web:1.4", "shop", "web"),
                image("envoyproxy/envoy:v1.30", "shop", "web"),
                image("busybox", "default", "report"),
                image("alpine:3", "ops", "debug"),
            ])
        );
    }

    /// Read as Kubernetes and roxctl read a manifest: a repeated key takes its last value, and
    /// merge keys are applied. Before, either made the file "not YAML" (a repeated key), or
    /// left the merged containers unseen, and no image of the run was reported.
    #[test]
    fn a_repeated_key_takes_its_last_value_and_merge_keys_are_applied() {
        let yaml = r#"
kind: Pod
metadata: {name: p, labels: {app: web, app: shop}}
spec: {containers: [{name: a, image: nginx:1}, {name: b, image: old, image: "redis:7"}]}
---
kind: Pod
metadata: {name: q}
template: &base {containers: [{name: c, image: "alpine:3"}]}
spec:
  <<: *base
"#;
        assert_eq!(
            images(yaml, "default").map_err(|e| e.to_string()),
            Ok(vec![
                image("nginx:1", "default", "p"),
                image("redis:7", "default", "p"),
                image("alpine:3", "default", "q")
            ])
        );
    }

    #[test]
    fn a_file_that_is_not_yaml_is_an_error_naming_it() {
        let dir = std::env::temp_dir().join(format!("scanfail-deployment-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("bad.yaml");
        std::fs::write(&path, "kind: [unclosed").unwrap();
        let err = images_of_files(std::slice::from_ref(&path), "default").unwrap_err();
        assert_eq!(err.to_string(), format!("{} is not YAML", path.display()));
        let missing = dir.join("missing.yaml");
        let err = images_of_files(std::slice::from_ref(&missing), "default").unwrap_err();
        assert_eq!(err.to_string(), format!("cannot read {}", missing.display()));
    }

    /// `-f <(kubectl get … -o yaml)` or `-f /dev/stdin`: roxctl drained the pipe, and reading it
    /// again found it empty, "no workload image", reporting nothing. A FIFO stands in for it (a
    /// read of one with no writer would wait for ever: the answer comes before any read).
    #[test]
    fn a_pipe_is_refused_by_name_rather_than_read_as_empty() {
        let dir = std::env::temp_dir().join(format!("scanfail-deployment-fifo-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let fifo = dir.join("workloads.yaml");
        let _ = std::fs::remove_file(&fifo);
        assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
        let err = images_of_files(std::slice::from_ref(&fifo), "default").unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "{} is not a regular file (a pipe, a terminal): roxctl has read it, and it cannot be read again; give the deployment files by their paths",
                fifo.display()
            )
        );
        // Beside a file that can be read again, that file's images are found and the pipe is
        // named as not read (before, the run reported nothing).
        let file = dir.join("app.yaml");
        std::fs::write(&file, "kind: Pod\nmetadata: {name: web}\nspec: {containers: [{image: nginx:1}]}\n").unwrap();
        let found = images_of_files(&[file.clone(), fifo.clone()], "default").unwrap();
        assert_eq!(found.images, [image("nginx:1", "default", "web")]);
        assert_eq!(found.unread, std::slice::from_ref(&fifo));
        // A directory beside it is no pipe: roxctl's failure may be about it, as about a file
        // that is not YAML, and nothing is reported.
        let err = images_of_files(&[file, dir.clone()], "default").unwrap_err();
        assert!(matches!(&err, DeploymentError::NotAFile { path } if path == &dir), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A file of about 60 KB whose aliases stand for 10⁸ nodes (about 10 GB as a `Value`): refused
    /// by name, having walked no more than the bound.
    #[test]
    fn a_file_whose_aliases_repeat_past_the_bound_is_refused_by_name() {
        let yaml = format!("a: &a [{}]\nb: [{}]\n", vec!["x"; 10_000].join(","), vec!["*a"; 10_000].join(","));
        let dir = std::env::temp_dir().join(format!("scanfail-aliases-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("bomb.yaml");
        std::fs::write(&path, yaml).unwrap();
        let err = images_of_files(std::slice::from_ref(&path), "default").unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "{} comes to more than 1048576 nodes or 2097152 bytes of text once its YAML aliases are followed",
                path.display()
            )
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn repeated_images_count_once_and_the_total_is_bounded() {
        let mut yaml = String::new();
        for n in 0..(MAX_IMAGES + 5) {
            yaml.push_str(&format!(
                "---\nkind: Pod\nmetadata: {{name: p{n}}}\nspec: {{containers: [{{image: a}}, {{image: a}}]}}\n"
            ));
        }
        let dir = std::env::temp_dir().join(format!("scanfail-bound-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("many.yaml");
        std::fs::write(&path, yaml).unwrap();
        let found = images_of_files(std::slice::from_ref(&path), "default").unwrap();
        assert_eq!((found.images.len(), found.cut), (MAX_IMAGES, true));
        assert_eq!(found.images[1], image("a", "default", "p1"));
        // A file after the bound is still read: one that is not YAML fails the run.
        let bad = dir.join("bad-after.yaml");
        std::fs::write(&bad, "kind: [unclosed").unwrap();
        let err = images_of_files(&[path, bad.clone()], "default").unwrap_err();
        assert_eq!(err.to_string(), format!("{} is not YAML", bad.display()));
    }
}
