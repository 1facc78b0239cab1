//! Normalization shared by the harvester and the graph service, so both sides compute the same keys.

/// Normalizes a repository URL into a stable key: no scheme, no credentials, lower-case host, no `.git` suffix,
/// no trailing slash. `git@host:org/repo.git` (scp-like) becomes `host/org/repo`.
///
/// ```
/// use tekton_graph_schema::normalize::repository_key;
/// assert_eq!(repository_key("https://GitHub.com/Org/Repo.git/"), "github.com/Org/Repo");
/// assert_eq!(repository_key("git@github.com:org/repo.git"), "github.com/org/repo");
/// ```
pub fn repository_key(url: &str) -> String {
    let trimmed = url.trim();
    let without_scheme = match trimmed.find("://") {
        Some(i) => &trimmed[i + 3..],
        None => trimmed,
    };
    // Drop credentials (`user:token@host`); for scp-like `git@host:path` turn the first ':' into '/'.
    let (without_user, scp_like) = match without_scheme.split_once('@') {
        Some((user, rest)) if !user.contains('/') => (rest, !trimmed.contains("://")),
        _ => (without_scheme, false),
    };
    let (host, path) = if scp_like {
        without_user.split_once(':').unwrap_or((without_user, ""))
    } else {
        without_user.split_once('/').unwrap_or((without_user, ""))
    };
    let host = host.to_ascii_lowercase();
    let host = host.strip_suffix(":443").or_else(|| host.strip_suffix(":80")).unwrap_or(&host);
    let path = path.trim_end_matches('/');
    let path = path.strip_suffix(".git").unwrap_or(path).trim_end_matches('/');
    if path.is_empty() { host.to_string() } else { format!("{host}/{path}") }
}

/// True for `sha256:<64 lower-case hex>` (and other `alg:hex` digests of at least 32 hex characters).
pub fn is_digest(s: &str) -> bool {
    match s.split_once(':') {
        Some((alg, hex)) => {
            !alg.is_empty()
                && alg.chars().all(|c| c.is_ascii_alphanumeric())
                && hex.len() >= 32
                && hex.chars().all(|c| c.is_ascii_hexdigit())
        }
        None => false,
    }
}

/// Normalizes a digest: trims, lower-cases, and prefixes a bare 64-hex string with `sha256:`.
pub fn normalize_digest(s: &str) -> Option<String> {
    let s = s.trim().to_ascii_lowercase();
    if is_digest(&s) {
        return Some(s);
    }
    if s.len() == 64 && s.chars().all(|c| c.is_ascii_hexdigit()) {
        return Some(format!("sha256:{s}"));
    }
    None
}

/// An image reference split into repository, tag and digest.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ImageRef {
    pub repository: String,
    pub tag: Option<String>,
    pub digest: Option<String>,
}

/// Parses `repo[:tag][@alg:hex]`, also accepting `docker-pullable://` prefixes as the kubelet writes them.
///
/// ```
/// use tekton_graph_schema::normalize::parse_image_ref;
/// let r = parse_image_ref("docker-pullable://gcr.io/a/b:1.0@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
/// assert_eq!(r.repository, "gcr.io/a/b");
/// assert_eq!(r.tag.as_deref(), Some("1.0"));
/// assert!(r.digest.unwrap().starts_with("sha256:0123"));
/// ```
pub fn parse_image_ref(reference: &str) -> ImageRef {
    let s = reference.trim();
    let s = s.split_once("://").map(|(_, rest)| rest).unwrap_or(s);
    let (name, digest) = match s.split_once('@') {
        Some((name, digest)) => (name, normalize_digest(digest)),
        None => (s, None),
    };
    // A tag is after the last ':' that comes after the last '/' (a ':' before it is a registry port).
    let last_slash = name.rfind('/').map(|i| i + 1).unwrap_or(0);
    let (repository, tag) = match name[last_slash..].rfind(':') {
        Some(i) => (&name[..last_slash + i], Some(name[last_slash + i + 1..].to_string())),
        None => (name, None),
    };
    ImageRef { repository: repository.to_string(), tag: tag.filter(|t| !t.is_empty()), digest }
}

/// Accepts `sha256:…`, `repo@sha256:…` or a bare 64-hex string and returns the normalized digest.
pub fn digest_from_ref(reference: &str) -> Option<String> {
    normalize_digest(reference).or_else(|| parse_image_ref(reference).digest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repository_keys_agree_across_spellings() {
        let spellings = [
            "https://github.com/joostvdg/ingress-dns-export-controller.git",
            "https://GITHUB.com/joostvdg/ingress-dns-export-controller",
            "http://github.com/joostvdg/ingress-dns-export-controller/",
            "git@github.com:joostvdg/ingress-dns-export-controller.git",
            "ssh://git@github.com/joostvdg/ingress-dns-export-controller.git",
            "https://user:token@github.com:443/joostvdg/ingress-dns-export-controller.git",
        ];
        for s in spellings {
            assert_eq!(repository_key(s), "github.com/joostvdg/ingress-dns-export-controller", "{s}");
        }
    }

    #[test]
    fn image_refs_with_ports_tags_and_digests() {
        let d = "sha256:05d3fa6f6e9c5b2d8f34b2a6ef8dbe3a36b9c0c9e0c8c6d2b93bfd2d7a1e6f11";
        let r = parse_image_ref(&format!("localhost:5000/app:v1@{d}"));
        assert_eq!(
            r,
            ImageRef { repository: "localhost:5000/app".into(), tag: Some("v1".into()), digest: Some(d.into()) }
        );
        let r = parse_image_ref("localhost:5000/app");
        assert_eq!(r.repository, "localhost:5000/app");
        assert_eq!(r.tag, None);
        assert_eq!(digest_from_ref(d), Some(d.to_string()));
        assert_eq!(digest_from_ref(&d.to_uppercase().replace("SHA256", "sha256")), Some(d.to_string()));
        assert_eq!(digest_from_ref("app:latest"), None);
        assert!(!is_digest("sha256:xyz"));
    }
}
